package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// clock is a settable clock for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// loader counts calls and, when gate is set, blocks each call until gate is closed
// or the load's context ends.
type loader struct {
	calls   atomic.Int64
	running atomic.Int64
	maxRun  atomic.Int64
	gate    chan struct{}
	err     error
	value   func(key string, call int64) string
}

func (l *loader) Load(ctx context.Context, key string) (string, error) {
	n := l.calls.Add(1)
	r := l.running.Add(1)
	defer l.running.Add(-1)
	for {
		m := l.maxRun.Load()
		if r <= m || l.maxRun.CompareAndSwap(m, r) {
			break
		}
	}
	if l.gate != nil {
		select {
		case <-l.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if l.err != nil {
		return "", l.err
	}
	if l.value != nil {
		return l.value(key, n), nil
	}
	return fmt.Sprintf("%s#%d", key, n), nil
}

func newCache(t testing.TB, l *loader, clk *clock, ttl time.Duration, mod ...func(*Options[string, string])) *Cache[string, string] {
	t.Helper()
	o := Options[string, string]{
		TTL:  func(string) time.Duration { return ttl },
		Load: Plain(l.Load),
	}
	if clk != nil {
		o.Now = clk.Now
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); c.Wait() })
	return c
}

func TestGetLoadsThenHits(t *testing.T) {
	l := &loader{}
	c := newCache(t, l, newClock(), time.Hour)
	v, st, err := c.Get(context.Background(), "a")
	if v != "a#1" || st != Miss || err != nil {
		t.Fatalf("first Get = %q, %v, %v; want a#1, miss", v, st, err)
	}
	v, st, err = c.Get(context.Background(), "a")
	if v != "a#1" || st != Fresh || err != nil {
		t.Fatalf("second Get = %q, %v, %v; want a#1, fresh", v, st, err)
	}
	s := c.Stats()
	if s.Loads != 1 || s.Misses != 1 || s.Hits != 1 || s.Len != 1 || s.InFlight != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestStaleServedWithExactlyOneReload(t *testing.T) {
	clk := newClock()
	l := &loader{gate: make(chan struct{})}
	c := newCache(t, l, clk, time.Minute)
	c.Set("k", "old")
	clk.Advance(time.Minute) // expires at exactly stored+TTL
	if _, _, st, _ := c.Peek("k"); st != Stale {
		t.Fatalf("Peek state %v after TTL, want stale", st)
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			v, st, err := c.Get(context.Background(), "k")
			if v != "old" || st != Stale || err != nil {
				t.Errorf("Get = %q, %v, %v; want old, stale", v, st, err)
			}
		})
	}
	wg.Wait()
	close(l.gate)
	c.Wait()
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("%d reloads, want 1", n)
	}
	v, _, st, _ := c.Peek("k")
	if v != "k#1" || st != Fresh {
		t.Fatalf("after reload Peek = %q, %v; want k#1, fresh", v, st)
	}
	// Fresh now: no further load.
	if v, st, _ := c.Get(context.Background(), "k"); v != "k#1" || st != Fresh || l.calls.Load() != 1 {
		t.Fatalf("Get after reload = %q, %v (calls %d)", v, st, l.calls.Load())
	}
	if s := c.Stats(); s.Stale != 100 || s.Loads != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &loader{gate: make(chan struct{})}
		c := newCache(t, l, nil, time.Hour)
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				v, st, err := c.Get(context.Background(), "x")
				if v != "x#1" || err != nil || (st != Miss && st != Fresh) {
					t.Errorf("Get = %q, %v, %v", v, st, err)
				}
			})
		}
		synctest.Wait() // every caller waits for the one load
		if s := c.Stats(); s.Misses != 100 || l.calls.Load() != 1 {
			t.Fatalf("with every caller waiting: %d misses, %d loads; want 100, 1", s.Misses, l.calls.Load())
		}
		close(l.gate)
		wg.Wait()
		if n := l.calls.Load(); n != 1 {
			t.Fatalf("%d loads for one key, want 1", n)
		}
	})
}

