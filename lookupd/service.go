package lookupd

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// dnsErrorTTL is how long a SERVFAIL or a DNS timeout is remembered.
const dnsErrorTTL = 30 * time.Second

// Service turns a domain into a verdict: overrides, then the MX set, then
// the outcome of every MX host, cached. It implements Handler.
type Service struct {
	st      atomic.Pointer[settings]
	hosts   *cache.Cache[string, hostRecord]
	domains *cache.Cache[string, domainEntry]
	limiter *addrLimiter
	log     *slog.Logger

	// ConnStats, when set, adds the server's connection counters to stats.
	ConnStats func() socket.ServerStats

	metrics *Metrics // set by Instrument; nil records nothing

	answers [3]atomic.Uint64 // "", smallkey, tlsexport
	invalid atomic.Uint64
	pending atomic.Uint64
	overrid atomic.Uint64
	started time.Time
}

// settings is everything derived from a config; replaced whole on reload.
type settings struct {
	cfg       *config.Config
	overrides *config.Overrides
	resolver  *mx.Resolver
	probe     probe.Options
}

// domainEntry is a cached MX set (without its Domain: the key has it), or
// the DNS error that stood in its way.
type domainEntry struct {
	Set mx.Set `json:"set"`
	Err string `json:"err,omitempty"`
}

// NewService builds a service from a validated config. Cache sizes and
// TTLs are taken once; Reload changes the rest.
func NewService(cfg *config.Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{log: log, started: time.Now(), limiter: newAddrLimiter(cfg.Cache.Hosts)}
	if err := s.Reload(cfg); err != nil {
		return nil, err
	}
	loadTimeout := cfg.Probe.Timeout.Duration + 2*cfg.DNS.Timeout.Duration + 5*time.Second
	var err error
	s.hosts, err = cache.New(cache.Options[string, hostRecord]{
		Size:        cfg.Cache.Hosts,
		TTL:         func(r hostRecord) time.Duration { return s.hostTTL(r.outcome()) },
		Load:        s.probeHost,
		LoadTimeout: loadTimeout,
		Concurrency: cfg.Probe.Concurrency,
	})
	if err != nil {
		return nil, fmt.Errorf("create host cache: %w", err)
	}
	s.domains, err = cache.New(cache.Options[string, domainEntry]{
		Size: cfg.Cache.Domains,
		TTL: func(e domainEntry) time.Duration {
			if e.Err != "" {
				return dnsErrorTTL
			}
			return e.Set.TTL
		},
		Load:        s.lookupMX,
		LoadTimeout: 4*cfg.DNS.Timeout.Duration + time.Second,
		Concurrency: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create domain cache: %w", err)
	}
	return s, nil
}

// Reload replaces the settings taken from cfg; the caches are kept.
func (s *Service) Reload(cfg *config.Config) error {
	ov, err := cfg.Overrides()
	if err != nil {
		return err
	}
	st := &settings{
		cfg:       cfg,
		overrides: ov,
		resolver: &mx.Resolver{
			Servers: cfg.DNS.ServerAddrs(),
			Timeout: cfg.DNS.Timeout.Duration,
		},
		probe: probe.Options{
			Port:         cfg.Probe.Port,
			HELO:         cfg.Probe.HELO,
			Timeout:      cfg.Probe.Timeout.Duration,
			Client:       cfg.Probe.Client,
			DisableTLS13: !cfg.Probe.TLS13,
			KeyMinBits:   cfg.Probe.KeyMinBits,
			DHMinBits:    cfg.Probe.DHMinBits,
			Ignore:       cfg.Probe.Networks(),
			SourceAddr:   cfg.Probe.SourceAddr(),
		},
	}
	st.probe.Admit = s.limiter.wait
	s.limiter.setRate(cfg.Probe.RatePerAddress.Limit(), cfg.Probe.RateBurst)
	s.st.Store(st)
	return nil
}

func (s *Service) hostTTL(o probe.Outcome) time.Duration {
	c := s.st.Load().cfg
	if o == probe.Error {
		return c.Cache.ErrorTTL.Duration
	}
	return c.Cache.TTL.Duration
}

// lookupMX is the domain cache's loader.
func (s *Service) lookupMX(ctx context.Context, domain string) (domainEntry, error) {
	set, err := s.st.Load().resolver.LookupMX(ctx, domain)
	if err != nil {
		s.log.Warn("dns", "domain", domain, "err", err)
		s.metrics.dnsError("mx", err)
		return domainEntry{Err: err.Error()}, nil
	}
	set.Domain = "" // the cache key has it; a copy per domain is 2 MiB per 100,000
	return domainEntry{Set: set}, nil
}

// probeHost is the host cache's loader: it resolves the host's addresses
// and probes them, and logs one line.
func (s *Service) probeHost(ctx context.Context, host string) (hostRecord, error) {
	st := s.st.Load()
	start := time.Now()
	s.metrics.probeStarted()
	var r probe.Result
	addrs, _, err := st.resolver.LookupAddrs(ctx, host)
	if err != nil {
		s.metrics.dnsError("address", err)
		r = probe.Result{Host: host, Outcome: probe.Error, Stage: "dns", Error: err.Error(), Time: start, Duration: time.Since(start)}
	} else {
		r = probe.Host(ctx, host, addrs, st.probe)
	}
	s.log.Info("probe", "host", host, "addr", r.Addr, "outcome", r.Outcome, "stage", r.Stage,
		"tls", r.TLSVersion, "key_bits", r.KeyBits, "dh_bits", r.DHBits, "duration", r.Duration.Round(time.Millisecond), "err", r.Error)
	s.metrics.probeDone(&r)
	return newHostRecord(r), nil
}

// Wait waits for background DNS lookups and probes to finish.
func (s *Service) Wait() {
	s.hosts.Wait()
	s.domains.Wait()
}
