package socket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// echoHandler answers a domain with a word derived from it, and the admin
// verbs with a line; block, when set, holds every answer until closed.
type echoHandler struct {
	block chan struct{}
	mu    sync.Mutex
	reqs  []socket.Request
}

func (h *echoHandler) Handle(ctx context.Context, req socket.Request) []byte {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
			return nil
		}
	}
	if req.Verb == socket.VerbDomain {
		if strings.HasPrefix(req.Arg, "weak") {
			return []byte("tlsexport")
		}
		return nil
	}
	return []byte(req.Verb + " " + req.Arg + "\n")
}

func startServer(t testing.TB, s *socket.Server) string { return sockettest.Start(t, s) }

func rawQuery(t *testing.T, path string, b []byte, halfClose bool) string {
	return sockettest.Raw(t, path, b, halfClose)
}

func TestServerEximForms(t *testing.T) {
	h := &echoHandler{}
	path := startServer(t, &socket.Server{Handler: h})
	for _, tc := range []struct {
		req       string
		halfClose bool
		want      string
	}{
		{"weak.example\n", true, "tlsexport"},    // Exim with a newline in the request
		{"weak.example", true, "tlsexport"},      // Exim's usual form
		{"weak.example\r\n", false, "tlsexport"}, // a person with a CRLF client
		{"good.example", true, ""},
		{"explain weak.example\n", true, "explain weak.example\n"},
		{"stats", true, "stats \n"},
		{"exa\x00mple\n", true, ""},
		{strings.Repeat("a", socket.MaxRequest+1), true, ""},
		// MaxRequest bytes are allowed with either line ending, or none.
		{"weak" + strings.Repeat("a", socket.MaxRequest-4) + "\r\n", false, "tlsexport"},
		{"weak" + strings.Repeat("a", socket.MaxRequest-4) + "\n", false, "tlsexport"},
		{"weak" + strings.Repeat("a", socket.MaxRequest-4), true, "tlsexport"},
		{"weak" + strings.Repeat("a", socket.MaxRequest-3) + "\n", false, ""},
		{"", true, ""},
	} {
		if got := rawQuery(t, path, []byte(tc.req), tc.halfClose); got != tc.want {
			t.Errorf("request %q: answer %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestServerBoundsRequests(t *testing.T) {
	h := &echoHandler{}
	s := &socket.Server{Handler: h, ReadTimeout: 200 * time.Millisecond}
	path := startServer(t, s)

	// 10 MB without a newline: the server reads at most a line and closes.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	big := make([]byte, 10<<20)
	for i := range big {
		big[i] = 'a'
	}
	_, werr := c.Write(big)
	if werr == nil {
		t.Error("a 10 MB request was read whole; want the server to stop reading")
	}
	c.Close()

	// A client that connects and never writes is closed after ReadTimeout.
	c, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if out, err := io.ReadAll(c); err != nil || len(out) != 0 {
		t.Errorf("silent client: got %q, %v; want a close with no answer", out, err)
	}
	c.Close()

	// Half a line, then a stall: no answer, closed.
	if got := rawQuery(t, path, []byte("weak.exa"), false); got != "" {
		t.Errorf("stalled half line answered %q", got)
	}
	// The next valid request is answered.
	if got := rawQuery(t, path, []byte("weak.example"), true); got != "tlsexport" {
		t.Errorf("after abuse: answer %q, want tlsexport", got)
	}
	if st := s.Stats(); st.Malformed < 3 {
		t.Errorf("malformed = %d, want >= 3", st.Malformed)
	}
}

func TestServerConnCap(t *testing.T) {
	h := &echoHandler{block: make(chan struct{})}
	s := &socket.Server{Handler: h, MaxConns: 2}
	path := startServer(t, s)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("weak.example\n"))
		held = append(held, c)
	}
	// Wait until both are inside the handler.
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.mu.Lock()
		n := len(h.reqs)
		h.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler saw %d requests, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The write may fail or not, depending on how fast the close comes.
	if c, err := net.Dial("unix", path); err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("weak.example"))
		if out, _ := io.ReadAll(c); len(out) != 0 {
			t.Errorf("connection over the cap answered %q, want a close", out)
		}
		c.Close()
	}
	if st := s.Stats(); st.Refused != 1 {
		t.Errorf("refused = %d, want 1", st.Refused)
	}
	close(h.block)
	for _, c := range held {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
			t.Errorf("held connection answered %q, want tlsexport", out)
		}
		c.Close()
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.sock")
	ln, err := socket.ListenUnix(path, 0o640, "0")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("mode %v, want socket 0640", fi.Mode())
	}
	// A live socket is not taken over.
	if _, err := socket.ListenUnix(path, 0o660, ""); !errors.Is(err, socket.ErrSocketInUse) {
		t.Errorf("second listen: %v, want ErrSocketInUse", err)
	}
	// A stale socket (its listener gone, the file left) is replaced.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket vanished: %v", err)
	}
	ln2, err := socket.ListenUnix(path, 0o660, "")
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln2.Close()
	// Any other file is left alone.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := socket.ListenUnix(file, 0o660, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("regular file was changed")
	}
	if _, err := socket.ListenUnix(filepath.Join(dir, "x.sock"), 0o660, "no-such-group-xyz"); err == nil {
		t.Error("unknown group accepted")
	}
}

