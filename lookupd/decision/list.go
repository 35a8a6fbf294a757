package decision

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// listBudget bounds the size of a list answer (well under socket.MaxAnswer):
// past it, entries are left out and Listed.Truncated is set.
const listBudget = 512 << 10

// maxListedLeads bounds the names and domains listed per address.
const maxListedLeads = 20

// Listed answers the list verb: what the daemon knows to be flagged now,
// from cached data only (nothing is looked up or probed), under the policy
// in force, so that an admin can write to those postmasters: one entry per
// server (address), with the names and domains that lead to it.
type Listed struct {
	Addrs     []ListedAddr     `json:"addresses"`
	Domains   []ListedDomain   `json:"domains"`
	Overrides []ListedOverride `json:"overrides"`
	Truncated bool             `json:"truncated,omitempty"` // entries were left out to bound the answer
}

// ListedAddr is an address whose cached facts are flagged.
type ListedAddr struct {
	Addr    netip.AddrPort  `json:"addr"`
	Verdict verdict.Verdict `json:"verdict"`
	Reason  string          `json:"reason"`
	KeyType string          `json:"key_type,omitempty"`
	KeyBits int             `json:"key_bits,omitempty"`
	DHBits  int             `json:"dh_bits,omitempty"`
	Probed  time.Time       `json:"probed"`
	Age     string          `json:"age"`
	Stale   bool            `json:"stale,omitempty"` // past its TTL: the next request re-probes it
	Names   []string        `json:"names"`           // cached MX host names that lead to it
	Domains []string        `json:"domains"`         // cached domains whose answer it flags
	More    int             `json:"more,omitempty"`  // names and domains left out past maxListedLeads each
}

// ListedDomain is a cached domain whose verdict, from the cached data and
// the overrides, is flagged.
type ListedDomain struct {
	Domain  string          `json:"domain"`
	Verdict verdict.Verdict `json:"verdict"`
	Source  Source          `json:"source"`             // "mx" (facts) or "override"
	Pattern string          `json:"override,omitempty"` // the override item, when one decides
	Hosts   []string        `json:"hosts"`              // the MX hosts that give the verdict
}

// ListedOverride is an item of [overrides] smallkey or tlsexport: it flags
// every domain and MX host it matches, without DNS or probe.
type ListedOverride struct {
	Item    string          `json:"item"`
	Verdict verdict.Verdict `json:"verdict"`
}

// List returns the flagged addresses, domains and override items under st,
// smallkey first, then by name. which is "smallkey" or "tlsexport" for one
// list, "" for both.
func (s *Decider) List(st *Settings, which string) (Listed, error) {
	want, err := listWanted(which)
	if err != nil {
		return Listed{}, err
	}
	l := Listed{Addrs: []ListedAddr{}, Domains: []ListedDomain{}, Overrides: []ListedOverride{}}
	byAddr := s.flaggedAddrs(st, want)
	s.addNames(st, byAddr)
	l.Domains = s.flaggedDomains(st, want, byAddr)
	for _, la := range byAddr {
		slices.Sort(la.Names)
		slices.Sort(la.Domains)
		l.Addrs = append(l.Addrs, *la)
	}
	l.Overrides = flaggedOverrides(st, want)
	l.sort()
	l.truncate()
	return l, nil
}

// listWanted is which verdicts the list verb's argument asks for.
func listWanted(which string) (func(verdict.Verdict) bool, error) {
	switch which {
	case "":
		return func(v verdict.Verdict) bool { return v != verdict.None }, nil
	case socket.ListSmallKey, socket.ListTLSExport, socket.ListNoDHE, socket.ListSecLevel1, socket.ListSecLevel0: // remedies (issue 19): seclevel0
		w, _ := verdict.Parse(which)
		return func(v verdict.Verdict) bool { return v == w }, nil
	}
	return nil, fmt.Errorf("%w: list takes smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing, not %q", socket.ErrBadRequest, which)
}

// flaggedAddrs are the addresses whose cached facts (the modelled
// client's) are flagged under st, by address.
func (s *Decider) flaggedAddrs(st *Settings, want func(verdict.Verdict) bool) map[netip.AddrPort]*ListedAddr {
	now := time.Now()
	client := store.SymOf(st.Client)
	byAddr := map[netip.AddrPort]*ListedAddr{}
	s.store.Facts.Range(func(k store.AddrKey, r store.Record, _ time.Time) bool {
		if k.Client != client {
			return true // another client's: not what answers are made of now
		}
		f := r.Facts(k)
		v := st.Policy.Of(&f)
		if !want(v) {
			return true
		}
		_, _, state, _ := s.store.Facts.Peek(k)
		la := &ListedAddr{Addr: k.AP, Verdict: v, Reason: st.Policy.Reason(&f), KeyType: f.KeyType, KeyBits: f.KeyBits,
			DHBits: f.DHBits, Probed: f.Time, Age: age(now, f.Time), Stale: state == cache.Stale, Names: []string{}, Domains: []string{}}
		byAddr[k.AP] = la
		return true
	})
	return byAddr
}