func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, keys = 3, 20
		l := &loader{gate: make(chan struct{})}
		c := newCache(t, l, nil, time.Hour, func(o *Options[string, string]) { o.Concurrency = limit })
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // callers do not wait: every Get returns ErrPending at once
		for i := range keys {
			if _, _, err := c.Get(ctx, fmt.Sprint("k", i)); !errors.Is(err, ErrPending) {
				t.Fatalf("Get = %v, want ErrPending", err)
			}
		}
		synctest.Wait() // the loads started wait at the gate, the others for a slot
		if n := l.running.Load(); n != limit {
			t.Fatalf("%d loads running, want the %d slots filled", n, limit)
		}
		if s := c.Stats(); s.InFlight != keys || s.Pending != keys {
			t.Fatalf("Stats = %+v, want %d in flight and pending", s, keys)
		}
		close(l.gate)
		c.Wait()
		if m := l.maxRun.Load(); m != limit {
			t.Fatalf("at most %d loads ran at once, want %d", m, limit)
		}
		if c.Len() != keys || l.calls.Load() != keys {
			t.Fatalf("Len %d, calls %d; want %d", c.Len(), l.calls.Load(), keys)
		}
	})
}

func TestPendingThenValueAppears(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &loader{gate: make(chan struct{})}
		c := newCache(t, l, nil, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		v, st, err := c.Get(ctx, "slow")
		if !errors.Is(err, ErrPending) || !errors.Is(err, context.DeadlineExceeded) || v != "" || st != Miss {
			t.Fatalf("Get = %q, %v, %v; want ErrPending wrapping the deadline", v, st, err)
		}
		if _, _, _, ok := c.Peek("slow"); ok {
			t.Fatal("value present before the load finished")
		}
		close(l.gate)
		c.Wait()
		v, _, st, ok := c.Peek("slow")
		if !ok || v != "slow#1" || st != Fresh {
			t.Fatalf("after load Peek = %q, %v, %v", v, st, ok)
		}
	})
}

// A load's context belongs to the cache: callers giving up do not cancel it, and it
// has the LoadTimeout deadline.
func TestLoadContextIndependentOfCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type seen struct {
			deadline time.Duration
			err      error
		}
		got := make(chan seen, 1)
		release := make(chan struct{})
		c, err := New(Options[string, string]{
			LoadTimeout: 42 * time.Second,
			Load: Plain(func(ctx context.Context, key string) (string, error) {
				<-release
				d, _ := ctx.Deadline()
				got <- seen{time.Until(d), ctx.Err()}
				return "v", nil
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrPending) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Get = %v", err)
		}
		close(release)
		s := <-got
		// In the bubble no time passes while the load waits: its deadline is
		// exactly LoadTimeout away.
		if s.err != nil || s.deadline != 42*time.Second {
			t.Fatalf("load context: err %v, deadline in %v; want live, in 42s", s.err, s.deadline)
		}
		c.Wait()
	})
}

func TestLoadErrorsAreNotCached(t *testing.T) {
	boom := errors.New("boom")
	l := &loader{err: boom}
	c := newCache(t, l, nil, time.Hour)
	for i := range 2 {
		if _, st, err := c.Get(context.Background(), "k"); !errors.Is(err, boom) || st != Miss {
			t.Fatalf("Get %d = %v, %v; want boom", i, st, err)
		}
	}
	if s := c.Stats(); s.Loads != 2 || s.LoadErrors != 2 || s.Len != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	// A failed reload keeps the stale value.
	clk := newClock()
	c = newCache(t, l, clk, time.Minute)
	c.Set("k", "old")
	clk.Advance(time.Hour)
	if v, st, err := c.Get(context.Background(), "k"); v != "old" || st != Stale || err != nil {
		t.Fatalf("Get = %q, %v, %v", v, st, err)
	}
	c.Wait()
	if v, _, st, ok := c.Peek("k"); v != "old" || st != Stale || !ok {
		t.Fatalf("after failed reload Peek = %q, %v, %v", v, st, ok)
	}
}

func TestLoaderPanicBecomesError(t *testing.T) {
	c, err := New(Options[string, int]{Load: Plain(func(context.Context, string) (int, error) { panic("oops") })})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(context.Background(), "k"); err == nil || err.Error() != "load: loader panicked: oops" {
		t.Fatalf("Get = %v", err)
	}
	c.Wait()
}

func TestCloseCancelsLoads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &loader{gate: make(chan struct{})} // never opened: only cancellation ends a load
		c := newCache(t, l, nil, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.Get(ctx, "a")
		synctest.Wait() // the load waits at the gate
		if n := l.running.Load(); n != 1 {
			t.Fatalf("%d loads running, want 1", n)
		}
		c.Close()
		c.Wait()
		if _, _, err := c.Get(context.Background(), "b"); err == nil {
			t.Fatal("Get after Close loaded")
		}
		if s := c.Stats(); s.LoadErrors != 2 || s.InFlight != 0 {
			t.Fatalf("Stats = %+v", s)
		}
	})
}

