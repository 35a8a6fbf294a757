package lookupd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// dnsErrorTTL is how long a SERVFAIL or a DNS timeout is remembered.
const dnsErrorTTL = 30 * time.Second

// maxStoredAddrs bounds the addresses kept per host name, whatever DNS
// says; probe.max_addresses of them are considered when answering.
const maxStoredAddrs = 32

// loadCeiling bounds one load of the caches: a probe may first wait for
// its address's rate-limit turn and for a probe slot; the probe and the DNS
// lookups bound themselves with the timeouts in force.
const loadCeiling = time.Hour

// Resolver is what the service asks of DNS; *mx.Resolver is the real one.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) (mx.Set, error)
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error)
}

// Prober probes one address; probe.Addr is the real one.
type Prober func(ctx context.Context, ap netip.AddrPort, o probe.Options) probe.Facts

// Service turns a domain into a verdict. It keeps facts, not verdicts, in
// three caches: domain -> MX set, host name -> addresses, address -> what a
// probe observed there (docs/design.md sections 3 and 5); it computes the verdict
// when it answers, with the policy in force. It implements socket.Handler.
type Service struct {
	st      atomic.Pointer[settings]
	domains *cache.Cache[string, domainEntry]
	names   *cache.Cache[string, nameEntry]
	facts   *cache.Cache[addrKey, factsRecord]
	limiter *addrLimiter
	slots   atomic.Pointer[chan struct{}] // a token per running probe; replaced on reload
	log     *slog.Logger

	newResolver func(*config.Config) Resolver
	prober      Prober

	// ConnStats, when set, adds the server's connection counters to stats.
	ConnStats func() socket.ServerStats

	metrics *Metrics    // set by Instrument; nil records nothing
	redis   *redisLevel // the fleet's Redis ([redis] url); nil without

	answers   [verdict.Count]atomic.Uint64 // by verdict
	invalid   atomic.Uint64
	pending   atomic.Uint64
	overrides atomic.Uint64
	probes    atomic.Uint64
	started   time.Time

	dnsWatch dnsWatch // logs when every DNS lookup fails (dnswatch.go)

	reports  [reportClasses]atomic.Uint64 // by class (feedback.go)
	reprobes atomic.Uint64

	closeOnce sync.Once
}

// settings is everything derived from a config; replaced whole on reload.
type settings struct {
	cfg       *config.Config
	overrides *config.Overrides
	resolver  Resolver
	probe     probe.Options
	policy    verdict.Policy
	ignore    []netip.Prefix
}

// domainEntry is a cached MX set (without its Domain: the key has it), or
// the DNS error that stood in its way.
type domainEntry struct {
	Set     mx.Set     `json:"set"`
	Err     string     `json:"err,omitempty"`
	ErrKind DNSFailure `json:"err_kind,omitempty"`
}

// err is the DNS error that stood in the way, nil when there was none.
func (e *domainEntry) err() error { return storedDNSError(e.Err, e.ErrKind) }

// nameEntry is a cached host name's addresses, IPv6 first (the order Exim
// tries them), all of them up to maxStoredAddrs (the networks ignored and
// the number considered are applied when answering), or the DNS error.
type nameEntry struct {
	Addrs   []netip.Addr  `json:"addrs"`
	TTL     time.Duration `json:"ttl_ns,omitempty"`
	Err     string        `json:"err,omitempty"`
	ErrKind DNSFailure    `json:"err_kind,omitempty"`
}

// err is the DNS error that stood in the way, nil when there was none.
func (e *nameEntry) err() error { return storedDNSError(e.Err, e.ErrKind) }

// NewService builds a service from a validated config. Cache sizes and the
// bound on queued probes are taken once; Reload changes the rest.
func NewService(cfg *config.Config, log *slog.Logger) (*Service, error) {
	return newService(cfg, log, nil, nil)
}

