package lookupd

import (
	"context"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// HostReport is what is known of one MX host of a domain.
type HostReport struct {
	Name    string        `json:"name"`
	Pref    uint16        `json:"pref"`
	Source  string        `json:"source"` // "override", "cache", "stale", "probe", "pending"
	Pattern string        `json:"override,omitempty"`
	Age     string        `json:"age,omitempty"`
	Outcome probe.Outcome `json:"outcome,omitempty"`
	Result  *probe.Result `json:"result,omitempty"`
}

// Decision is a domain's verdict with where it came from.
type Decision struct {
	Domain  string       `json:"domain"`
	Verdict string       `json:"verdict"`
	Source  string       `json:"source"` // "override", "mx", "dns", "dns-error", "pending", "invalid"
	Pattern string       `json:"override,omitempty"`
	Note    string       `json:"note,omitempty"`
	MX      []HostReport `json:"mx"`

	domainState cache.State // of the MX set's lookup, for Metrics
}

// Decide finds the verdict for a domain (or local@domain), waiting for DNS
// and probes until ctx is done; what is not ready by then keeps loading in
// the background and is reported as pending.
func (s *Service) Decide(ctx context.Context, raw string) Decision {
	return s.decide(ctx, raw, true)
}

// decide is Decide; without details it leaves out what only explain shows
// (each host's Result and Age), which a domain answer does not need: the
// cached answer then allocates next to nothing.
func (s *Service) decide(ctx context.Context, raw string, details bool) Decision {
	st := s.st.Load()
	d := Decision{Domain: raw, MX: []HostReport{}}
	name, err := mx.Normalize(raw)
	if err != nil {
		d.Source, d.Note = "invalid", err.Error()
		return d
	}
	d.Domain = name
	if list, pat, ok := st.overrides.Match(name); ok {
		d.Source, d.Pattern, d.Verdict = "override", pat, overrideAnswer(list)
		return d
	}
	e, state, err := s.domains.Get(ctx, name)
	d.domainState = state
	if err != nil {
		d.Source, d.Note = "pending", "MX lookup not finished: "+err.Error()
		return d
	}
	d.Source = "mx"
	switch {
	case e.Err != "":
		d.Source, d.Note = "dns-error", e.Err
	case e.Set.NXDomain:
		d.Source, d.Note = "dns", "domain does not exist"
	case e.Set.Null:
		d.Source, d.Note = "dns", "null MX: the domain accepts no mail"
	case len(e.Set.Hosts) == 0:
		d.Source, d.Note = "dns", "no MX and no address"
	case e.Set.Implicit:
		d.Note = "no MX record: implicit MX on the domain's own address"
	}
	hosts := e.Set.Hosts
	if n := st.cfg.Probe.MaxMX; len(hosts) > n {
		hosts = hosts[:n]
	}
	d.MX = make([]HostReport, len(hosts))
	var few [8]probe.Outcome // max_mx is 5 unless configured otherwise
	outcomes := few[:0]
	if len(hosts) > len(few) {
		outcomes = make([]probe.Outcome, 0, len(hosts))
	}
	outcomes = outcomes[:len(hosts)]
	// Look every host up at once, so that the probes of all missing hosts
	// start together; then wait for those until ctx is done.
	var fewPending [8]*cache.Pending[string, hostRecord]
	pending := fewPending[:0]
	if len(hosts) > len(fewPending) {
		pending = make([]*cache.Pending[string, hostRecord], 0, len(hosts))
	}
	pending = pending[:len(hosts)]
	for i, h := range hosts {
		rep := &d.MX[i]
		rep.Name, rep.Pref = h.Name, h.Pref
		if list, pat, ok := st.overrides.Match(h.Name); ok {
			rep.Source, rep.Pattern = "override", pat
			rep.Outcome = probe.Outcome(overrideAnswer(list))
			outcomes[i] = rep.Outcome
			continue
		}
		r, state, p, err := s.hosts.Lookup(h.Name)
		switch {
		case p != nil:
			pending[i], rep.Source = p, "pending"
		case err != nil: // cache.ErrBusy: too many probes queued already
			rep.Source = "pending"
		case state == cache.Stale:
			outcomes[i] = report(rep, &r, "stale", details)
		default:
			outcomes[i] = report(rep, &r, "cache", details)
		}
	}
	for i, p := range pending {
		if p == nil {
			continue
		}
		if r, err := p.Wait(ctx); err == nil {
			outcomes[i] = report(&d.MX[i], &r, "probe", details)
		}
	}
	d.Verdict = Verdict(outcomes)
	for _, rep := range d.MX {
		if rep.Source == "pending" && d.Verdict == "" {
			d.Note = strings.TrimPrefix(d.Note+"; probes still running, answer empty for now", "; ")
			break
		}
	}
	return d
}

// report fills rep (whose Name is set) from the host's record and returns
// its outcome.
func report(rep *HostReport, r *hostRecord, source string, details bool) probe.Outcome {
	rep.Source, rep.Outcome = source, r.outcome()
	if details {
		res := r.result(rep.Name)
		rep.Result = &res
		rep.Age = time.Since(res.Time).Round(time.Second).String()
	}
	return rep.Outcome
}

func overrideAnswer(list string) string {
	if list == "none" {
		return ""
	}
	return list
}
