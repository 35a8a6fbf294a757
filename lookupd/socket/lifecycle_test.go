package socket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

func TestServerShutdownDrains(t *testing.T) {
	h := &echoHandler{block: make(chan struct{})}
	s := &socket.Server{Handler: h}
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := socket.ListenUnix(path, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("weak.example\n"))
	lab.WaitFor(t, "the request to reach the handler", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.reqs) == 1
	})
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// The socket goes while the request in flight holds Shutdown: nobody
	// new gets in, and Shutdown has not returned.
	lab.WaitFor(t, "the socket to be removed", func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, os.ErrNotExist)
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(h.block)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, socket.ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
		t.Errorf("in-flight request answered %q, want tlsexport", out)
	}
}

// afterHandler records whether any request reached the handler after
// Shutdown had returned.
type afterHandler struct {
	shutDown atomic.Bool
	late     atomic.Int64
	handled  atomic.Int64
}

func (h *afterHandler) Handle(ctx context.Context, req socket.Request) []byte {
	if h.shutDown.Load() {
		h.late.Add(1)
	}
	h.handled.Add(1)
	return []byte("tlsexport")
}

// TestServerShutdownWhileConnecting: clients keep connecting (to the Unix
// socket and to a TCP listener) while Shutdown runs. Under -race this is
// the race of the connection count against Shutdown's wait; without it, a
// connection accepted during Shutdown must not be served after Shutdown
// returned. Every client gets the right answer or a close without one.
func TestServerShutdownWhileConnecting(t *testing.T) {
	for round := range 10 {
		h := &afterHandler{}
		s := &socket.Server{Handler: h}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.sock", round))
		ln, err := socket.ListenUnix(path, 0o600, "")
		if err != nil {
			t.Fatal(err)
		}
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var serving sync.WaitGroup
		for _, l := range []net.Listener{ln, tl} {
			serving.Go(func() {
				if err := s.Serve(l); !errors.Is(err, socket.ErrServerClosed) {
					t.Errorf("Serve: %v, want ErrServerClosed", err)
				}
			})
		}
		stop := make(chan struct{})
		var clients sync.WaitGroup
		var answered atomic.Int64
		for i := range 8 {
			network, addr := "unix", path
			if i%2 == 1 {
				network, addr = "tcp", tl.Addr().String()
			}
			clients.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.Dial(network, addr)
					if err != nil {
						continue // the listener is gone: keep trying until stopped
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					c.Write([]byte("weak.example\n"))
					out, _ := io.ReadAll(c)
					c.Close()
					switch string(out) {
					case "tlsexport":
						answered.Add(1)
					case "":
					default:
						t.Errorf("answer %q, want tlsexport or nothing", out)
					}
				}
			})
		}
		lab.WaitFor(t, "some answers", func() bool { return answered.Load() >= 20 })
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		h.shutDown.Store(true)
		serving.Wait()
		// Connect attempts go on a little after Shutdown returned: none
		// may reach the handler.
		for range 50 {
			if c, err := net.Dial("tcp", tl.Addr().String()); err == nil {
				c.Close()
			}
		}
		close(stop)
		clients.Wait()
		if n := h.late.Load(); n != 0 {
			t.Fatalf("round %d: %d requests handled after Shutdown returned", round, n)
		}
		if round == 0 {
			t.Logf("figure: round 0: %d handled, %d answered", h.handled.Load(), answered.Load())
		}
	}
}

// stubbornHandler ignores its context: it answers when release is closed,
// as a handler stuck in a call without a deadline would.
type stubbornHandler struct {
	release chan struct{}
	started chan struct{} // one value per request that reached Handle
}

func (h *stubbornHandler) Handle(ctx context.Context, req socket.Request) []byte {
	h.started <- struct{}{}
	<-h.release
	return []byte("tlsexport")
}

