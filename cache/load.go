package cache

import (
	"context"
	"fmt"
)

// flight is one running load of a key; every Get of that key meanwhile waits on it.
//
// (This is the technique of golang.org/x/sync/singleflight, kept in the cache's own
// mutex: singleflight keys are strings, which would need a conversion of K, and it
// cannot tell a caller whether it started the call, which Wait, Stats.InFlight and
// the one-reload-per-stale-entry guarantee need.)
type flight[V any] struct {
	done chan struct{} // closed when v and err are set
	v    V
	err  error
}

// startLocked starts a background load of key with load. c.mu must be held.
func (c *Cache[K, V]) startLocked(key K, load LoadFunc[K, V]) *flight[V] {
	f := &flight[V]{done: make(chan struct{})}
	c.inflight[key] = f
	c.running.Add(1)
	c.loads.Add(1)
	go c.run(key, f, load)
	return f
}

// run loads key, stores a good result, and releases the waiters.
func (c *Cache[K, V]) run(key K, f *flight[V], load LoadFunc[K, V]) {
	l, err := c.load(key, load)
	var v V
	c.mu.Lock()
	if err == nil {
		v = c.storeLocked(key, l)
	} else {
		c.loadErrors.Add(1)
	}
	delete(c.inflight, key)
	c.running.Add(-1)
	f.v, f.err = v, err
	close(f.done)
	c.idle.Broadcast()
	c.mu.Unlock()
}

// load calls the loader within a Concurrency slot and LoadTimeout; a panic in the
// loader becomes an error (the waiters must be released).
func (c *Cache[K, V]) load(key K, load LoadFunc[K, V]) (v Loaded[V], err error) {
	if c.base.Err() != nil {
		return v, fmt.Errorf("load: cache closed: %w", context.Cause(c.base))
	}
	if c.o.Concurrency != Unbounded {
		select {
		case c.sem <- struct{}{}:
		case <-c.base.Done():
			return v, fmt.Errorf("load: cache closed: %w", context.Cause(c.base))
		}
		defer func() { <-c.sem }()
	}
	ctx, cancel := context.WithTimeout(c.base, c.o.LoadTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("load: loader panicked: %v", r)
		}
	}()
	return load(ctx, key)
}

// Wait returns when no load is running or waiting for a slot (loads started while
// it waits are waited for too). For shutdown and tests.
func (c *Cache[K, V]) Wait() {
	c.mu.Lock()
	for len(c.inflight) > 0 {
		c.idle.Wait()
	}
	c.mu.Unlock()
}

// Close cancels the context of every running load and makes later loads fail at
// once; cached entries stay readable. Use Close then Wait then SaveFile on shutdown.
func (c *Cache[K, V]) Close() {
	c.cancel()
}

// storeLocked stores a loaded value, unless it is Failed and the entry
// holds a good one: then the good one is kept and made fresh again for the
// failed value's TTL (Options.Failed). It returns the value the entry now
// holds. c.mu must be held.
func (c *Cache[K, V]) storeLocked(key K, l Loaded[V]) V {
	now := int64(c.elapsed())
	v := l.Value
	if c.o.Failed != nil && c.o.Failed(v) {
		if old, ok := c.lru.Peek(key); ok && !c.o.Failed(old.v) {
			again := c.loadedEntry(l, now)
			old.expires = again.expires
			c.lru.Add(key, old)
			c.keptStale.Add(1)
			return old.v
		}
	}
	c.lru.Add(key, c.loadedEntry(l, now))
	return v
}
