package lookupd

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
	"github.com/prometheus/client_golang/prometheus"
)

// Resolver is what the service asks of DNS; *mx.Resolver is the real one.
type Resolver = origin.Resolver

// Prober probes one address; probe.Addr is the real one.
type Prober = origin.Prober

// Service is the daemon's lookups wired together: the store of facts
// (lookupd/store), the origin that fills it (lookupd/origin, with
// lookupd/fleet before it), and the decision that answers from it with the
// settings in force (lookupd/decision). It implements socket.Handler.
type Service struct {
	st      atomic.Pointer[settings]
	store   *store.Store
	domains *cache.Cache[string, store.Domain]
	names   *cache.Cache[string, store.Name]
	facts   *cache.Cache[store.AddrKey, store.Record]
	direct  *origin.Direct // DNS and probes
	origin  origin.Origin  // direct, or the fleet's Redis before it
	decider *decision.Decider
	log     *slog.Logger

	newResolver func(*config.Config) Resolver

	// ConnStats, when set, adds the server's connection counters to stats.
	ConnStats func() socket.ServerStats

	metrics *Metrics // set by Instrument; nil records nothing
	// extras add what a decorator of the origin counts (the fleet's) to
	// Stats and to the metrics registered.
	extraStats      []func(*Stats)
	extraCollectors []prometheus.Collector

	counters *counters // read by Stats and by the metrics (counterCollector)
	started  time.Time

	// FinalSave, when set, is the save Close makes once the loads have
	// stopped (tlsprobed's: cache.file, logged as its other saves).
	FinalSave func() error

	closeOnce sync.Once
	closeErr  error
}

// settings is everything derived from a config; replaced whole on reload.
type settings struct {
	decision.Settings // what answers are decided with
	resolver          Resolver
	probe             probe.Options
}

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
	s := &Service{log: log, counters: newCounters(), started: time.Now()}
	s.newResolver = func(c *config.Config) Resolver {
		return &mx.Resolver{Servers: c.DNS.ServerAddrs(), Timeout: c.DNS.Timeout.Duration}
	}
	if res != nil {
		s.newResolver = func(*config.Config) Resolver { return res }
	}
	st, err := s.settingsOf(cfg)
	if err != nil {
		return nil, err
	}
	s.direct = origin.NewDirect(s.originSettings(st), cfg.Cache.Hosts, prober, observer{s}, log)
	s.st.Store(st)
	s.origin = s.direct
	if cfg.Redis.Enabled() {
		if err := s.withFleet(cfg); err != nil {
			return nil, err
		}
	}
	// Loads in flight are bounded by MaxPending; the probes running, by the
	// one probe semaphore (origin.Direct, probe.concurrency).
	s.store, err = store.New(store.Options{
		Hosts:      cfg.Cache.Hosts,
		Domains:    cfg.Cache.Domains,
		MaxPending: 64 * cfg.Probe.Concurrency,
		FactsTTL:   s.factsTTL,
		LoadMX:     s.origin.MX,
		LoadNames:  s.origin.Names,
		LoadFacts:  s.loadFacts,
		Log:        log,
	})
	if err != nil {
		return nil, err
	}
	s.domains, s.names, s.facts = s.store.Domains, s.store.Names, s.store.Facts
	s.decider = decision.New(s.store, s.loadFactsAfter, log)
	return s, nil
}

// Reload replaces the settings taken from cfg; the caches are kept, and
// answers follow the new policy at once, with no probe. A new
// probe.concurrency applies to the probes that start after it; what takes
// effect only on restart is named by RestartOnly.
func (s *Service) Reload(cfg *config.Config) error {
	st, err := s.settingsOf(cfg)
	if err != nil {
		return err
	}
	s.direct.Set(s.originSettings(st))
	s.st.Store(st)
	return nil
}

// settingsOf derives the settings of cfg.
func (s *Service) settingsOf(cfg *config.Config) (*settings, error) {
	ov, err := cfg.Overrides()
	if err != nil {
		return nil, err
	}
	return &settings{
		Settings: decision.Settings{
			Config:    cfg,
			Overrides: ov,
			Policy: verdict.Policy{
				Client:     cfg.Probe.Client,
				SecLevel:   cfg.Probe.OpenSSLSecLevel,
				KeyMinBits: cfg.Probe.KeyMinBits,
				DHMinBits:  cfg.Probe.DHMinBits,
				NoTLS13:    !cfg.Probe.TLS13,
			},
			Client: cfg.Probe.Client,
			Ignore: cfg.Probe.Networks(),
		},
		resolver: s.newResolver(cfg),
		probe: probe.Options{
			HELO:       HELOName(context.Background(), cfg),
			NoTLS13:    !cfg.Probe.TLS13,
			Timeout:    cfg.Probe.Timeout.Duration,
			Client:     cfg.Probe.Client,
			Ignore:     cfg.Probe.Networks(),
			SourceAddr: cfg.Probe.SourceAddr(),
		},
	}, nil
}

// originSettings are what the DNS and probe origin takes of st.
func (s *Service) originSettings(st *settings) origin.Settings {
	return origin.Settings{
		Resolver:    st.resolver,
		DNSTimeout:  st.Config.DNS.Timeout.Duration,
		Probe:       st.probe,
		Policy:      st.Policy,
		Rate:        st.Config.Probe.RatePerAddress.Limit(),
		Burst:       st.Config.Probe.RateBurst,
		Concurrency: st.Config.Probe.Concurrency,
		Earlier:     s.earlierFacts,
	}
}

// earlierFacts are the facts the cache holds for k, fresh or stale.
func (s *Service) earlierFacts(k store.AddrKey) (probe.Facts, bool) {
	r, _, _, ok := s.facts.Peek(k)
	if !ok {
		return probe.Facts{}, false
	}
	return r.Facts(k), true
}

// RestartOnly names the settings of next that differ from the running
// ones but take effect only on restart; empty when there are none.
func (s *Service) RestartOnly(next *config.Config) []string {
	cur := s.st.Load().Config
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
func (s *Service) factsTTL(r store.Record) time.Duration {
	c := s.st.Load().Config
	if r.IsError() {
		return c.Cache.ErrorTTL.Duration
	}
	return c.Cache.TTL.Duration
}

// Close stops the service, as litestream's DB.Close: it cancels the
// probes and DNS lookups in flight, waits for them until ctx ends, closes
// the connections to Redis, then makes the final save (FinalSave, when
// set). It returns the first error: ctx's when the loads outlived it (the
// save is still made: the caches are safe to read while loads run; the
// loads end on their own, within store.LoadCeiling), else the origin's
// or the save's. Only the first call does this; later calls return its
// error. The caches stay readable.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Service) close(ctx context.Context) error {
	var errs [3]error
	s.store.Cancel()
	stopped := make(chan struct{})
	go func() { // ends when the loads end, even after ctx
		s.store.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		errs[0] = fmt.Errorf("wait for probes and lookups: %w", ctx.Err())
	}
	errs[1] = s.origin.Close()
	if s.FinalSave != nil {
		errs[2] = s.FinalSave()
	}
	return cmp.Or(errs[:]...) // the first error
}

// Wait waits for background DNS lookups and probes to finish.
func (s *Service) Wait() {
	s.store.Wait()
}

// HELOName is the EHLO name the probes of a daemon with cfg use
// (origin.HELOName).
func HELOName(ctx context.Context, cfg *config.Config) string { return origin.HELOName(ctx, cfg) }

// HELO is the EHLO name the probes use now.
func (s *Service) HELO() string { return s.st.Load().probe.HELO }