// serveStubborn serves a stubbornHandler on a fresh Unix socket and sends
// one request, which holds its worker in the handler when it returns.
func serveStubborn(t *testing.T) (s *socket.Server, h *stubbornHandler, c net.Conn, served chan error) {
	t.Helper()
	h = &stubbornHandler{release: make(chan struct{}), started: make(chan struct{}, 4)}
	s = &socket.Server{Handler: h}
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := socket.ListenUnix(path, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("weak.example\n")); err != nil {
		t.Fatal(err)
	}
	<-h.started
	return s, h, c, served
}

// TestServerShutdownContextEnds: a handler that never looks at its context
// holds a worker; Shutdown with a context that ends returns ctx.Err()
// without waiting for it. Once the handler returns, a second Shutdown
// waits for the worker and returns nil with no worker left.
func TestServerShutdownContextEnds(t *testing.T) {
	s, h, c, served := serveStubborn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a handler in flight and a short context: %v, want %v", err, context.DeadlineExceeded)
	}
	if err := <-served; !errors.Is(err, socket.ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	if n := socket.Workers(s); n != 1 {
		t.Errorf("%d workers after the context ended, want the 1 in the handler", n)
	}
	close(h.release)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if n := socket.Workers(s); n != 0 {
		t.Errorf("%d workers after Shutdown returned nil, want 0", n)
	}
	if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
		t.Errorf("request in flight answered %q, want tlsexport", out)
	}
}

// TestServerShutdownJoinsWorkers: Shutdown waits for the handler in
// flight, then for its worker goroutine to end. The worker is held as it
// ends: Shutdown must still be waiting then, so cancelling its context
// makes it return context.Canceled; once the worker is let go, Shutdown
// returns nil with no worker left.
func TestServerShutdownJoinsWorkers(t *testing.T) {
	entered, hold := make(chan struct{}, 1), make(chan struct{})
	defer socket.SetWorkerEnds(func() { entered <- struct{}{}; <-hold })()
	s, h, c, _ := serveStubborn(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	// Shutdown has begun once the socket is gone; the handler cannot
	// return before release, so Shutdown must still be waiting.
	lab.WaitFor(t, "the socket to be removed", func() bool {
		_, err := os.Stat(c.RemoteAddr().String())
		return errors.Is(err, os.ErrNotExist)
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with the handler still in flight", err)
	default:
	}
	close(h.release)
	if out, _ := io.ReadAll(c); string(out) != "tlsexport" {
		t.Errorf("request in flight answered %q, want tlsexport", out)
	}
	<-entered // the worker has served its connection and is ending
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a worker still ending: %v, want %v (it must wait for the worker)", err, context.Canceled)
	}
	close(hold)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := socket.Workers(s); n != 0 {
		t.Errorf("%d workers after Shutdown returned, want 0", n)
	}
}

// TestServerClose: Close returns with a handler in flight, and cuts both
// the connection it serves and one that has sent nothing yet; the workers
// end once the handler returns, which a later Shutdown waits for.
func TestServerClose(t *testing.T) {
	s, h, c, served := serveStubborn(t)
	idle, err := net.Dial("unix", c.RemoteAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	lab.WaitFor(t, "the idle connection to be tracked", func() bool { return socket.Live(s) == 2 })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-served; !errors.Is(err, socket.ErrServerClosed) {
		t.Errorf("Serve: %v, want ErrServerClosed", err)
	}
	idle.SetDeadline(time.Now().Add(10 * time.Second))
	if out, err := io.ReadAll(idle); err != nil || len(out) != 0 {
		t.Errorf("idle connection after Close: read %q, %v; want a close without an answer", out, err)
	}
	close(h.release)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after Close: %v", err)
	}
	if n := socket.Workers(s); n != 0 {
		t.Errorf("%d workers after Shutdown returned, want 0", n)
	}
	if out, _ := io.ReadAll(c); len(out) != 0 {
		t.Errorf("request in flight at Close answered %q, want nothing", out)
	}
}
