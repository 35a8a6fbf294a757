package decision

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Decide finds the verdict for a domain (or local@domain) under st,
// waiting for DNS and probes until ctx is done; what is not ready by then
// keeps loading in the background and is reported as pending. With
// details, what only explain shows is filled in (facts, ages, reasons).
func (s *Decider) Decide(ctx context.Context, st *Settings, raw string, details bool) Decision {
	return s.decide(ctx, st, raw, modeLive, details)
}

// mode says how decide asks the caches.
type mode uint8

const (
	modeLive   mode = iota // look up, start what is missing, wait for it until ctx ends
	modeCached             // what the caches hold now: nothing is looked up or probed (list)
)

// decide is the one path from a domain to its verdict, for answers,
// explain and list alike: overrides, the MX set, each host's addresses,
// each address's facts, then verdict.Policy.Judge and verdict.Tally. Without
// details it leaves out what only explain shows (facts, ages, reasons).
func (s *Decider) decide(ctx context.Context, st *Settings, raw string, m mode, details bool) Decision {
	d := Decision{Domain: raw}
	name, err := mx.Normalize(raw)
	if err != nil {
		d.Source, d.Note = SourceInvalid, err.Error()
		return d
	}
	d.Domain = name
	if list, pat, ok := st.Overrides.Match(name); ok {
		d.Source, d.Pattern, d.Verdict, d.overridden = SourceOverride, pat, overrideVerdict(list), true
		return d
	}
	var e store.Domain
	switch m {
	case modeCached:
		var ok bool
		if e, _, _, ok = s.store.Domains.Peek(name); !ok {
			d.Source, d.Note, d.pending = SourcePending, "MX set not cached", true
			return d
		}
	default:
		e, d.domainState, err = s.store.Domains.Get(ctx, name)
		if err != nil {
			d.Source, d.Note, d.pending = SourcePending, "MX lookup not finished: "+err.Error(), true
			return d
		}
	}
	d.Source = SourceMX
	switch {
	case e.Err != "":
		d.Source, d.Note = SourceDNSError, e.Err
	case e.Set.NXDomain:
		d.Source, d.Note = SourceDNS, "domain does not exist"
	case e.Set.Null:
		d.Source, d.Note = SourceDNS, "null MX: the domain accepts no mail"
	case len(e.Set.Hosts) == 0:
		d.Source, d.Note = SourceDNS, "no MX and no address"
	case e.Set.Implicit:
		d.Note = "no MX record: implicit MX on the domain's own address"
	}
	hosts := e.Set.Hosts
	if n := st.Config.Probe.MaxMX; len(hosts) > n {
		hosts = hosts[:n]
	}
	d.MX = make([]HostReport, len(hosts))
	s.gatherAddrs(ctx, st, d.MX, hosts, m, &d)
	s.gatherFacts(ctx, st, d.MX, m, details, &d)
	var t verdict.Tally
	for i := range d.MX {
		t.Merge(d.MX[i].tally)
	}
	d.Verdict = t.Verdict()
	if t.Split() {
		d.Note = strings.TrimPrefix(d.Note+"; no one transport gets TLS at every address of this domain: the answer gets TLS at the most of them", "; ")
	}
	if d.pending && d.Verdict == verdict.None {
		d.Note = strings.TrimPrefix(d.Note+"; lookups or probes still running, answer empty for now", "; ")
	}
	return d
}

// gatherAddrs fills in each host's override or addresses (those considered:
// probe.max_addresses of them, IPv6 first; ignored networks marked), looking
// up every missing host at once and then waiting for them until ctx ends.
func (s *Decider) gatherAddrs(ctx context.Context, st *Settings, reps []HostReport, hosts []mx.Host, m mode, d *Decision) {
	var few [8]*cache.Pending[string, store.Name]
	pending := few[:0]
	if len(hosts) > len(few) {
		pending = make([]*cache.Pending[string, store.Name], 0, len(hosts))
	}
	pending = pending[:len(hosts)]
	var fewEntries [8]store.Name
	entries := fewEntries[:0]
	if len(hosts) > len(fewEntries) {
		entries = make([]store.Name, 0, len(hosts))
	}
	entries = entries[:len(hosts)]
	for i, h := range hosts {
		rep := &reps[i]
		rep.Name, rep.Pref = h.Name, h.Pref
		if list, pat, ok := st.Overrides.Match(h.Name); ok {
			rep.Source, rep.Pattern, rep.Verdict = SourceOverride, pat, overrideVerdict(list)
			rep.tally.Force(rep.Verdict)
			d.overridden = true
			continue
		}
		if m == modeCached {
			e, _, state, ok := s.store.Names.Peek(h.Name)
			switch {
			case !ok:
				rep.Source = SourcePending
			case state == cache.Stale:
				entries[i], rep.Source = e, SourceStale
			default:
				entries[i], rep.Source = e, SourceCache
			}
			continue
		}
		e, state, p, err := s.store.Names.Lookup(h.Name)
		switch {
		case p != nil:
			pending[i], rep.Source = p, SourcePending
		case err != nil: // cache.ErrBusy: too many lookups queued already
			rep.Source = SourcePending
		case state == cache.Stale:
			entries[i], rep.Source = e, SourceStale
		default:
			entries[i], rep.Source = e, SourceCache
		}
	}
	for i, p := range pending {
		if p == nil {
			continue
		}
		if e, err := p.Wait(ctx); err == nil {
			entries[i], reps[i].Source = e, SourceLookup
		}
	}
	for i := range reps {
		rep := &reps[i]
		switch rep.Source {
		case SourceOverride:
			continue
		case SourcePending:
			d.pending = true
			rep.Note = "address lookup not finished"
			continue
		}
		e := &entries[i]
		if e.Err != "" {
			rep.Source, rep.Note = SourceDNSError, e.Err
			continue
		}
		rep.Addrs = considered(st, e.Addrs)
		if len(rep.Addrs) == 0 {
			rep.Note = "no address"
		}
	}
}

