package socket_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// abuse is the flood of issue "Reliability, round 2" at a server: idle
// connections that never write, opened first, then, until stopped, each
// from a goroutine of its own as fast as it goes: 10 MiB requests, NUL
// bytes, and stalled half lines that are kept open (so the table stays
// full and the oldest keep being pushed out).
type abuse struct {
	every time.Duration
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	held  []net.Conn
}

// every is the least time between two connections of one abuser; 0 is as
// fast as it goes.
func startAbuse(tb testing.TB, path string, idle int, every time.Duration) *abuse {
	tb.Helper()
	a := &abuse{stop: make(chan struct{}), every: every}
	dial := func() net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			return nil
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		return c
	}
	// The idle ones come at the abusers' pace too: 2,000 within
	// minWait would find no connection old enough to evict, and be refused.
	for range idle {
		a.next()
		if c := dial(); c != nil {
			a.held = append(a.held, c)
		}
	}
	a.held = a.held[:len(a.held):len(a.held)]
	big := bytes.Repeat([]byte("a"), 10<<20)
	a.wg.Go(func() { // 10 MiB requests
		for a.next() {
			if c := dial(); c != nil {
				c.Write(big)
				c.Close()
			}
		}
	})
	a.wg.Go(func() { // NUL bytes
		for a.next() {
			if c := dial(); c != nil {
				c.Write([]byte("exa\x00mple\x00\x00\n"))
				io.Copy(io.Discard, c)
				c.Close()
			}
		}
	})
	a.wg.Go(func() { // stalled half lines, kept open
		for a.next() {
			if c := dial(); c != nil {
				c.Write([]byte("weak.exa"))
				a.hold(c, 2*idle)
			}
		}
	})
	tb.Cleanup(a.close)
	return a
}

// hold keeps c open, closing the oldest held beyond max: the test's own
// descriptors stay bounded.
func (a *abuse) hold(c net.Conn, max int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.held = append(a.held, c)
	if len(a.held) > max {
		a.held[0].Close()
		a.held = a.held[1:]
	}
}

// next waits for an abuser's next turn and reports whether to go on.
func (a *abuse) next() bool {
	if a.every > 0 {
		t := time.NewTimer(a.every)
		defer t.Stop()
		select {
		case <-a.stop:
			return false
		case <-t.C:
			return true
		}
	}
	select {
	case <-a.stop:
		return false
	default:
		return true
	}
}

func (a *abuse) close() {
	select {
	case <-a.stop:
		return
	default:
	}
	close(a.stop)
	a.wg.Wait()
	for _, c := range a.held {
		c.Close()
	}
}

// valid sends one valid request as Exim's ${readsocket} does: a blocking
// connect (which, unlike Go's non-blocking one, waits while the listen
// backlog is full instead of failing with EAGAIN), the request, a
// half-close, then it reads the answer to the close.
func valid(path, domain string) (string, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	tv := syscall.NsecToTimeval(int64(10 * time.Second))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return "", err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return "", fmt.Errorf("connect: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, domain); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

// eximEnv names the socket when the test binary runs as eximClient.
const eximEnv = "SOCKETTEST_EXIM_CLIENT"

func TestMain(m *testing.M) {
	if path := os.Getenv(eximEnv); path != "" {
		os.Exit(eximClientMain(path))
	}
	os.Exit(m.Run())
}

// eximClientMain is the child process of eximClient: for each domain on
// stdin it sends the request and prints the answer, the time from connect
// to the answer's end in nanoseconds, and the error, tab-separated.
func eximClientMain(path string) int {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		start := time.Now()
		got, err := valid(path, sc.Text())
		e := ""
		if err != nil {
			e = err.Error()
		}
		fmt.Printf("%s\t%d\t%s\n", got, time.Since(start), e)
	}
	return 0
}

// eximClient is Exim in a process of its own, as it is in production: a
// client in the server's process would share its Go scheduler with the
// flood, and be held between connect and write longer than Exim ever is.
type eximClient struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func startEximClient(tb testing.TB, path string) *eximClient {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), eximEnv+"="+path)
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close(); cmd.Wait() })
	return &eximClient{in: in, out: bufio.NewScanner(out)}
}

