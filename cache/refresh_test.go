package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRefresh: a fresh entry is reloaded at once; the old value is served
// until the new one lands; a second Refresh while the load runs joins it
// (one load); a failed refresh keeps the old value.
func TestRefresh(t *testing.T) {
	l := &loader{gate: make(chan struct{})}
	c := newCache(t, l, newClock(), time.Hour)
	c.Set("k", "old")
	p, started := c.Refresh("k")
	if p == nil || !started {
		t.Fatalf("Refresh of a fresh entry = %v, %v; want a load started", p, started)
	}
	for range 100 {
		if q, started := c.Refresh("k"); q == nil || started || q.f != p.f {
			t.Fatalf("Refresh while one runs = %v, %v; want the running load", q, started)
		}
		if v, st, err := c.Get(context.Background(), "k"); v != "old" || st != Fresh || err != nil {
			t.Fatalf("Get while refreshing = %q, %v, %v; want old, fresh", v, st, err)
		}
	}
	close(l.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v, err := p.Wait(ctx); v != "k#1" || err != nil {
		t.Fatalf("the refresh loaded %q, %v; want k#1", v, err)
	}
	if v, _, st, _ := c.Peek("k"); v != "k#1" || st != Fresh {
		t.Fatalf("after the refresh Peek = %q, %v; want k#1, fresh", v, st)
	}
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
	if s := c.Stats(); s.Loads != 1 || s.InFlight != 0 {
		t.Fatalf("Stats = %+v", s)
	}

	// A refresh of a key not cached loads it too.
	if p, started := c.Refresh("new"); !started {
		t.Fatal("Refresh of a missing key started no load")
	} else if v, err := p.Wait(ctx); v != "new#2" || err != nil {
		t.Fatalf("the refresh of a missing key loaded %q, %v", v, err)
	}

	// A failed refresh leaves the entry as it was.
	l.err = errors.New("server down")
	p, _ = c.Refresh("k")
	if _, err := p.Wait(ctx); err == nil {
		t.Fatal("the failing refresh succeeded")
	}
	if v, _, st, _ := c.Peek("k"); v != "k#1" || st != Fresh {
		t.Fatalf("after a failed refresh Peek = %q, %v; want k#1, fresh", v, st)
	}
}

// TestRefreshBounded: at MaxPending loads in flight Refresh starts none;
// Close cancels a refresh like any load, and Wait waits for it.
func TestRefreshBounded(t *testing.T) {
	l := &loader{gate: make(chan struct{})} // never opened: only Close ends a load
	c := newCache(t, l, nil, time.Hour, func(o *Options[string, string]) { o.MaxPending = 2 })
	for _, k := range []string{"a", "b"} {
		if _, started := c.Refresh(k); !started {
			t.Fatalf("Refresh(%s) started no load", k)
		}
	}
	if p, started := c.Refresh("c"); p != nil || started {
		t.Fatalf("Refresh beyond MaxPending = %v, %v; want nil, false", p, started)
	}
	if s := c.Stats(); s.Busy != 1 || s.InFlight != 2 {
		t.Fatalf("Stats = %+v; want busy 1, in flight 2", s)
	}
	c.Close()
	c.Wait()
	if s := c.Stats(); s.LoadErrors != 2 || s.InFlight != 0 {
		t.Fatalf("after Close: Stats = %+v", s)
	}
}
