package deadline

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// TestGuardCancel: a read blocked on a guarded conn returns as soon as the
// context is cancelled, with a deadline error, and stop reports it.
func TestGuardCancel(t *testing.T) {
	c, _ := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := Guard(ctx, c, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after cancel: %v, want a deadline error", err)
	}
	if stop() {
		t.Error("stop reports no cancellation")
	}
}

// TestGuardDeadline: the context's deadline bounds a read; without one,
// the fallback does.
func TestGuardDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		fallback time.Duration
	}{{"ctx", 50 * time.Millisecond, time.Hour}, {"fallback", 0, 50 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := pipe(t)
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			stop, err := Guard(ctx, c, tc.fallback)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read: %v, want a deadline error", err)
			}
		})
	}
}

// TestGuardDone: a context already done is an error.
func TestGuardDone(t *testing.T) {
	c, _ := pipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Guard(ctx, c, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Guard with a done ctx: %v", err)
	}
}