// query asks for domain and returns the answer and how long it took.
func (e *eximClient) query(domain string) (string, time.Duration, error) {
	if _, err := fmt.Fprintln(e.in, domain); err != nil {
		return "", 0, err
	}
	if !e.out.Scan() {
		return "", 0, fmt.Errorf("exim client ended: %v", e.out.Err())
	}
	f := strings.SplitN(e.out.Text(), "\t", 3)
	if len(f) != 3 {
		return "", 0, fmt.Errorf("exim client said %q", e.out.Text())
	}
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	if f[2] != "" {
		return f[0], time.Duration(ns), errors.New(f[2])
	}
	return f[0], time.Duration(ns), nil
}

// TestServerCapEvictsIdle: with the connection table full of idle
// connections (2,000 against a cap of 1,000) and 10 MiB requests, NUL
// bytes and stalled half lines arriving all the while, every valid request
// is answered, and right; the idle ones are evicted, none refused.
func TestServerCapEvictsIdle(t *testing.T) {
	sockettest.RaiseNoFile(t, 16384)
	s := &socket.Server{Handler: &echoHandler{}, MaxConns: 1000, ReadTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}
	path := startServer(t, s)
	a := startAbuse(t, path, 2000, abusePace)
	exim := startEximClient(t, path)
	var worst time.Duration
	for i := range 300 {
		want := ""
		domain := "good" + strconv.Itoa(i) + ".example"
		if i%2 == 0 {
			want, domain = "tlsexport", "weak"+strconv.Itoa(i)+".example"
		}
		got, took, err := exim.query(domain)
		worst = max(worst, took)
		if err != nil || got != want {
			t.Fatalf("valid request %d (%s) under abuse: %q, %v; want %q (stats %+v)", i, domain, got, err, want, s.Stats())
		}
	}
	a.close()
	st := s.Stats()
	t.Logf("figure: 300 valid requests under abuse, slowest %v; %+v", worst.Round(time.Millisecond), st)
	if st.Evicted < 1000 {
		t.Errorf("evicted %d, want >= 1000 (2,000 idle connections against a cap of 1,000)", st.Evicted)
	}
	if st.Refused != 0 {
		t.Errorf("refused %d, want 0: no connection had a complete request waiting", st.Refused)
	}
}

// TestServerCapKeepsBusy: at the cap, connections with a complete request
// are never evicted; the oldest idle one is.
func TestServerCapKeepsBusy(t *testing.T) {
	defer socket.SetMinWait(0)() // TestServerCapMinWait has the wait
	h := &echoHandler{block: make(chan struct{})}
	s := &socket.Server{Handler: h, MaxConns: 3, ReadTimeout: time.Minute}
	path := startServer(t, s)
	dial := func() net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	busy := dial()
	busy.Write([]byte("weak.busy\n"))
	lab.WaitFor(t, "the busy request to reach the handler", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.reqs) == 1
	})
	older, newer := dial(), dial()
	lab.WaitFor(t, "three connections accepted", func() bool { return s.Stats().Accepted == 3 })
	// The fourth evicts the oldest idle one, not the busy one.
	fourth := dial()
	fourth.Write([]byte("weak.fourth\n"))
	if out, err := io.ReadAll(older); len(out) != 0 || err != nil {
		t.Errorf("oldest idle connection: %q, %v; want closed without an answer", out, err)
	}
	lab.WaitFor(t, "the fourth request to reach the handler", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.reqs) == 2
	})
	// Two busy and one idle: a fifth evicts the idle one; a sixth finds
	// only busy connections and is refused.
	fifth := dial()
	fifth.Write([]byte("weak.fifth\n"))
	if out, _ := io.ReadAll(newer); len(out) != 0 {
		t.Errorf("second idle connection answered %q", out)
	}
	lab.WaitFor(t, "the fifth request to reach the handler", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.reqs) == 3
	})
	sixth := dial()
	sixth.Write([]byte("weak.sixth\n"))
	if out, _ := io.ReadAll(sixth); len(out) != 0 {
		t.Errorf("connection over a cap of busy ones answered %q", out)
	}
	close(h.block)
	for _, c := range []net.Conn{busy, fourth, fifth} {
		if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
			t.Errorf("busy connection answered %q, want tlsexport", out)
		}
	}
	if st := s.Stats(); st.Evicted != 2 || st.Refused != 1 {
		t.Errorf("stats %+v, want 2 evicted, 1 refused", st)
	}
}

