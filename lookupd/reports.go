package lookupd

import (
	"context"
	"net/netip"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// ReportStats counts reports by class, and the re-probes misses started.
type ReportStats struct {
	Miss      uint64 `json:"miss"`
	Confirmed uint64 `json:"confirmed"`
	Unrelated uint64 `json:"unrelated"`
	Malformed uint64 `json:"malformed"`
	// Reprobes counts the probes that misses started; a miss while the
	// address's re-probe (or any load of its facts) runs starts none.
	Reprobes uint64 `json:"reprobes"`
}

// Report classifies a report that a delivery attempt at addr failed with
// text (decision.Decider.Report, which starts the re-probe of a miss) and
// counts it.
func (s *Service) Report(ctx context.Context, addr netip.Addr, text string) decision.ReportClass {
	c, started := s.decider.Report(ctx, &s.st.Load().Settings, addr, text)
	s.counters.reported(c, started)
	return c
}

// Malformed counts a malformed report (a bad address); it implements
// socket.MalformedObserver.
func (s *Service) Malformed(verb string) {
	if verb == socket.VerbReport {
		s.counters.reported(decision.ReportMalformed, false)
	}
}

// reportStats are the counters of Stats.
func (s *Service) reportStats() ReportStats {
	return ReportStats{
		Miss:      s.counters.reports[decision.ReportMiss].Load(),
		Confirmed: s.counters.reports[decision.ReportConfirmed].Load(),
		Unrelated: s.counters.reports[decision.ReportUnrelated].Load(),
		Malformed: s.counters.reports[decision.ReportMalformed].Load(),
		Reprobes:  s.counters.reprobes.Load(),
	}
}
