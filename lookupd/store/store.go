package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
)

// Store is the three caches. Their loaders are the caller's (an origin,
// lookupd/origin); the store knows what an entry is and how long it lives.
type Store struct {
	Domains *cache.Cache[string, Domain]
	Names   *cache.Cache[string, Name]
	Facts   *cache.Cache[AddrKey, Record]
	log     *slog.Logger
	hosts   int
}

// Options are what New builds the caches with.
type Options struct {
	Hosts   int // cache.hosts: entries of the name and facts caches
	Domains int // cache.domains
	// MaxPending bounds the facts loads in flight (probes queued).
	MaxPending int
	// FactsTTL is how long facts stay fresh (cache.ttl, cache.error_ttl).
	FactsTTL  func(Record) time.Duration
	LoadMX    cache.LoadFunc[string, Domain]
	LoadNames cache.LoadFunc[string, Name]
	LoadFacts cache.LoadFunc[AddrKey, Record]
	Log       *slog.Logger
}

// New builds the three caches. The facts cache has no slots of its own
// (cache.Unbounded): the probes running are bounded by the origin's one
// probe semaphore, so a probe waiting for its rate-limit turn or a slot
// never blocks another address's.
func New(o Options) (*Store, error) {
	s := &Store{log: o.Log, hosts: o.Hosts}
	if s.log == nil {
		s.log = slog.Default()
	}
	var err error
	s.Facts, err = cache.New(cache.Options[AddrKey, Record]{
		Size:        o.Hosts,
		TTL:         o.FactsTTL,
		Load:        o.LoadFacts,
		LoadTimeout: LoadCeiling,
		Concurrency: cache.Unbounded,
		MaxPending:  o.MaxPending,
	})
	if err != nil {
		return nil, fmt.Errorf("create address cache: %w", err)
	}
	s.Names, err = cache.New(cache.Options[string, Name]{
		Size: o.Hosts,
		TTL: func(e Name) time.Duration {
			if e.Err != "" {
				return DNSErrorTTL
			}
			return e.TTL
		},
		// A DNS failure never replaces addresses already known (serve stale).
		Failed:      func(e Name) bool { return e.Err != "" },
		Load:        o.LoadNames,
		LoadTimeout: LoadCeiling,
		Concurrency: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create name cache: %w", err)
	}
	s.Domains, err = cache.New(cache.Options[string, Domain]{
		Size: o.Domains,
		TTL: func(e Domain) time.Duration {
			if e.Err != "" {
				return DNSErrorTTL
			}
			return e.Set.TTL
		},
		// A DNS failure never replaces an MX set already known (serve stale).
		Failed:      func(e Domain) bool { return e.Err != "" },
		Load:        o.LoadMX,
		LoadTimeout: LoadCeiling,
		Concurrency: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create domain cache: %w", err)
	}
	return s, nil
}

// Cancel cancels the loads in flight and makes later loads fail at once
// (Wait waits for them to end); the caches stay readable (for a final
// save).
func (s *Store) Cancel() {
	s.Facts.Close()
	s.Names.Close()
	s.Domains.Close()
}

// Wait waits for the loads in flight (background lookups and probes).
func (s *Store) Wait() {
	s.Domains.Wait()
	s.Names.Wait()
	s.Facts.Wait()
}

// Purge forgets everything.
func (s *Store) Purge() {
	s.Domains.Purge()
	s.Names.Purge()
	s.Facts.Purge()
}
