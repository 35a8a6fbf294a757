package lookupd

import (
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Stats are the service's counters.
type Stats struct {
	Uptime  string      `json:"uptime"`
	Answers AnswerStats `json:"answers"`
	Invalid uint64      `json:"invalid"`
	// Pending counts answers given before a lookup or probe they needed
	// had finished (empty for now).
	Pending uint64 `json:"pending"`
	// Overrides counts answers for which an override matched, of the
	// domain or of one of its MX hosts.
	Overrides uint64 `json:"overrides"`
	// Probes counts probes made (one per address at a time).
	Probes  uint64              `json:"probes"`
	Domains cache.Stats         `json:"domains"`   // domain -> MX set
	Names   cache.Stats         `json:"names"`     // MX host name -> addresses
	Addrs   cache.Stats         `json:"addresses"` // address -> facts
	Conns   *socket.ServerStats `json:"conns,omitempty"`
}

// AnswerStats counts domain answers by word.
type AnswerStats struct {
	Empty     uint64 `json:"empty"`
	SmallKey  uint64 `json:"smallkey"`
	TLSExport uint64 `json:"tlsexport"`
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	st := Stats{
		Uptime: time.Since(s.started).Round(time.Second).String(),
		Answers: AnswerStats{
			Empty:     s.answers[0].Load(),
			TLSExport: s.answers[1].Load(),
			SmallKey:  s.answers[2].Load(),
		},
		Invalid:   s.invalid.Load(),
		Pending:   s.pending.Load(),
		Overrides: s.overrides.Load(),
		Probes:    s.probes.Load(),
		Domains:   s.domains.Stats(),
		Names:     s.names.Stats(),
		Addrs:     s.facts.Stats(),
	}
	if s.ConnStats != nil {
		c := s.ConnStats()
		st.Conns = &c
	}
	return st
}

// Flush forgets a domain, the addresses of its MX hosts and their facts
// (so the next request looks up and probes afresh), or everything for
// "all". A name that is not a cached domain is flushed as an MX host name.
func (s *Service) Flush(arg string) error {
	if arg == "all" {
		s.domains.Purge()
		s.names.Purge()
		s.facts.Purge()
		return nil
	}
	name, err := mx.Normalize(arg)
	if err != nil {
		return err
	}
	hosts := []string{name}
	if e, _, _, ok := s.domains.Peek(name); ok {
		for _, h := range e.Set.Hosts {
			hosts = append(hosts, h.Name)
		}
	}
	for _, h := range hosts {
		if e, _, _, ok := s.names.Peek(h); ok {
			for _, a := range e.Addrs {
				s.flushAddr(a)
			}
		}
		s.names.Delete(h)
	}
	s.domains.Delete(name)
	return nil
}

// flushAddr forgets the facts of a at the configured port, for every
// client modelled.
func (s *Service) flushAddr(a netip.Addr) {
	port := uint16(s.st.Load().cfg.Probe.Port)
	for _, c := range []string{tlswire.ClientGnuTLS, tlswire.ClientOpenSSL} {
		s.facts.Delete(addrKey{AP: netip.AddrPortFrom(a, port), Client: symOf(c)})
	}
}
