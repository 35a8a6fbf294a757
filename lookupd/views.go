package lookupd

import (
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/observe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Views (remedies, issue 19): an address's facts keep the earlier views that
// disagree with new ones for cache.ttl (lookupd/observe), and a report of a
// TLS failure the facts did not predict becomes a view at once. The rule is
// observe's; these are the two places the daemon's facts change.

// withViews is f, new facts of k, with the disagreeing views of the facts
// the cache holds for k (fresh or not: observe.Merge drops views older than
// cache.ttl).
func (s *Service) withViews(k addrKey, f probe.Facts) probe.Facts {
	old, _, _, ok := s.facts.Peek(k)
	if !ok {
		return f
	}
	return observe.Merge(old.facts(k), f, time.Now(), s.st.Load().cfg.Cache.TTL.Duration)
}

// addReportView adds the view of Exim's report text to the facts r of k,
// stored at stored (their expiry does not move).
func (s *Service) addReportView(k addrKey, r factsRecord, stored time.Time, text string) {
	now := time.Now()
	f := observe.Add(r.facts(k), observe.FromReport(k.AP, tlswire.Client(k.Client.String()), text, now), now, s.st.Load().cfg.Cache.TTL.Duration)
	s.facts.SetStored(k, newFactsRecord(&f), stored)
}
