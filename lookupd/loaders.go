package lookupd

import (
	"context"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// loadFacts is the facts cache's loader: the origin's facts of the address
// (a probe, or with a fleet the facts in Redis or the probe of the relay
// holding its lock).
func (s *Service) loadFacts(ctx context.Context, k store.AddrKey) (cache.Loaded[store.Record], error) {
	return s.loadFactsAfter(ctx, k, 0)
}

// loadFactsAfter is loadFacts taking only facts probed after after (0:
// any): a re-probe after a report's miss must not take back from Redis the
// facts the report disproved (lookupd/decision's reprobe).
func (s *Service) loadFactsAfter(ctx context.Context, k store.AddrKey, after store.UnixNano) (cache.Loaded[store.Record], error) {
	l, err := s.origin.Facts(ctx, k, after)
	if err != nil {
		return l, err
	}
	return s.newFacts(k, l), nil
}

// newFacts is the one place where new facts for an address (a probe's,
// another relay's through Redis, a re-probe's) replace the old ones: every
// load of the facts cache and the facts a chain brings (learner) pass
// here before the cache stores them.
func (s *Service) newFacts(k store.AddrKey, l cache.Loaded[store.Record]) cache.Loaded[store.Record] {
	// Earlier disagreeing views stay for cache.ttl (lookupd/observe).
	f := s.store.WithViews(k, l.Value.Facts(k), s.st.Load().Config.Cache.TTL.Duration)
	l.Value = store.NewRecord(&f)
	return l
}

// observer counts what the origin reports (origin.Observer).
type observer struct{ s *Service }

func (o observer) DNSFailed(l origin.Lookup, kind store.DNSFailure) { o.s.counters.dnsFailed(l, kind) }

func (o observer) ProbeStarted() { o.s.metrics.probeStarted() }

func (o observer) ProbeDone(f *probe.Facts) {
	o.s.counters.probed(f)
	o.s.metrics.probeDone(f)
}
