package store

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

// WithViews is f, new facts of k, with the disagreeing views of the facts
// the cache holds for k (fresh or not: observe.Merge drops views older than
// keep, cache.ttl). With none, f's own views still pass observe.Merge,
// which gives them f's time.
func (s *Store) WithViews(k AddrKey, f probe.Facts, keep time.Duration) probe.Facts {
	var prev probe.Facts
	if old, _, _, ok := s.Facts.Peek(k); ok {
		prev = old.Facts(k)
	}
	return observe.Merge(prev, f, time.Now(), keep)
}

// AddReportView adds the view of Exim's report text to the facts r of k,
// stored at stored (their expiry does not move); views older than keep
// (cache.ttl) go.
func (s *Store) AddReportView(k AddrKey, r Record, stored time.Time, text string, keep time.Duration) {
	now := time.Now()
	f := observe.Add(r.Facts(k), observe.FromReport(k.AP, tlswire.Client(k.Client.String()), text, now), now, keep)
	s.Facts.SetStored(k, NewRecord(&f), stored)
}
