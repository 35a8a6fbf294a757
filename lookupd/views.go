package lookupd

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// withViews is f, new facts of k, with the disagreeing views the store
// holds for k, for cache.ttl (store.Store.WithViews).
func (s *Service) withViews(k store.AddrKey, f probe.Facts) probe.Facts {
	return s.store.WithViews(k, f, s.st.Load().Config.Cache.TTL.Duration)
}
