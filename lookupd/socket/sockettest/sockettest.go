// Package sockettest starts a socket.Server on a Unix socket in a test's
// temporary directory and talks to it byte for byte, for the tests of the
// socket protocol and of the handlers behind it, and raises the open-file
// limit for tests that hold thousands of connections.
package sockettest

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// Start serves s on a fresh socket and returns its path. t.Cleanup shuts
// the server down and fails the test unless Serve returned
// socket.ErrServerClosed.
func Start(t testing.TB, s *socket.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.sock")
	ln, err := socket.ListenUnix(path, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, socket.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return path
}

// Raw writes b to the socket at path, half-closes if asked (as Exim
// does), and reads the whole answer, within 10 seconds.
func Raw(t testing.TB, path string, b []byte, halfClose bool) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		c.(*net.UnixConn).CloseWrite()
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return string(out)
}

// RaiseNoFile makes sure RLIMIT_NOFILE allows n open files, for tests that
// hold thousands of connections with both ends in the test process: it
// raises the soft limit (Go raises it to the hard one at start-up already)
// and, as root, the hard limit, until the test ends.
func RaiseNoFile(tb testing.TB, n uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	old := lim
	lim.Cur = n
	lim.Max = max(lim.Max, n) // only root may raise it
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raise RLIMIT_NOFILE to %d (now %d, hard %d): %v", n, old.Cur, old.Max, err)
	}
	tb.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}
