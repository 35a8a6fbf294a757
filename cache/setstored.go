package cache

import "time"

// SetStored stores v for key as if it had been stored at stored (a time in
// the future is taken as now), so that its TTL counts from then: for values
// learnt earlier or elsewhere (converted from an older file, or from a
// peer) whose age must count. A load of key running meanwhile replaces it
// when it finishes.
func (c *Cache[K, V]) SetStored(key K, v V, stored time.Time) {
	base, now := c.clock()
	c.lru.Add(key, c.newEntry(v, readingAt(stored, base, now)))
}

// readingAt turns a wall-clock stored time into a reading of the cache's
// monotonic clock, given clock's wallBase and now: the age is counted on
// the wall clock, the only clock such a time has, and from then on on the
// monotonic one. A time in the future is taken as now, one before 1970 (a
// hand-edited file) as 1970: the age must fit in int64 nanoseconds.
func readingAt(stored time.Time, wallBase, now int64) int64 {
	at := stored.UnixNano() - wallBase
	if stored.Before(oldestStored) {
		at = oldestStored.UnixNano() - wallBase
	}
	return min(at, now)
}
