package cache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of the zero Options fields.
const (
	DefaultSize        = 10000
	DefaultLoadTimeout = time.Minute
	DefaultConcurrency = 16
	// Unbounded as Options.Concurrency: no slots, loads bounded by
	// MaxPending only (the loader has its own semaphore).
	Unbounded = -1
)

// ErrPending is returned by Get when the caller's context ends before the load of a
// missing key finishes; the load goes on in the background and fills the cache.
// The error returned wraps both ErrPending and the context's cause.
var ErrPending = errors.New("cache: load still pending")

// ErrBusy is returned by Get and Lookup for a missing key when MaxPending loads
// are already in flight: no load was started. Stale entries are still served,
// without a reload.
var ErrBusy = errors.New("cache: too many loads in flight")

// State says where a value returned by Get or Peek came from.
type State int

const (
	Miss  State = iota // not in the cache (Get: loaded for this call, or nothing)
	Fresh              // cached, within its TTL
	Stale              // cached, past its TTL (Get: a reload runs in the background)
)

// String returns "miss", "fresh" or "stale".
func (s State) String() string {
	switch s {
	case Fresh:
		return "fresh"
	case Stale:
		return "stale"
	case Miss:
		return "miss"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Options configure a Cache.
type Options[K comparable, V any] struct {
	// Size is the most entries kept; the least recently used goes first. 0 = DefaultSize.
	Size int
	// TTL is how long a value stays fresh after it is stored. nil = forever; a
	// result <= 0 makes the value stale at once (served, and reloaded on each Get
	// that finds no reload running).
	TTL func(V) time.Duration
	// Load produces the value of a key, with its own TTL and origin when it
	// brings them (Plain adapts a loader of just the value). Its context ends
	// after LoadTimeout or on Close, never because a caller gave up. Errors
	// are not cached.
	Load LoadFunc[K, V]
	// LoadTimeout bounds one Load, counted from when it gets a Concurrency slot.
	// 0 = DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Concurrency is the most loads running at once; more wait for a slot.
	// 0 = DefaultConcurrency; Unbounded = no slot (MaxPending must be set).
	Concurrency int
	// MaxPending is the most loads in flight, running or waiting for a
	// Concurrency slot; beyond it a missing key starts no load (ErrBusy). It
	// bounds the goroutines and memory a flood of new keys can cost.
	// 0 = 64 * Concurrency.
	MaxPending int
	// Failed reports whether a loaded value records a failure (a SERVFAIL
	// or a timeout, say) that the loader stores as a value, to be cached
	// briefly. A Failed value never replaces a good one: when the reload of
	// an entry whose value is not Failed gives a Failed value, the old
	// value is kept (with its stored time: the data is that old) and is
	// fresh again for TTL(new), then reloaded: serve-stale, RFC 8767
	// section 4. nil = every loaded value replaces the entry.
	Failed func(V) bool
	// Now is the wall clock: what stored times are reported in and written
	// to files as. nil = time.Now.
	Now func() time.Time
	// Elapsed is the monotonic clock, the time since any fixed origin:
	// freshness and ages follow it, so a step of the wall clock (an hour
	// either way) changes neither. nil = the monotonic reading of time.Now
	// when Now is nil, else Now's own progress since New (a test clock
	// that advances moves freshness with it).
	Elapsed func() time.Duration
}

// Cache is a TTL LRU cache with stale-while-revalidate and background loads. Its
// methods are safe for concurrent use.
type Cache[K comparable, V any] struct {
	o   Options[K, V]
	lru *lru.Cache[K, entry[V]]
	// elapsed is Options.Elapsed or its default; wallBase is kept by clock.
	elapsed  func() time.Duration
	wallBase atomic.Int64
	sem      chan struct{} // a slot per running load

	// base is the parent of every load's context; Close cancels it.
	base   context.Context
	cancel context.CancelFunc

	// mu makes "look at the entry, then start a load unless one runs" atomic with
	// "store the loaded value, then forget the load", so a key has at most one load
	// and an entry just reloaded is not reloaded again.
	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight shrinks
	inflight map[K]*flight[V]

	saveMu sync.Mutex // one SaveFile at a time

	hits, stale, misses, pending, busy, loads, loadErrors, keptStale atomic.Uint64
	running                                                          atomic.Int64
}

// entry is a cached value. Its times are nanoseconds of the cache's
// monotonic clock (elapsed), 8 bytes each where a time.Time takes 24: the
// cache holds hundreds of thousands. An entry loaded from a file may have
// been stored before the clock's origin: stored is then negative.
type entry[V any] struct {
	v       V
	stored  int64
	expires int64 // never: math.MaxInt64
	origin  Origin
}

const never = math.MaxInt64

// fresh reports whether the entry is fresh at now, a reading of elapsed.
func (e *entry[V]) fresh(now int64) bool { return now < e.expires }

// storedAt is when the entry was stored on the wall clock, given wallBase
// from clock.
func (e *entry[V]) storedAt(wallBase int64) time.Time {
	return time.Unix(0, wallBase+e.stored).UTC()
}

// maxStep is the largest step of the wall clock against the monotonic one
// that stored times do not follow: below it the times reported stay exactly
// the same (the two clocks are read a few nanoseconds apart).
const maxStep = time.Second

// clock reads both clocks. wallBase is the wall time, in Unix nanoseconds,
// of the monotonic clock's origin: a stored time on the wall clock is
// wallBase plus the entry's reading. It changes only when the wall clock
// steps (by more than maxStep), so that ages reported, now minus stored,
// stay the monotonic ones.
func (c *Cache[K, V]) clock() (wallBase, now int64) {
	wall := c.o.Now()
	now = int64(c.elapsed())
	b := wall.UnixNano() - now
	cur := c.wallBase.Load()
	if d := b - cur; d > int64(maxStep) || d < -int64(maxStep) {
		c.wallBase.Store(b)
		cur = b
	}
	return cur, now
}

// New returns a cache; it fails on negative sizes or durations and a nil Load.
func New[K comparable, V any](o Options[K, V]) (*Cache[K, V], error) {
	switch {
	case o.Load == nil:
		return nil, errors.New("create cache: Options.Load is nil")
	case o.Size < 0, o.LoadTimeout < 0, o.Concurrency < Unbounded:
		return nil, fmt.Errorf("create cache: negative Size, LoadTimeout or Concurrency (%d, %v, %d)", o.Size, o.LoadTimeout, o.Concurrency)
	case o.Concurrency == Unbounded && o.MaxPending <= 0:
		return nil, errors.New("create cache: Concurrency Unbounded without MaxPending")
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64 * o.Concurrency
	}
	elapsed := o.Elapsed
	if elapsed == nil {
		if o.Now == nil {
			base := time.Now() // with its monotonic reading
			elapsed = func() time.Duration { return time.Since(base) }
		} else {
			now, base := o.Now, o.Now()
			elapsed = func() time.Duration { return now().Sub(base) }
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l, err := lru.New[K, entry[V]](o.Size)
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	c := &Cache[K, V]{
		o:        o,
		lru:      l,
		elapsed:  elapsed,
		sem:      make(chan struct{}, max(o.Concurrency, 0)),
		inflight: map[K]*flight[V]{},
	}
	c.idle = sync.NewCond(&c.mu)
	c.wallBase.Store(o.Now().UnixNano() - int64(elapsed()))
	c.base, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Get returns the value of key. A fresh entry is returned at once. A stale entry is
// returned at once too (State Stale), and a background reload starts unless one is
// running. A missing key starts a load (or joins the running one) and waits for it
// until ctx ends: then Get returns the loaded value with State Miss, or the loader's
// error, or, if ctx ended first, an error wrapping ErrPending while the load goes on.
// When MaxPending loads are already in flight, a missing key starts none and Get
// returns ErrBusy at once.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, State, error) {
	v, state, p, err := c.Lookup(key)
	if p != nil {
		v, err = p.Wait(ctx)
	}
	return v, state, err
}

// Pending is a load that a Lookup started or joined.
type Pending[K comparable, V any] struct {
	c *Cache[K, V]
	f *flight[V]
}

// Lookup is Get without the wait, for callers that look up several keys at
// once: a fresh or stale value comes at once with a nil Pending; for a
// missing key it starts the load (or joins the running one) and returns the
// Pending to wait on, or ErrBusy when MaxPending loads are in flight. Each
// Lookup counts once in Stats, whatever the caller does next.
func (c *Cache[K, V]) Lookup(key K) (v V, state State, p *Pending[K, V], err error) {
	now := int64(c.elapsed())
	if e, ok := c.lru.Get(key); ok && e.fresh(now) {
		c.hits.Add(1)
		return e.v, Fresh, nil, nil
	}
	e, state, f := c.lookupOrStart(key, now)
	switch state {
	case Fresh:
		c.hits.Add(1)
		return e.v, Fresh, nil, nil
	case Stale:
		c.stale.Add(1)
		return e.v, Stale, nil, nil
	}
	c.misses.Add(1)
	if f == nil {
		c.busy.Add(1)
		return v, Miss, nil, ErrBusy
	}
	return v, Miss, &Pending[K, V]{c: c, f: f}, nil
}

// Wait waits for the load until ctx ends: the loaded value, the loader's
// error, or an error wrapping ErrPending while the load goes on.
func (p *Pending[K, V]) Wait(ctx context.Context) (V, error) {
	select {
	case <-p.f.done:
	default:
		select {
		case <-p.f.done:
		case <-ctx.Done():
			p.c.pending.Add(1)
			var zero V
			return zero, fmt.Errorf("%w (%w)", ErrPending, context.Cause(ctx))
		}
	}
	return p.f.v, p.f.err
}

// lookupOrStart looks at key's entry again under mu and, unless it is fresh, makes
// sure a load of key is running, if fewer than MaxPending are. It returns the
// entry and its state, and the load (nil when none could start).
func (c *Cache[K, V]) lookupOrStart(key K, now int64) (entry[V], State, *flight[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Peek(key)
	if ok && e.fresh(now) {
		return e, Fresh, nil
	}
	f := c.inflight[key]
	if f == nil && len(c.inflight) < c.o.MaxPending {
		f = c.startLocked(key, c.o.Load)
	}
	if ok {
		return e, Stale, f
	}
	return entry[V]{}, Miss, f
}

// Peek returns key's value, when it was stored and whether it is fresh, without
// loading, reloading or touching its LRU position.
func (c *Cache[K, V]) Peek(key K) (v V, stored time.Time, state State, ok bool) {
	e, ok := c.lru.Peek(key)
	if !ok {
		return v, time.Time{}, Miss, false
	}
	base, now := c.clock()
	state = Stale
	if e.fresh(now) {
		state = Fresh
	}
	return e.v, e.storedAt(base), state, true
}

// Set stores v for key as of now. A load of key running meanwhile replaces it when
// it finishes.
func (c *Cache[K, V]) Set(key K, v V) {
	c.lru.Add(key, c.newEntry(v, int64(c.elapsed())))
}

// newEntry is v stored at stored, a reading of elapsed.
func (c *Cache[K, V]) newEntry(v V, stored int64) entry[V] {
	e := entry[V]{v: v, stored: stored, expires: never}
	if c.o.TTL != nil {
		ttl := int64(max(c.o.TTL(v), 0))
		e.expires = stored + min(ttl, never-max(stored, 0)) // no overflow
	}
	return e
}

// Delete removes key and reports whether it was there. A load running for key still
// stores its result.
func (c *Cache[K, V]) Delete(key K) bool { return c.lru.Remove(key) }

// Purge removes every entry (running loads still store their results).
func (c *Cache[K, V]) Purge() { c.lru.Purge() }

// Len is the number of entries, fresh and stale.
func (c *Cache[K, V]) Len() int { return c.lru.Len() }

// Range calls fn for each entry, least recently used first, until fn returns false.
// It sees a snapshot of the keys; entries removed meanwhile are skipped. It does not
// change LRU positions.
func (c *Cache[K, V]) Range(fn func(key K, v V, stored time.Time) bool) {
	base, _ := c.clock()
	for _, k := range c.lru.Keys() {
		e, ok := c.lru.Peek(k)
		if !ok {
			continue
		}
		if !fn(k, e.v, e.storedAt(base)) {
			return
		}
	}
}

// Stats are a cache's counters since New.
type Stats struct {
	Hits       uint64 `json:"hits"`        // Gets answered with a fresh entry
	Stale      uint64 `json:"stale"`       // Gets answered with a stale entry
	Misses     uint64 `json:"misses"`      // Gets that found nothing and waited for a load
	Pending    uint64 `json:"pending"`     // of those, gave up with ErrPending
	Busy       uint64 `json:"busy"`        // of those, started no load: MaxPending in flight
	Loads      uint64 `json:"loads"`       // loads started
	LoadErrors uint64 `json:"load_errors"` // loads that returned an error
	KeptStale  uint64 `json:"kept_stale"`  // Failed values that kept a good entry (Options.Failed)
	InFlight   int    `json:"in_flight"`   // loads running or waiting for a slot now
	Len        int    `json:"len"`         // entries now
}

// Stats returns the counters.
func (c *Cache[K, V]) Stats() Stats {
	return Stats{
		Hits:       c.hits.Load(),
		Stale:      c.stale.Load(),
		Misses:     c.misses.Load(),
		Pending:    c.pending.Load(),
		Busy:       c.busy.Load(),
		Loads:      c.loads.Load(),
		LoadErrors: c.loadErrors.Load(),
		KeptStale:  c.keptStale.Load(),
		InFlight:   int(c.running.Load()),
		Len:        c.lru.Len(),
	}
}
