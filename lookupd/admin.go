package lookupd

import (
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// Stats are the service's counters.
type Stats struct {
	Uptime    string              `json:"uptime"`
	Answers   AnswerStats         `json:"answers"`
	Invalid   uint64              `json:"invalid"`
	Pending   uint64              `json:"pending"`
	Overrides uint64              `json:"overrides"`
	Hosts     cache.Stats         `json:"hosts"`
	Domains   cache.Stats         `json:"domains"`
	Conns     *socket.ServerStats `json:"conns,omitempty"`
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
		Uptime:    time.Since(s.started).Round(time.Second).String(),
		Answers:   AnswerStats{s.answers[0].Load(), s.answers[1].Load(), s.answers[2].Load()},
		Invalid:   s.invalid.Load(),
		Pending:   s.pending.Load(),
		Overrides: s.overrid.Load(),
		Hosts:     s.hosts.Stats(),
		Domains:   s.domains.Stats(),
	}
	if s.ConnStats != nil {
		c := s.ConnStats()
		st.Conns = &c
	}
	return st
}

// Flush forgets a domain and its MX hosts, or everything for "all".
func (s *Service) Flush(arg string) error {
	if arg == "all" {
		s.domains.Purge()
		s.hosts.Purge()
		return nil
	}
	name, err := mx.Normalize(arg)
	if err != nil {
		return err
	}
	if e, _, _, ok := s.domains.Peek(name); ok {
		for _, h := range e.Set.Hosts {
			s.hosts.Delete(h.Name)
		}
	}
	s.domains.Delete(name)
	s.hosts.Delete(name)
	return nil
}
