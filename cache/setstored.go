package cache

import "time"

// SetStored stores v for key as if it had been stored at stored (a time in
// the future is taken as now), so that its TTL counts from then: for values
// learnt earlier or elsewhere (converted from an older file, or from a
// peer) whose age must count. A load of key running meanwhile replaces it
// when it finishes.
func (c *Cache[K, V]) SetStored(key K, v V, stored time.Time) {
	if now := c.o.Now(); stored.After(now) {
		stored = now
	}
	c.lru.Add(key, c.newEntry(v, stored))
}
