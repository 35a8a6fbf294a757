package cache

import (
	"context"
	"time"
)

// Origin says where a loaded value came from, in the caller's terms (a
// peer, a lookup of its own, ...): the cache only keeps it with the entry
// for PeekOrigin. 0 is the zero origin, what Set and plain loaders store.
type Origin uint8

// Loaded is what a loader returns: the value, with its own TTL and origin
// when it brings them (a value taken from a peer lives what is left of its
// TTL there).
type Loaded[V any] struct {
	Value V
	// TTL, when > 0, is how long the value stays fresh, instead of
	// Options.TTL(Value).
	TTL time.Duration
	// Origin is kept with the entry (PeekOrigin).
	Origin Origin
}

// LoadFunc loads the value of a key.
type LoadFunc[K comparable, V any] func(ctx context.Context, key K) (Loaded[V], error)

// Plain is a LoadFunc of a loader that returns just the value: its TTL is
// Options.TTL's, its origin 0.
func Plain[K comparable, V any](load func(ctx context.Context, key K) (V, error)) LoadFunc[K, V] {
	return func(ctx context.Context, key K) (Loaded[V], error) {
		v, err := load(ctx, key)
		return Loaded[V]{Value: v}, err
	}
}

// SetLoaded stores l for key as of now, with its TTL and origin, as a
// load would (a value learnt on the side: the others of a peer's answer).
// A load of key running meanwhile replaces it when it finishes.
func (c *Cache[K, V]) SetLoaded(key K, l Loaded[V]) {
	c.lru.Add(key, c.loadedEntry(l, int64(c.elapsed())))
}

// PeekOrigin is the origin of key's entry, without touching its LRU
// position; ok is false when there is none.
func (c *Cache[K, V]) PeekOrigin(key K) (o Origin, ok bool) {
	e, ok := c.lru.Peek(key)
	return e.origin, ok
}

// loadedEntry is l stored at stored, a reading of elapsed.
func (c *Cache[K, V]) loadedEntry(l Loaded[V], stored int64) entry[V] {
	e := c.newEntry(l.Value, stored)
	if l.TTL > 0 {
		e.expires = stored + min(int64(l.TTL), never-max(stored, 0))
	}
	e.origin = l.Origin
	return e
}