func TestTTLVariants(t *testing.T) {
	clk := newClock()
	l := &loader{}
	// nil TTL: fresh forever.
	c, err := New(Options[string, string]{Load: Plain(l.Load), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c.Set("k", "v")
	clk.Advance(1000 * time.Hour)
	if _, _, st, _ := c.Peek("k"); st != Fresh {
		t.Fatalf("nil TTL: state %v, want fresh", st)
	}
	// TTL <= 0: stale at once.
	c = newCache(t, l, clk, -time.Second)
	c.Set("k", "v")
	if _, _, st, _ := c.Peek("k"); st != Stale {
		t.Fatalf("TTL<0: state %v, want stale", st)
	}
	// Per-value TTL.
	c = newCache(t, l, clk, 0, func(o *Options[string, string]) {
		o.TTL = func(v string) time.Duration {
			if v == "short" {
				return time.Second
			}
			return time.Hour
		}
	})
	c.Set("a", "short")
	c.Set("b", "long")
	clk.Advance(time.Minute)
	_, _, sa, _ := c.Peek("a")
	_, _, sb, _ := c.Peek("b")
	if sa != Stale || sb != Fresh {
		t.Fatalf("per-value TTL: a %v, b %v", sa, sb)
	}
}

func TestPeekSetDeletePurgeRangeLRU(t *testing.T) {
	clk := newClock()
	c := newCache(t, &loader{}, clk, time.Hour, func(o *Options[string, string]) { o.Size = 3 })
	if _, _, st, ok := c.Peek("x"); ok || st != Miss {
		t.Fatal("Peek of a missing key")
	}
	for _, k := range []string{"a", "b", "c"} {
		c.Set(k, "v"+k)
		clk.Advance(time.Second)
	}
	c.Get(context.Background(), "a") // a is now the most recently used
	c.Set("d", "vd")                 // evicts b
	var keys []string
	c.Range(func(k, v string, stored time.Time) bool {
		keys = append(keys, k)
		if v != "v"+k {
			t.Errorf("Range value %q for %q", v, k)
		}
		return true
	})
	if fmt.Sprint(keys) != "[c a d]" {
		t.Fatalf("Range order %v, want [c a d] (least recently used first)", keys)
	}
	var first []string
	c.Range(func(k, _ string, _ time.Time) bool { first = append(first, k); return false })
	if len(first) != 1 {
		t.Fatalf("Range did not stop: %v", first)
	}
	_, stored, _, _ := c.Peek("c")
	if want := newClock().t.Add(2 * time.Second); !stored.Equal(want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	if !c.Delete("c") || c.Delete("c") || c.Len() != 2 {
		t.Fatalf("Delete: Len %d", c.Len())
	}
	c.Purge()
	if c.Len() != 0 {
		t.Fatalf("Len after Purge = %d", c.Len())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	load := func(context.Context, string) (int, error) { return 0, nil }
	for _, o := range []Options[string, int]{
		{},
		{Load: Plain(load), Size: -1},
		{Load: Plain(load), LoadTimeout: -time.Second},
		{Load: Plain(load), Concurrency: -2},
		{Load: Plain(load), Concurrency: Unbounded}, // without MaxPending
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Miss: "miss", Fresh: "fresh", Stale: "stale", State(7): "State(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
	}
}

type result struct {
	Outcome string
	Bits    int
}

func hitCache(tb testing.TB) *Cache[string, result] {
	c, err := New(Options[string, result]{
		TTL:  func(result) time.Duration { return time.Hour },
		Load: Plain(func(context.Context, string) (result, error) { return result{}, nil }),
	})
	if err != nil {
		tb.Fatal(err)
	}
	c.Set("mx.example.com", result{"ok", 2048})
	return c
}

func TestGetHitDoesNotAllocate(t *testing.T) {
	c := hitCache(t)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() { c.Get(ctx, "mx.example.com") }); n != 0 {
		t.Fatalf("Get hit: %v allocations", n)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := hitCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, st, _ := c.Get(ctx, "mx.example.com"); st != Fresh {
			b.Fatal(st)
		}
	}
}
