package cache

// Refresh starts a background load of key now, even when its entry is
// fresh (a caller has learnt that the cached value is wrong), unless one is
// running: then it returns that load, with started false. The entry, if
// any, is served as it is until the load stores the new value; a load that
// fails leaves it as it was. When MaxPending loads are in flight no load
// starts and Refresh returns nil, false (counted as busy). A load that
// Refresh starts is owned by the cache like any other: counted in Stats,
// cancelled by Close, waited for by Wait.
func (c *Cache[K, V]) Refresh(key K) (p *Pending[K, V], started bool) {
	return c.RefreshWith(key, c.o.Load)
}

// RefreshWith is Refresh with a loader of the caller's for this load (one
// that knows what the caller learnt: "only facts newer than these", say),
// instead of Options.Load. A load already running is joined as it is.
func (c *Cache[K, V]) RefreshWith(key K, load LoadFunc[K, V]) (p *Pending[K, V], started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.inflight[key]; f != nil {
		return &Pending[K, V]{c: c, f: f}, false
	}
	if len(c.inflight) >= c.o.MaxPending {
		c.busy.Add(1)
		return nil, false
	}
	return &Pending[K, V]{c: c, f: c.startLocked(key, load)}, true
}
