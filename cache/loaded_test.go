package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestLoadedTTLAndOrigin: a value loaded with its own TTL lives that long,
// not Options.TTL; its origin is kept with the entry; a value loaded
// without one gets Options.TTL and origin 0; SetLoaded stores the same way.
func TestLoadedTTLAndOrigin(t *testing.T) {
	const peer Origin = 3
	clk := newClock()
	c, err := New(Options[string, string]{
		TTL: func(string) time.Duration { return time.Hour },
		Load: func(_ context.Context, k string) (Loaded[string], error) {
			if k == "peer" {
				return Loaded[string]{Value: "p", TTL: time.Minute, Origin: peer}, nil
			}
			return Loaded[string]{Value: "own"}, nil
		},
		Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"peer", "own"} {
		if _, _, err := c.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c.SetLoaded("side", Loaded[string]{Value: "s", TTL: 2 * time.Minute, Origin: peer})
	if o, ok := c.PeekOrigin("peer"); !ok || o != peer {
		t.Fatalf("PeekOrigin(peer) = %v, %v; want %v", o, ok, peer)
	}
	if o, ok := c.PeekOrigin("own"); !ok || o != 0 {
		t.Fatalf("PeekOrigin(own) = %v, %v; want 0", o, ok)
	}
	clk.Advance(90 * time.Second)
	want := map[string]State{"peer": Stale, "side": Fresh, "own": Fresh}
	for k, st := range want {
		if _, _, got, _ := c.Peek(k); got != st {
			t.Errorf("after 90s %s is %v, want %v", k, got, st)
		}
	}
	clk.Advance(time.Minute)
	if _, _, got, _ := c.Peek("side"); got != Stale {
		t.Errorf("after 150s side is %v, want stale", got)
	}
	if _, _, got, _ := c.Peek("own"); got != Fresh {
		t.Errorf("after 150s own is %v, want fresh", got)
	}
}

// TestRefreshWith: the refresh runs the caller's loader, not Options.Load,
// and what it loads replaces the entry; a refresh while that load runs
// joins it.
func TestRefreshWith(t *testing.T) {
	l := &loader{}
	c := newCache(t, l, newClock(), time.Hour)
	c.Set("k", "old")
	gate := make(chan struct{})
	p, started := c.RefreshWith("k", func(ctx context.Context, k string) (Loaded[string], error) {
		<-gate
		return Loaded[string]{Value: "newer than old", Origin: 7}, nil
	})
	if !started {
		t.Fatal("RefreshWith started no load")
	}
	if q, started := c.Refresh("k"); started || q.f != p.f {
		t.Fatalf("Refresh during RefreshWith = %v, %v; want the running load", q, started)
	}
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := p.Wait(ctx); v != "newer than old" || err != nil {
		t.Fatalf("RefreshWith loaded %q, %v", v, err)
	}
	if n := l.calls.Load(); n != 0 {
		t.Fatalf("Options.Load called %d times, want 0", n)
	}
	if o, _ := c.PeekOrigin("k"); o != 7 {
		t.Fatalf("origin %v, want 7", o)
	}
}

// TestUnbounded: with Concurrency Unbounded every load in flight runs at
// once (the loader bounds itself), up to MaxPending; beyond it, ErrBusy.
func TestUnbounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &loader{gate: make(chan struct{})}
		c := newCache(t, l, nil, time.Hour, func(o *Options[string, string]) {
			o.Concurrency, o.MaxPending = Unbounded, 40
		})
		for i := range 40 {
			if _, _, p, err := c.Lookup(fmt.Sprint(i)); p == nil || err != nil {
				t.Fatalf("Lookup %d: %v, %v", i, p, err)
			}
		}
		synctest.Wait() // every load waits at the gate
		if n := l.running.Load(); n != 40 {
			t.Fatalf("%d loads running, want 40 at once", n)
		}
		if _, _, _, err := c.Lookup("one more"); !errors.Is(err, ErrBusy) {
			t.Fatalf("Lookup beyond MaxPending: %v, want ErrBusy", err)
		}
		close(l.gate)
		c.Wait()
		if m := l.maxRun.Load(); m != 40 {
			t.Fatalf("at most %d loads ran at once, want 40 (more than DefaultConcurrency %d)", m, DefaultConcurrency)
		}
	})
}