// observingHandler is an echoHandler told of malformed requests.
type observingHandler struct {
	echoHandler
	mu        sync.Mutex
	malformed []string
}

func (h *observingHandler) Malformed(verb string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.malformed = append(h.malformed, verb)
}

// TestServerMalformedReport: a report with a bad address gets the empty
// answer, counts as a malformed request and is passed to the handler's
// Malformed with its verb; other malformed requests are not, and a good
// report reaches Handle.
func TestServerMalformedReport(t *testing.T) {
	h := &observingHandler{}
	s := &socket.Server{Handler: h}
	path := startServer(t, s)
	for req, want := range map[string]string{
		"report mx.example.org TLS session: x": "",
		"report 192.0.2.1 TLS session: x":      "report 192.0.2.1\n",
		"frobnicate a b":                       "",
		"report":                               "",
	} {
		if got := rawQuery(t, path, []byte(req), true); got != want {
			t.Errorf("request %q: answer %q, want %q", req, got, want)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.malformed) != 2 || h.malformed[0] != socket.VerbReport || h.malformed[1] != socket.VerbReport {
		t.Errorf("Malformed calls %q, want two %q", h.malformed, socket.VerbReport)
	}
	if n := s.Stats().Malformed; n != 3 {
		t.Errorf("malformed requests counted %d, want 3", n)
	}
	h.echoHandler.mu.Lock()
	defer h.echoHandler.mu.Unlock()
	if len(h.reqs) != 1 || h.reqs[0].Text != "TLS session: x" {
		t.Errorf("Handle saw %+v, want the one good report", h.reqs)
	}
}

// lockedBuffer is a log destination the server's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServerAdminVerbErrors: an admin verb with bad arguments gets an error
// line (a person or tlsprobe asked); a malformed domain request still gets
// the empty answer Exim needs.
func TestServerAdminVerbErrors(t *testing.T) {
	path := startServer(t, &socket.Server{Handler: &echoHandler{}, Logger: slog.New(slog.DiscardHandler)})
	for req, want := range map[string]string{
		"explain":        "error: bad request: explain takes one argument\n",
		"flush":          "error: bad request: flush takes one argument\n",
		"flush a b":      "error: bad request: flush takes one argument\n",
		"stats now":      "error: bad request: stats takes no argument\n",
		"list ok":        "error: bad request: list takes smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing\n",
		"frobnicate a b": "",
		"":               "",
	} {
		got := rawQuery(t, path, []byte(req+"\n"), true)
		t.Logf("%q -> %q", req, got)
		if got != want {
			t.Errorf("request %q: answer %q, want %q", req, got, want)
		}
	}
}

// TestListenInUseLogsNothing: a second ListenUnix on a live socket (a second
// daemon starting) connects and closes without a request; the first
// server neither logs that nor counts it as malformed.
func TestListenInUseLogsNothing(t *testing.T) {
	var log lockedBuffer
	s := &socket.Server{Handler: &echoHandler{}, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	path := filepath.Join(t.TempDir(), "t.sock")
	ln, err := socket.ListenUnix(path, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	if _, err := socket.ListenUnix(path, 0o660, ""); !errors.Is(err, socket.ErrSocketInUse) {
		t.Fatalf("second ListenUnix: %v, want ErrSocketInUse", err)
	}
	// Shutdown waits for the connection of the check to be served.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, socket.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if got := log.String(); got != "" || s.Stats().Malformed != 0 {
		t.Errorf("after a liveness check: log %q, malformed %d; want nothing", got, s.Stats().Malformed)
	}
}

// TestCheckPath: what -check says about a socket path.
func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "x.sock"), ""},
		{"/missing/dir/x.sock", "directory does not exist: /missing/dir"},
		{file, file + " is a regular file, not a socket; remove it or choose another path"},
		{dir, dir + " is a directory, not a socket; remove it or choose another path"},
		{filepath.Join(file, "x.sock"), file + " is a regular file, not a directory"},
	} {
		err := socket.CheckPath(tc.path)
		t.Logf("%s: %v", tc.path, err)
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("CheckPath(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
