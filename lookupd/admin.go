package lookupd

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Stats are the service's counters.
type Stats struct {
	Uptime  string      `json:"uptime"`
	HELO    string      `json:"helo"` // the EHLO name the probes use
	Answers AnswerStats `json:"answers"`
	Invalid uint64      `json:"invalid"`
	// Pending counts answers given before a lookup or probe they needed
	// had finished (empty for now).
	Pending uint64 `json:"pending"`
	// Overrides counts answers for which an override matched, of the
	// domain or of one of its MX hosts.
	Overrides uint64 `json:"overrides"`
	// Probes counts probes made (one per address at a time).
	Probes uint64 `json:"probes"`
	// Reports counts Exim's reports of failed deliveries by class
	// (reports.go, lookupd/decision) and the re-probes they started.
	Reports ReportStats         `json:"reports"`
	Domains cache.Stats         `json:"domains"`   // domain -> MX set
	Names   cache.Stats         `json:"names"`     // MX host name -> addresses
	Addrs   cache.Stats         `json:"addresses"` // address -> facts
	Conns   *socket.ServerStats `json:"conns,omitempty"`
	Fleet   *FleetStats         `json:"fleet,omitempty"` // with [redis] url only
}

// FleetStats are the counters of the fleet's Redis level.
type FleetStats = fleet.LevelStats

// AnswerStats counts domain answers by word.
type AnswerStats struct {
	Empty     uint64 `json:"empty"`
	SmallKey  uint64 `json:"smallkey"`
	TLSExport uint64 `json:"tlsexport"`
	NoDHE     uint64 `json:"nodhe"`     // the openssl client's answers
	SecLevel1 uint64 `json:"seclevel1"` // the openssl client's answers
	SecLevel0 uint64 `json:"seclevel0"` // the openssl client's answers (remedies, issue 19)
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	st := Stats{
		Uptime: time.Since(s.started).Round(time.Second).String(),
		HELO:   s.HELO(),
		Answers: AnswerStats{
			Empty:     s.counters.answersBy(verdict.None),
			TLSExport: s.counters.answersBy(verdict.TLSExport),
			SmallKey:  s.counters.answersBy(verdict.SmallKey),
			NoDHE:     s.counters.answersBy(verdict.NoDHE),
			SecLevel1: s.counters.answersBy(verdict.SecLevel1),
			SecLevel0: s.counters.answersBy(verdict.SecLevel0),
		},
		Invalid:   s.counters.invalid.Load(),
		Pending:   s.counters.pending.Load(),
		Overrides: s.counters.overrides.Load(),
		Probes:    s.counters.probesDone(),
		Reports:   s.reportStats(),
		Domains:   s.domains.Stats(),
		Names:     s.names.Stats(),
		Addrs:     s.facts.Stats(),
	}
	if s.ConnStats != nil {
		c := s.ConnStats()
		st.Conns = &c
	}
	for _, add := range s.extraStats {
		add(&st)
	}
	return st
}

// flushWait bounds the Redis side of a flush.
const flushWait = 10 * time.Second

// Flush forgets a domain, the addresses of its MX hosts and their facts
// (so the next request looks up and probes afresh), or everything for
// "all". A name that is not a cached domain is flushed as an MX host name.
// With a fleet the same goes from Redis (every key under redis.prefix for
// "all"); other relays keep what they hold locally until its TTL. The
// local flush is done even when Redis fails, and the error says so.
func (s *Service) Flush(arg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	if arg == "all" {
		s.store.Purge()
		if err := s.origin.Forget(ctx, &origin.Forget{All: true}); err != nil {
			return fmt.Errorf("flushed locally, %w", err)
		}
		return nil
	}
	name, err := mx.Normalize(arg)
	if err != nil {
		return err
	}
	f := &origin.Forget{Domain: name, Hosts: []string{name}}
	if e, _, _, ok := s.domains.Peek(name); ok {
		for _, h := range e.Set.Hosts {
			f.Hosts = append(f.Hosts, h.Name)
		}
	}
	for _, h := range f.Hosts {
		if e, _, _, ok := s.names.Peek(h); ok {
			f.Addrs = append(f.Addrs, e.Addrs...)
		}
	}
	// The origin (the fleet's Redis) forgets too, and adds the hosts and
	// addresses it held: the local flush forgets those as well.
	ferr := s.origin.Forget(ctx, f)
	for _, h := range f.Hosts {
		if e, _, _, ok := s.names.Peek(h); ok {
			s.flushAddrs(e.Addrs)
		}
		s.names.Delete(h)
	}
	s.flushAddrs(f.Addrs)
	s.domains.Delete(name)
	if ferr != nil {
		return fmt.Errorf("flushed locally, %w", ferr)
	}
	return nil
}

// flushAddrs forgets the facts of addrs at the configured port, for every
// client modelled.
func (s *Service) flushAddrs(addrs []netip.Addr) {
	port := uint16(s.st.Load().Config.Probe.Port)
	for _, a := range addrs {
		for _, c := range tlswire.Clients {
			s.facts.Delete(store.AddrKey{AP: netip.AddrPortFrom(a, port), Client: store.SymOf(c)})
		}
	}
}
