package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// nameServers are n backends on 127.0.0.1: each reads what the client
// sends until its half-close, then answers "bI:" and those bytes, and
// closes. Their goroutines are joined by t.Cleanup.
func nameServers(t *testing.T, n int) []string {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after the listeners' Close below (cleanups run last in, first out)
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conns sync.WaitGroup
			defer conns.Wait()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns.Add(1)
				go func() {
					defer conns.Done()
					defer c.Close()
					c.SetDeadline(time.Now().Add(WaitBound))
					b, err := io.ReadAll(c) // until the proxy passes the client's FIN on
					if err == nil {
						fmt.Fprintf(c, "b%d:%s", i, b)
					}
				}()
			}
		}()
		t.Cleanup(func() { ln.Close() })
	}
	return addrs
}

// startProxy runs a Proxy on 127.0.0.1 in front of backends, closed by
// t.Cleanup (which fails the test if the accept loop ended early).
func startProxy(t *testing.T, o ProxyOptions) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProxy(context.Background(), ln, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// ask sends msg through the proxy, half-closes, and returns the answer
// (the backend closes after it).
func ask(t *testing.T, addr net.Addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), WaitBound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(WaitBound))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", msg, err)
	}
	return string(b)
}

// TestProxyRoundRobin: every connection forwarded whole (the client's
// half-close passes on: the backend answers only after it), to the
// backends in turn.
func TestProxyRoundRobin(t *testing.T) {
	p := startProxy(t, ProxyOptions{Backends: nameServers(t, 3)})
	big := strings.Repeat("x", 200<<10) // more than one copy buffer
	for i := range 7 {
		msg := fmt.Sprintf("hello %d", i)
		if i == 3 {
			msg = big
		}
		if got, want := ask(t, p.Addr(), msg), fmt.Sprintf("b%d:%s", i%3, msg); got != want {
			t.Fatalf("connection %d: got %.40q (%d bytes), want %.40q (%d bytes)", i, got, len(got), want, len(want))
		}
	}
	if got := p.Counts(); !slices.Equal(got, []int{3, 2, 2}) {
		t.Errorf("Counts = %v, want [3 2 2]", got)
	}
}

// TestProxyRandom: a seeded Random proxy sends connections where a
// generator with the same seed says, and so reaches every backend.
func TestProxyRandom(t *testing.T) {
	const n, seed = 40, 7
	p := startProxy(t, ProxyOptions{Backends: nameServers(t, 2), Balance: Random, Seed: seed})
	ref := rand.New(rand.NewPCG(seed, seed))
	want := make([]int, 2)
	for i := range n {
		b := ref.IntN(2)
		want[b]++
		if got := ask(t, p.Addr(), "m"); got != fmt.Sprintf("b%d:m", b) {
			t.Fatalf("connection %d: got %q, want backend %d", i, got, b)
		}
	}
	got := p.Counts()
	if !slices.Equal(got, want) || got[0] == 0 || got[1] == 0 {
		t.Errorf("Counts = %v, want %v (both backends used)", got, want)
	}
	t.Logf("random, seed %d: %v of %d connections", seed, got, n)
}

// TestProxyClose: Close ends forwarded connections still open (the client
// reads EOF) and stops accepting; a dead backend is counted as failed.
func TestProxyClose(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there any more: the dial is refused
	backends := append(nameServers(t, 1), deadAddr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProxy(context.Background(), ln, ProxyOptions{Backends: backends})
	if err != nil {
		t.Fatal(err)
	}
	open, err := net.DialTimeout("tcp", p.Addr().String(), WaitBound)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	io.WriteString(open, "pending") // no half-close: the backend waits
	// The second connection goes to the dead backend: closed at once.
	refused, err := net.DialTimeout("tcp", p.Addr().String(), WaitBound)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetDeadline(time.Now().Add(WaitBound))
	if n, err := refused.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("connection to the dead backend: read %d, %v; want EOF", n, err)
	}
	WaitFor(t, "failed dial counted", func() bool { return p.Failed() == 1 })

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	open.SetDeadline(time.Now().Add(WaitBound))
	if _, err := io.ReadAll(open); err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("the open connection after Close: %v, want it closed", err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Errorf("the proxy still accepts after Close")
	}
	if got := p.Counts(); !slices.Equal(got, []int{1, 1}) {
		t.Errorf("Counts = %v, want [1 1]", got)
	}
	if err := p.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// TestProxyContext: the caller's context ending stops the proxy as Close.
func TestProxyContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := StartProxy(ctx, ln, ProxyOptions{Backends: nameServers(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ask(t, p.Addr(), "a"); got != "b0:a" {
		t.Fatalf("got %q", got)
	}
	cancel()
	WaitFor(t, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", p.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if err := p.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}

func TestProxyOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := StartProxy(context.Background(), ln, ProxyOptions{}); err == nil {
		t.Error("StartProxy with no backends: no error")
	}
	if _, err := StartProxy(context.Background(), ln, ProxyOptions{Backends: []string{"127.0.0.1:1"}, Balance: 9}); err == nil {
		t.Error("StartProxy with Balance(9): no error")
	}
}

// isReset: a connection closed with unread data ends in a reset.
func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// TestProxyIdle: a connection silent both ways for longer than Idle is
// ended (the client reads EOF), and the proxy goes on serving.
func TestProxyIdle(t *testing.T) {
	p := startProxy(t, ProxyOptions{Backends: nameServers(t, 1), Idle: 50 * time.Millisecond})
	c, err := net.DialTimeout("tcp", p.Addr().String(), WaitBound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(WaitBound)) // far beyond Idle: the proxy must end it first
	if _, err := io.ReadAll(c); err != nil && !isReset(err) {
		t.Fatalf("the idle connection: %v, want it ended by the proxy", err)
	}
	if got := ask(t, p.Addr(), "after"); got != "b0:after" {
		t.Errorf("after an idle connection: %q", got)
	}
}