// addNames adds to each flagged address the cached host names that lead
// to it (and no override decides).
func (s *Decider) addNames(st *Settings, byAddr map[netip.AddrPort]*ListedAddr) {
	s.store.Names.Range(func(name string, e store.Name, _ time.Time) bool {
		if _, _, ok := st.Overrides.Match(name); ok {
			return true // the override decides this name, not its addresses
		}
		for _, a := range considered(st, e.Addrs) {
			if la := byAddr[a.Addr]; la != nil {
				la.Names = appendLead(la, la.Names, name)
			}
		}
		return true
	})
}

// flaggedDomains are the cached domains whose verdict, decided from cached
// data only, is flagged; each flagged address they lead to gets the domain.
func (s *Decider) flaggedDomains(st *Settings, want func(verdict.Verdict) bool, byAddr map[netip.AddrPort]*ListedAddr) []ListedDomain {
	out := []ListedDomain{}
	s.store.Domains.Range(func(name string, _ store.Domain, _ time.Time) bool {
		d := s.decide(context.Background(), st, name, modeCached, false)
		if !want(d.Verdict) {
			return true
		}
		ld := ListedDomain{Domain: name, Verdict: d.Verdict, Source: d.Source, Pattern: d.Pattern, Hosts: []string{}}
		for _, h := range d.MX {
			if h.Verdict != d.Verdict {
				continue
			}
			ld.Hosts = append(ld.Hosts, h.Name)
			if h.Source == SourceOverride && ld.Pattern == "" {
				ld.Source, ld.Pattern = SourceOverride, h.Pattern
			}
			for _, a := range h.Addrs {
				if la := byAddr[a.Addr]; la != nil && a.Verdict == d.Verdict && !slices.Contains(la.Domains, name) {
					la.Domains = appendLead(la, la.Domains, name)
				}
			}
		}
		out = append(out, ld)
		return true
	})
	return out
}

// flaggedOverrides are the items of [overrides] smallkey and tlsexport
// that are wanted.
func flaggedOverrides(st *Settings, want func(verdict.Verdict) bool) []ListedOverride {
	out := []ListedOverride{}
	for v, items := range map[verdict.Verdict][]string{
		verdict.SmallKey: st.Config.OverrideLists.SmallKey, verdict.TLSExport: st.Config.OverrideLists.TLSExport} {
		if want(v) {
			for _, item := range items {
				out = append(out, ListedOverride{Item: item, Verdict: v})
			}
		}
	}
	return out
}

// sort orders each list: smallkey first, then by address, domain or item.
func (l *Listed) sort() {
	slices.SortFunc(l.Addrs, func(a, b ListedAddr) int {
		return cmp.Or(cmp.Compare(b.Verdict, a.Verdict), a.Addr.Compare(b.Addr))
	})
	slices.SortFunc(l.Domains, func(a, b ListedDomain) int {
		return cmp.Or(cmp.Compare(b.Verdict, a.Verdict), cmp.Compare(a.Domain, b.Domain))
	})
	slices.SortFunc(l.Overrides, func(a, b ListedOverride) int {
		return cmp.Or(cmp.Compare(b.Verdict, a.Verdict), cmp.Compare(a.Item, b.Item))
	})
}

// appendLead appends a name or domain to list, at most maxListedLeads; past
// that it counts it in la.More.
func appendLead(la *ListedAddr, list []string, name string) []string {
	if len(list) >= maxListedLeads {
		la.More++
		return list
	}
	return append(list, name)
}

// truncate drops entries past listBudget (estimated bytes of JSON).
func (l *Listed) truncate() {
	budget := listBudget
	for i, a := range l.Addrs {
		budget -= 300 + len(a.Reason)
		for _, n := range a.Names {
			budget -= 3 + len(n)
		}
		for _, n := range a.Domains {
			budget -= 3 + len(n)
		}
		if budget < 0 {
			l.Addrs, l.Truncated = l.Addrs[:i], true
			break
		}
	}
	for i, d := range l.Domains {
		budget -= 100 + len(d.Domain) + len(d.Pattern)
		for _, h := range d.Hosts {
			budget -= 3 + len(h)
		}
		if budget < 0 {
			l.Domains, l.Truncated = l.Domains[:i], true
			break
		}
	}
	for i, o := range l.Overrides {
		if budget -= 40 + len(o.Item); budget < 0 {
			l.Overrides, l.Truncated = l.Overrides[:i], true
			break
		}
	}
}
