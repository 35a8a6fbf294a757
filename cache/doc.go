// Package cache is a size-bounded LRU cache (github.com/hashicorp/golang-lru/v2) with
// a time to live per value, stale-while-revalidate in the sense of RFC 5861 section 3
// (an expired entry is still answered while one background reload replaces it), one
// load per key at a time, a bound on concurrent loads, and an atomic JSON snapshot
// to survive restarts.
//
// Loads run in goroutines of their own with their own deadline (Options.LoadTimeout),
// independent of the callers: a caller whose context ends gets ErrPending and the
// load goes on to fill the cache for the next caller. Loader errors are returned to
// the callers waiting at that moment and counted, never cached.
//
// The cache knows nothing of its keys and values beyond Go's comparable and, for
// SaveFile and LoadFile, encoding/json.
package cache
