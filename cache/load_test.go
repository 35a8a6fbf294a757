package cache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestFailedKeepsGoodEntry: with Options.Failed, a reload that gives a
// failure keeps the good value (its stored time too), fresh again for the
// failure's TTL; a failure for a key with no good value is stored; a good
// value replaces a failure.
func TestFailedKeepsGoodEntry(t *testing.T) {
	clk := newClock()
	failing := atomic.Bool{}
	l := &loader{value: func(key string, n int64) string {
		if failing.Load() {
			return "FAIL"
		}
		return fmt.Sprintf("%s#%d", key, n)
	}}
	c := newCache(t, l, clk, time.Hour, func(o *Options[string, string]) {
		o.TTL = func(v string) time.Duration {
			if v == "FAIL" {
				return 30 * time.Second
			}
			return time.Hour
		}
		o.Failed = func(v string) bool { return v == "FAIL" }
	})
	if v, _, err := c.Get(context.Background(), "good"); v != "good#1" || err != nil {
		t.Fatalf("first load: %q, %v", v, err)
	}
	_, stored, _, _ := c.Peek("good")
	failing.Store(true)
	clk.Advance(time.Hour) // stale: the next Get reloads, and the reload fails
	if v, st, _ := c.Get(context.Background(), "good"); v != "good#1" || st != Stale {
		t.Fatalf("stale Get: %q, %v", v, st)
	}
	c.Wait()
	v, stored2, st, _ := c.Peek("good")
	if v != "good#1" || st != Fresh || !stored2.Equal(stored) {
		t.Fatalf("after a failed reload: %q, %v, stored %v (was %v); want the good value, fresh, same stored time", v, st, stored2, stored)
	}
	clk.Advance(31 * time.Second) // the failure's TTL: stale again, reloaded again
	if _, _, st, _ := c.Peek("good"); st != Stale {
		t.Fatalf("after the failure's TTL: %v, want stale", st)
	}
	if v, _, err := c.Get(context.Background(), "new"); v != "FAIL" || err != nil {
		t.Fatalf("new key while failing: %q, %v; want the failure stored", v, err)
	}
	failing.Store(false)
	c.Get(context.Background(), "good")
	clk.Advance(31 * time.Second)
	c.Get(context.Background(), "new")
	c.Wait()
	if v, _, _, _ := c.Peek("good"); v == "FAIL" || v == "good#1" {
		t.Errorf("good after recovery: %q, want a new good value", v)
	}
	if v, _, _, _ := c.Peek("new"); v == "FAIL" {
		t.Errorf("new after recovery: %q, want a good value to replace the failure", v)
	}
	if s := c.Stats(); s.KeptStale != 1 {
		t.Errorf("kept_stale = %d, want 1", s.KeptStale)
	}
}
