package lookupd

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
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
	// (feedback.go) and the re-probes they started.
	Reports ReportStats         `json:"reports"`
	Domains cache.Stats         `json:"domains"`   // domain -> MX set
	Names   cache.Stats         `json:"names"`     // MX host name -> addresses
	Addrs   cache.Stats         `json:"addresses"` // address -> facts
	Conns   *socket.ServerStats `json:"conns,omitempty"`
	Fleet   *FleetStats         `json:"fleet,omitempty"` // with [redis] url only
}

// FleetStats are the counters of the fleet's Redis level.
type FleetStats struct {
	Redis fleet.Stats `json:"redis"`
	// Loads counts local misses by cache ("domains", "names", "addresses")
	// and where their value came from: "redis" (there already), "peer"
	// (another relay's probe, picked up from Redis), "self" (looked up or
	// probed here and written to Redis), "alone" (Redis down).
	Loads map[string]map[string]uint64 `json:"loads"`
	// Rejected counts values in Redis ignored: "version", "corrupt".
	Rejected map[string]uint64 `json:"rejected"`
	// Locks counts probe locks taken ("won") and found held by another
	// relay ("lost").
	Locks map[string]uint64 `json:"locks"`
}

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
			Empty:     s.answers[verdict.None].Load(),
			TLSExport: s.answers[verdict.TLSExport].Load(),
			SmallKey:  s.answers[verdict.SmallKey].Load(),
			NoDHE:     s.answers[verdict.NoDHE].Load(),
			SecLevel1: s.answers[verdict.SecLevel1].Load(),
			SecLevel0: s.answers[verdict.SecLevel0].Load(),
		},
		Invalid:   s.invalid.Load(),
		Pending:   s.pending.Load(),
		Overrides: s.overrides.Load(),
		Probes:    s.probes.Load(),
		Reports:   s.reportStats(),
		Domains:   s.domains.Stats(),
		Names:     s.names.Stats(),
		Addrs:     s.facts.Stats(),
	}
	if s.ConnStats != nil {
		c := s.ConnStats()
		st.Conns = &c
	}
	if l := s.redis; l != nil {
		f := &FleetStats{Redis: l.c.Stats(), Loads: map[string]map[string]uint64{},
			Rejected: map[string]uint64{"version": l.rejected[0].Load(), "corrupt": l.rejected[1].Load()},
			Locks:    map[string]uint64{"won": l.locks[0].Load(), "lost": l.locks[1].Load()}}
		for c := range l.loads {
			m := map[string]uint64{}
			for src := range l.loads[c] {
				m[loadSourceNames[src]] = l.loads[c][src].Load()
			}
			f.Loads[levelNames3[c]] = m
		}
		st.Fleet = f
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
	if arg == "all" {
		s.domains.Purge()
		s.names.Purge()
		s.facts.Purge()
		if s.redis == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), flushWait)
		defer cancel()
		if _, err := s.redis.c.DelPrefix(ctx); err != nil {
			return fmt.Errorf("flushed locally, not in redis: %w", err)
		}
		return nil
	}
	name, err := mx.Normalize(arg)
	if err != nil {
		return err
	}
	var keys []string // in Redis
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	hosts := []string{name}
	addHosts := func(e domainEntry) {
		for _, h := range e.Set.Hosts {
			hosts = append(hosts, h.Name)
		}
	}
	if e, _, _, ok := s.domains.Peek(name); ok {
		addHosts(e)
	}
	if l := s.redis; l != nil {
		keys = append(keys, l.domainKey(name))
		if e, ok, _ := l.getDomain(ctx, name); ok {
			addHosts(e)
		}
	}
	for _, h := range hosts {
		var addrs []netip.Addr
		if e, _, _, ok := s.names.Peek(h); ok {
			addrs = e.Addrs
		}
		if l := s.redis; l != nil {
			keys = append(keys, l.nameKey(h))
			if e, ok, _ := l.getName(ctx, h); ok {
				addrs = append(addrs, e.Addrs...)
			}
		}
		for _, a := range addrs {
			keys = append(keys, s.flushAddr(a)...)
		}
		s.names.Delete(h)
	}
	s.domains.Delete(name)
	if s.redis != nil {
		if _, err := s.redis.c.Del(ctx, keys...); err != nil {
			return fmt.Errorf("flushed locally, not in redis: %w", err)
		}
	}
	return nil
}

// flushAddr forgets the facts of a at the configured port, for every
// client modelled, and returns their keys in Redis (none without a fleet).
func (s *Service) flushAddr(a netip.Addr) []string {
	port := uint16(s.st.Load().cfg.Probe.Port)
	var keys []string
	for _, c := range tlswire.Clients {
		k := addrKey{AP: netip.AddrPortFrom(a, port), Client: symOf(c)}
		s.facts.Delete(k)
		if s.redis != nil {
			keys = append(keys, s.redis.factsKey(k))
		}
	}
	return keys
}