// newService is NewService with a resolver and a prober of the caller's
// (tests); nil means the real ones.
func newService(cfg *config.Config, log *slog.Logger, res Resolver, prober Prober) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{log: log, started: time.Now(), limiter: newAddrLimiter(cfg.Cache.Hosts), prober: prober}
	s.newResolver = func(c *config.Config) Resolver {
		return &mx.Resolver{Servers: c.DNS.ServerAddrs(), Timeout: c.DNS.Timeout.Duration}
	}
	if res != nil {
		s.newResolver = func(*config.Config) Resolver { return res }
	}
	if s.prober == nil {
		s.prober = probe.Addr
	}
	if err := s.Reload(cfg); err != nil {
		return nil, err
	}
	if cfg.Redis.Enabled() {
		var err error
		if s.redis, err = newRedisLevel(cfg, s); err != nil {
			return nil, err
		}
	}
	// Loads in flight are bounded by MaxPending; the probes running, by the
	// one probe semaphore (s.slots, probe.concurrency): the cache has no
	// slots of its own, so a probe waiting for its rate-limit turn or a
	// probe slot never blocks another address's.
	pending := 64 * cfg.Probe.Concurrency
	var err error
	s.facts, err = cache.New(cache.Options[addrKey, factsRecord]{
		Size:        cfg.Cache.Hosts,
		TTL:         s.factsTTL,
		Load:        s.loadFacts,
		LoadTimeout: loadCeiling,
		Concurrency: cache.Unbounded,
		MaxPending:  pending,
	})
	if err != nil {
		return nil, fmt.Errorf("create address cache: %w", err)
	}
	s.names, err = cache.New(cache.Options[string, nameEntry]{
		Size: cfg.Cache.Hosts,
		TTL: func(e nameEntry) time.Duration {
			if e.Err != "" {
				return dnsErrorTTL
			}
			return e.TTL
		},
		// A DNS failure never replaces addresses already known (serve stale).
		Failed:      func(e nameEntry) bool { return e.Err != "" },
		Load:        s.lookupNames,
		LoadTimeout: loadCeiling,
		Concurrency: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create name cache: %w", err)
	}
	s.domains, err = cache.New(cache.Options[string, domainEntry]{
		Size: cfg.Cache.Domains,
		TTL: func(e domainEntry) time.Duration {
			if e.Err != "" {
				return dnsErrorTTL
			}
			return e.Set.TTL
		},
		// A DNS failure never replaces an MX set already known (serve stale).
		Failed:      func(e domainEntry) bool { return e.Err != "" },
		Load:        cache.Plain(s.lookupMX),
		LoadTimeout: loadCeiling,
		Concurrency: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("create domain cache: %w", err)
	}
	return s, nil
}

// Reload replaces the settings taken from cfg; the caches are kept, and
// answers follow the new policy at once, with no probe. A new
// probe.concurrency applies to the probes that start after it; what takes
// effect only on restart is named by RestartOnly.
func (s *Service) Reload(cfg *config.Config) error {
	ov, err := cfg.Overrides()
	if err != nil {
		return err
	}
	st := &settings{
		cfg:       cfg,
		overrides: ov,
		resolver:  s.newResolver(cfg),
		probe: probe.Options{
			HELO:       HELOName(context.Background(), cfg),
			NoTLS13:    !cfg.Probe.TLS13,
			Timeout:    cfg.Probe.Timeout.Duration,
			Client:     cfg.Probe.Client,
			Ignore:     cfg.Probe.Networks(),
			SourceAddr: cfg.Probe.SourceAddr(),
		},
		policy: verdict.Policy{
			Client:     cfg.Probe.Client,
			SecLevel:   cfg.Probe.OpenSSLSecLevel,
			KeyMinBits: cfg.Probe.KeyMinBits,
			DHMinBits:  cfg.Probe.DHMinBits,
			NoTLS13:    !cfg.Probe.TLS13,
		},
		ignore: cfg.Probe.Networks(),
	}
	s.limiter.setRate(cfg.Probe.RatePerAddress.Limit(), cfg.Probe.RateBurst)
	if old := s.slots.Load(); old == nil || cap(*old) != cfg.Probe.Concurrency {
		// Probes running keep the slot they hold in the old set; new ones
		// take the new set's.
		slots := make(chan struct{}, max(cfg.Probe.Concurrency, 1))
		s.slots.Store(&slots)
	}
	s.st.Store(st)
	return nil
}

// RestartOnly names the settings of next that differ from the running
// ones but take effect only on restart; empty when there are none.
func (s *Service) RestartOnly(next *config.Config) []string {
	cur := s.st.Load().cfg
	var out []string
	if next.Cache.Hosts != cur.Cache.Hosts {
		out = append(out, "cache.hosts")
	}
	if next.Cache.Domains != cur.Cache.Domains {
		out = append(out, "cache.domains")
	}
	if next.Redis != cur.Redis {
		out = append(out, "redis")
	}
	return out
}

// factsTTL is how long facts stay fresh: cache.ttl, or cache.error_ttl for
// a failed probe, from when they were stored (facts learnt earlier are
// stored with their probe's time: cache.SetStored).
// Facts a load took from Redis bring what is left of their TTL there
// (cache.Loaded.TTL).
func (s *Service) factsTTL(r factsRecord) time.Duration {
	c := s.st.Load().cfg
	if r.isError() {
		return c.Cache.ErrorTTL.Duration
	}
	return c.Cache.TTL.Duration
}

// Close stops the service: it cancels the probes and DNS lookups in flight
// and waits for them, then closes the connections to Redis. The caches stay
// readable (for a final save).
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.facts.Close()
		s.names.Close()
		s.domains.Close()
		s.Wait()
		if s.redis != nil {
			_ = s.redis.c.Close()
		}
	})
	s.Wait()
}

// Wait waits for background DNS lookups and probes to finish.
func (s *Service) Wait() {
	s.domains.Wait()
	s.names.Wait()
	s.facts.Wait()
}
