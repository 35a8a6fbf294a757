package lookupd

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// listBudget bounds the size of a list answer (well under socket.MaxAnswer): past
// it, entries are left out and Listed.Truncated is set.
const listBudget = 512 << 10

// Listed answers the list verb: what the daemon knows to be flagged now,
// from cached data only (nothing is looked up or probed), so that an admin
// can write to those postmasters.
type Listed struct {
	Hosts     []ListedHost   `json:"hosts"`
	Domains   []ListedDomain `json:"domains"`
	Truncated bool           `json:"truncated,omitempty"` // entries were left out to bound the answer
}

// ListedHost is an MX host whose cached probe outcome is smallkey or
// tlsexport (hosts that [overrides] names are left to the config).
type ListedHost struct {
	Name    string        `json:"name"`
	Outcome probe.Outcome `json:"outcome"`
	Addr    string        `json:"addr,omitempty"`
	KeyType string        `json:"key_type,omitempty"`
	KeyBits int           `json:"key_bits,omitempty"`
	DHBits  int           `json:"dh_bits,omitempty"`
	Probed  time.Time     `json:"probed"`
	Age     string        `json:"age"`
	Stale   bool          `json:"stale,omitempty"` // past its TTL: the next request re-probes it
}

// ListedDomain is a cached domain whose verdict, from its cached MX set and
// the cached outcomes and overrides of its MX hosts, is smallkey or
// tlsexport.
type ListedDomain struct {
	Domain  string    `json:"domain"`
	Verdict string    `json:"verdict"`
	Hosts   []string  `json:"hosts"`              // the MX hosts that give the verdict
	Source  string    `json:"source"`             // "probe" or "override" (of a host)
	Pattern string    `json:"override,omitempty"` // the override item, when one decides
	Probed  time.Time `json:"probed,omitzero"`    // the newest probe behind the verdict
	Age     string    `json:"age,omitempty"`      // its age
}

// List returns the flagged hosts and domains, smallkey first, then by name.
// which is "smallkey" or "tlsexport" for one list, "" for both.
func (s *Service) List(which string) (Listed, error) {
	switch which {
	case "", AnswerSmallKey, AnswerTLSExport:
	default:
		return Listed{}, fmt.Errorf("%w: list takes smallkey, tlsexport or nothing, not %q", socket.ErrBadRequest, which)
	}
	st := s.st.Load()
	now := time.Now()
	want := func(v string) bool {
		return (v == AnswerSmallKey || v == AnswerTLSExport) && (which == "" || v == which)
	}
	l := Listed{Hosts: []ListedHost{}, Domains: []ListedDomain{}}

	s.hosts.Range(func(name string, rec hostRecord, stored time.Time) bool {
		if _, _, ok := st.overrides.Match(name); ok || !want(string(rec.outcome())) {
			return true
		}
		r := rec.result(name)
		_, _, state, _ := s.hosts.Peek(name)
		l.Hosts = append(l.Hosts, ListedHost{
			Name: name, Outcome: r.Outcome, Addr: r.Addr, KeyType: r.KeyType, KeyBits: r.KeyBits, DHBits: r.DHBits,
			Probed: r.Time, Age: age(now, r.Time), Stale: state == cache.Stale,
		})
		return true
	})

	s.domains.Range(func(name string, e domainEntry, _ time.Time) bool {
		d := ListedDomain{Domain: name, Hosts: []string{}}
		if list, pat, ok := st.overrides.Match(name); ok {
			// Overrides changed since the MX set was cached: they decide.
			d.Verdict, d.Source, d.Pattern = overrideAnswer(list), "override", pat
		} else {
			s.listedVerdict(st, e, &d)
		}
		if want(d.Verdict) {
			l.Domains = append(l.Domains, d)
		}
		return true
	})

	rank := func(v string) int {
		if v == AnswerSmallKey {
			return 0
		}
		return 1
	}
	slices.SortFunc(l.Hosts, func(a, b ListedHost) int {
		return cmp.Or(cmp.Compare(rank(string(a.Outcome)), rank(string(b.Outcome))), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(l.Domains, func(a, b ListedDomain) int {
		return cmp.Or(cmp.Compare(rank(a.Verdict), rank(b.Verdict)), cmp.Compare(a.Domain, b.Domain))
	})
	l.truncate()
	return l, nil
}

// listedVerdict fills in d's verdict from the cached outcomes and the
// overrides of the MX hosts of e, as Decide would find them (max_mx hosts).
func (s *Service) listedVerdict(st *settings, e domainEntry, d *ListedDomain) {
	hosts := e.Set.Hosts
	if n := st.cfg.Probe.MaxMX; len(hosts) > n {
		hosts = hosts[:n]
	}
	outcomes := make([]probe.Outcome, len(hosts))
	results := make([]*probe.Result, len(hosts))
	patterns := make([]string, len(hosts))
	for i, h := range hosts {
		if list, pat, ok := st.overrides.Match(h.Name); ok {
			outcomes[i], patterns[i] = probe.Outcome(overrideAnswer(list)), pat
			continue
		}
		if rec, _, _, ok := s.hosts.Peek(h.Name); ok {
			r := rec.result(h.Name)
			outcomes[i], results[i] = r.Outcome, &r
		}
	}
	d.Verdict = Verdict(outcomes)
	if d.Verdict == "" {
		return
	}
	d.Source = "probe"
	var newest time.Time
	for i, h := range hosts {
		if string(outcomes[i]) != d.Verdict {
			continue
		}
		d.Hosts = append(d.Hosts, h.Name)
		switch r := results[i]; {
		case r == nil:
			if d.Pattern == "" {
				d.Source, d.Pattern = "override", patterns[i]
			}
		case r.Time.After(newest):
			newest = r.Time
		}
	}
	if !newest.IsZero() {
		d.Source, d.Pattern = "probe", ""
		d.Probed, d.Age = newest, age(time.Now(), newest)
	}
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return now.Sub(t).Round(time.Second).String()
}

// truncate drops entries past listBudget (estimated bytes of JSON).
func (l *Listed) truncate() {
	budget := listBudget
	for i, h := range l.Hosts {
		budget -= 200 + len(h.Name) + len(h.Addr)
		if budget < 0 {
			l.Hosts, l.Truncated = l.Hosts[:i], true
			break
		}
	}
	for i, d := range l.Domains {
		budget -= 150 + len(d.Domain) + len(d.Pattern)
		for _, h := range d.Hosts {
			budget -= 3 + len(h)
		}
		if budget < 0 {
			l.Domains, l.Truncated = l.Domains[:i], true
			break
		}
	}
}
