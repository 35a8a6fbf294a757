package socket_test

import (
	"context"
	"errors"
	"io"
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

func startServer(t *testing.T, s *socket.Server) string { return sockettest.Start(t, s) }

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

func TestServerShutdownDrains(t *testing.T) {
	h := &echoHandler{block: make(chan struct{})}
	s := &socket.Server{Handler: h}
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := socket.ListenUnix(path, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("weak.example\n"))
	for {
		h.mu.Lock()
		n := len(h.reqs)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there during shutdown: %v", err)
	}
	close(h.block)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
		t.Errorf("in-flight request answered %q, want tlsexport", out)
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