// abusePace is the least time between two connections of one abuser in
// the test: three abusers then open up to 6,000 connections a second.
const abusePace = 500 * time.Microsecond

// TestServerCapMinWait: a connection read from for less than minWait is
// not evicted (its client may be about to write): the new one is refused;
// once it has waited, a new one evicts it. It runs in a synctest bubble,
// where the clock moves only when every goroutine waits, so the boundary
// is exact (refused at minWait less a nanosecond, evicted at minWait),
// over an in-memory listener: the bubble's clock would never move while
// the server waits in a real socket's Accept.
func TestServerCapMinWait(t *testing.T) {
	defer socket.SetMinWait(time.Second)()
	synctest.Test(t, func(t *testing.T) {
		s := &socket.Server{Handler: &echoHandler{}, MaxConns: 1, ReadTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}
		ln := sockettest.NewPipeListener()
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		idle, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		synctest.Wait() // accepted, and its worker reads it
		if got := pipeQuery(t, ln, "weak.early"); got != "" {
			t.Errorf("new connection at once: answered %q, want refused", got)
		}
		time.Sleep(time.Second - time.Nanosecond)
		if got := pipeQuery(t, ln, "weak.nearly"); got != "" {
			t.Errorf("new connection a nanosecond before minWait: answered %q, want refused", got)
		}
		time.Sleep(time.Nanosecond)
		if got := pipeQuery(t, ln, "weak.late"); got != "tlsexport" {
			t.Errorf("new connection at minWait: answered %q, want tlsexport (the idle one evicted)", got)
		}
		if out, err := io.ReadAll(idle); len(out) != 0 || err != nil {
			t.Errorf("idle connection: %q, %v; want closed", out, err)
		}
		if st := s.Stats(); st.Evicted != 1 || st.Refused != 2 {
			t.Errorf("stats %+v, want 2 refused (at 0 and 1s-1ns), 1 evicted (at 1s)", st)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, socket.ErrServerClosed) {
			t.Errorf("Serve: %v, want ErrServerClosed", err)
		}
	})
}

// pipeQuery sends domain over a new connection to ln and reads the whole
// answer: "" when the server closed the connection unanswered.
func pipeQuery(t *testing.T, ln *sockettest.PipeListener, domain string) string {
	t.Helper()
	c, err := ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, domain+"\n"); err != nil {
		return "" // refused: closed before reading
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// BenchmarkAnswerUnderAbuse measures what a valid request (from Exim in a
// process of its own) waits for while 2,000 idle connections (cap 1,000),
// 10 MiB requests, NUL bytes and stalled half lines hit the server, each
// abuser paced as in the test, or as fast as it goes: the latency
// percentiles, the valid requests not answered right (lost), and the
// process's peak RSS (server and abusers: one process). BENCHMARKS.md has
// the figures.
func BenchmarkAnswerUnderAbuse(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{{"paced", abusePace}, {"unpaced", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			sockettest.RaiseNoFile(b, 16384)
			s := &socket.Server{Handler: &echoHandler{}, MaxConns: 1000, ReadTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)}
			path := startServer(b, s)
			a := startAbuse(b, path, 2000, bc.every)
			exim := startEximClient(b, path)
			var lat []time.Duration
			lost := 0
			for i := 0; b.Loop(); i++ {
				got, took, err := exim.query("weak" + strconv.Itoa(i) + ".example")
				lat = append(lat, took)
				if err != nil || got != "tlsexport" {
					lost++
				}
			}
			a.close()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)]) / 1e6
			}
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
			b.ReportMetric(float64(lost), "lost")
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-rss-MiB")
			st := s.Stats()
			b.ReportMetric(float64(st.Evicted), "evicted")
			b.ReportMetric(float64(st.Refused), "refused")
		})
	}
}

// peakRSS is VmHWM of this process, in bytes.
func peakRSS(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}
