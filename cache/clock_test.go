package cache

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// twoClocks is a wall clock that can step (as `date -s` or a bad NTP
// server makes it) and a monotonic clock that only advances.
type twoClocks struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func (c *twoClocks) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *twoClocks) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// advance lets d pass on both clocks; step moves the wall clock alone.
func (c *twoClocks) advance(d time.Duration) {
	c.mu.Lock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
	c.mu.Unlock()
}

func (c *twoClocks) step(d time.Duration) {
	c.mu.Lock()
	c.wall = c.wall.Add(d)
	c.mu.Unlock()
}

// TestWallClockSteps: the wall clock jumps an hour forward, then two hours
// back, while entries with a TTL of 30 minutes age: freshness follows the
// time really elapsed, the stored times reported keep the real age against
// the wall clock of the moment, and a file saved after the steps holds wall
// times with the real ages, which a restarted cache (another clock origin)
// takes up.
func TestWallClockSteps(t *testing.T) {
	clk := &twoClocks{wall: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), mono: 5 * time.Hour}
	l := &loader{}
	c := newCache(t, l, nil, 30*time.Minute, func(o *Options[string, string]) {
		o.Now, o.Elapsed = clk.Now, clk.Elapsed
	})
	c.Set("a.example", "A")
	clk.advance(10 * time.Minute)

	check := func(when string, wantState State, wantAge time.Duration) {
		t.Helper()
		_, stored, state, ok := c.Peek("a.example")
		age := clk.Now().Sub(stored)
		if !ok || state != wantState || age != wantAge {
			t.Errorf("%s: state %v, age %v (stored %v, wall now %v); want %v, %v", when, state, age, stored, clk.Now(), wantState, wantAge)
		}
	}
	check("10 min after the store", Fresh, 10*time.Minute)
	clk.step(time.Hour)
	check("wall clock an hour ahead", Fresh, 10*time.Minute)
	if _, state, err := c.Get(context.Background(), "a.example"); err != nil || state != Fresh {
		t.Errorf("Get with the wall clock an hour ahead: %v, %v; want a fresh hit", state, err)
	}
	clk.step(-2 * time.Hour)
	check("wall clock an hour behind", Fresh, 10*time.Minute)
	clk.advance(25 * time.Minute)
	check("35 min after the store, wall an hour behind", Stale, 35*time.Minute)
	if n := l.calls.Load(); n != 0 {
		t.Errorf("%d loads, want none (Set only, Peek loads nothing)", n)
	}

	// Saved with the wall clock an hour behind: the file's stored time is
	// that wall clock minus the real age.
	path := filepath.Join(t.TempDir(), "cache.json")
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	clk2 := &twoClocks{wall: clk.Now().Add(5 * time.Minute), mono: time.Minute} // a restart 5 min later
	c2 := newCache(t, &loader{}, nil, 30*time.Minute, func(o *Options[string, string]) {
		o.Now, o.Elapsed = clk2.Now, clk2.Elapsed
	})
	if n, err := c2.LoadFile(path); n != 1 || err != nil {
		t.Fatalf("LoadFile: %d, %v", n, err)
	}
	_, stored, state, _ := c2.Peek("a.example")
	if age := clk2.Now().Sub(stored); age != 40*time.Minute || state != Stale {
		t.Errorf("after the restart: age %v, %v; want 40m0s, stale", age, state)
	}
}

// TestRealClockAgesAreStable: with the real clocks, the stored time
// reported does not move between two reads (the wall and monotonic clocks
// are read apart, by nanoseconds, but below maxStep nothing follows that).
func TestRealClockAgesAreStable(t *testing.T) {
	c := newCache(t, &loader{}, nil, time.Hour)
	c.Set("a.example", "A")
	_, s1, _, _ := c.Peek("a.example")
	for range 1000 {
		if _, s2, _, _ := c.Peek("a.example"); !s2.Equal(s1) {
			t.Fatalf("stored time moved from %v to %v", s1, s2)
		}
	}
	if age := time.Since(s1); age < 0 || age > time.Minute {
		t.Errorf("age %v of an entry just stored", age)
	}
}
