package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLookupCountsOnce: a Lookup then a Wait is one lookup in Stats.
func TestLookupCountsOnce(t *testing.T) {
	l := &loader{}
	c := newCache(t, l, nil, time.Hour)
	v, state, p, err := c.Lookup("a")
	if err != nil || p == nil || state != Miss || v != "" {
		t.Fatalf("Lookup = %q, %v, %v, %v; want a Pending", v, state, p, err)
	}
	if v, err = p.Wait(context.Background()); err != nil || v != "a#1" {
		t.Fatalf("Wait = %q, %v", v, err)
	}
	if v, state, p, err = c.Lookup("a"); err != nil || p != nil || state != Fresh || v != "a#1" {
		t.Fatalf("second Lookup = %q, %v, %v, %v", v, state, p, err)
	}
	st := c.Stats()
	if st.Misses != 1 || st.Hits != 1 || st.Loads != 1 || st.Pending != 0 {
		t.Errorf("stats %+v, want 1 miss, 1 hit, 1 load", st)
	}
}

// TestMaxPending: a flood of new keys queues at most MaxPending loads; the
// rest get ErrBusy at once, and stale entries are still served.
func TestMaxPending(t *testing.T) {
	clk := newClock()
	l := &loader{gate: make(chan struct{})}
	c := newCache(t, l, clk, time.Minute, func(o *Options[string, string]) {
		o.Concurrency = 1
		o.MaxPending = 3
	})
	c.Set("old", "v0")
	clk.Advance(time.Hour) // "old" is stale now
	var pend []*Pending[string, string]
	busy := 0
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		_, _, p, err := c.Lookup(k)
		switch {
		case errors.Is(err, ErrBusy) && p == nil:
			busy++
		case err == nil && p != nil:
			pend = append(pend, p)
		default:
			t.Fatalf("Lookup(%s) = %v, %v", k, p, err)
		}
	}
	if len(pend) != 3 || busy != 2 {
		t.Errorf("%d loads started, %d busy; want 3 and 2", len(pend), busy)
	}
	if v, state, err := func() (string, State, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Get(ctx, "old")
	}(); err != nil || state != Stale || v != "v0" {
		t.Errorf("stale entry with the queue full: %q, %v, %v", v, state, err)
	}
	if st := c.Stats(); st.Busy != 2 || st.InFlight != 3 {
		t.Errorf("stats %+v, want 2 busy and 3 in flight", st)
	}
	close(l.gate)
	for _, p := range pend {
		if _, err := p.Wait(context.Background()); err != nil {
			t.Error(err)
		}
	}
	// The queue drained: new keys load again.
	if v, _, err := c.Get(context.Background(), "d"); err != nil || v == "" {
		t.Errorf("after the queue drained: %q, %v", v, err)
	}
}