// considered are the AddrReports of the addresses Exim may try, as
// configured: the first probe.max_addresses (IPv6 first, as DNS gave them),
// those in probe.ignore_networks marked ignored and left out of the count,
// as Exim's ignore_target_hosts drops them.
func considered(st *Settings, addrs []netip.Addr) []AddrReport {
	var out []AddrReport
	n := 0
	for _, a := range addrs {
		if n == st.Config.Probe.MaxAddresses {
			break
		}
		ap := netip.AddrPortFrom(a, uint16(st.Config.Probe.Port))
		if slices.ContainsFunc(st.Ignore, func(p netip.Prefix) bool { return p.Contains(a) }) {
			out = append(out, AddrReport{Addr: ap, Source: SourceIgnored})
			continue
		}
		out = append(out, AddrReport{Addr: ap})
		n++
	}
	return out
}

// gatherFacts fills in the facts and verdict of every considered address,
// probing every missing one at once and then waiting for them until ctx
// ends; each host's verdict is the tally of its addresses' (verdict.Tally).
func (s *Decider) gatherFacts(ctx context.Context, st *Settings, reps []HostReport, m mode, details bool, d *Decision) {
	type wait struct {
		rep *AddrReport
		key store.AddrKey
		p   *cache.Pending[store.AddrKey, store.Record]
	}
	var waits []wait
	client := store.SymOf(st.Client)
	var now time.Time
	if details {
		now = time.Now()
	}
	for i := range reps {
		for j := range reps[i].Addrs {
			a := &reps[i].Addrs[j]
			if a.Source == SourceIgnored {
				continue
			}
			k := store.AddrKey{AP: a.Addr, Client: client}
			if m == modeCached {
				r, _, state, ok := s.store.Facts.Peek(k)
				switch {
				case !ok:
					a.Source = SourcePending
				case state == cache.Stale:
					s.judgeAddr(st, a, k, &r, SourceStale, details, now)
				default:
					s.judgeAddr(st, a, k, &r, SourceCache, details, now)
				}
				continue
			}
			r, state, p, err := s.store.Facts.Lookup(k)
			switch {
			case p != nil:
				a.Source = SourcePending
				waits = append(waits, wait{a, k, p})
			case err != nil: // cache.ErrBusy
				a.Source = SourcePending
			case state == cache.Stale:
				s.judgeAddr(st, a, k, &r, SourceStale, details, now)
			default:
				s.judgeAddr(st, a, k, &r, SourceCache, details, now)
				s.reprobeUnanswered(st, k, &r)
			}
		}
	}
	for _, w := range waits {
		if r, err := w.p.Wait(ctx); err == nil {
			s.judgeAddr(st, w.rep, w.key, &r, SourceProbe, details, time.Now())
		}
	}
	for i := range reps {
		for j := range reps[i].Addrs {
			a := &reps[i].Addrs[j]
			if a.Source == SourcePending {
				d.pending = true
			}
			reps[i].tally.Add(a.judgement)
		}
		if reps[i].Source != SourceOverride {
			reps[i].Verdict = reps[i].tally.Verdict()
		}
	}
}

// judgeAddr fills in an address's verdict under the policy in force, and
// with details its facts, age and reason.
// reprobeUnanswered starts a probe of k when its fresh facts r cannot
// answer the policy in force (verdict.Policy.Unanswered); the answer is
// given from r meanwhile, as from stale facts. Only a policy without TLS
// 1.3 finds facts unanswered: the others skip the conversion.
func (s *Decider) reprobeUnanswered(st *Settings, k store.AddrKey, r *store.Record) {
	if !st.Policy.NoTLS13 {
		return
	}
	if f := r.Facts(k); st.Policy.Unanswered(&f) {
		s.store.Facts.Refresh(k)
	}
}

func (s *Decider) judgeAddr(st *Settings, a *AddrReport, k store.AddrKey, r *store.Record, src Source, details bool, now time.Time) {
	f := r.Facts(k)
	a.judgement = st.Policy.Judge(&f)
	a.Source, a.Verdict, a.NoTLS = src, a.judgement.Verdict, a.judgement.NoTLS
	if details {
		a.Facts = &f
		a.Age = age(now, f.Time)
		a.Reason = st.Policy.Reason(&f)
	}
}

func overrideVerdict(list string) verdict.Verdict {
	v, _ := verdict.Parse(list) // the lists are named smallkey, tlsexport and none
	return v
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return now.Sub(t).Round(time.Second).String()
}
