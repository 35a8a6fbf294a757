package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
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
	ConnStats func() ServerStats

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

// HostReport is what is known of one MX host of a domain.
type HostReport struct {
	Name    string        `json:"name"`
	Pref    uint16        `json:"pref"`
	Source  string        `json:"source"` // "override", "cache", "stale", "probe", "pending"
	Pattern string        `json:"override,omitempty"`
	Age     string        `json:"age,omitempty"`
	Outcome probe.Outcome `json:"outcome,omitempty"`
	Result  *probe.Result `json:"result,omitempty"`
}

// Decision is a domain's verdict with where it came from.
type Decision struct {
	Domain  string       `json:"domain"`
	Verdict string       `json:"verdict"`
	Source  string       `json:"source"` // "override", "mx", "dns", "dns-error", "pending", "invalid"
	Pattern string       `json:"override,omitempty"`
	Note    string       `json:"note,omitempty"`
	MX      []HostReport `json:"mx"`

	domainState cache.State // of the MX set's lookup, for Metrics
}

// Decide finds the verdict for a domain (or local@domain), waiting for DNS
// and probes until ctx is done; what is not ready by then keeps loading in
// the background and is reported as pending.
func (s *Service) Decide(ctx context.Context, raw string) Decision {
	return s.decide(ctx, raw, true)
}

// decide is Decide; without details it leaves out what only explain shows
// (each host's Result and Age), which a domain answer does not need: the
// cached answer then allocates next to nothing.
func (s *Service) decide(ctx context.Context, raw string, details bool) Decision {
	st := s.st.Load()
	d := Decision{Domain: raw, MX: []HostReport{}}
	name, err := mx.Normalize(raw)
	if err != nil {
		d.Source, d.Note = "invalid", err.Error()
		return d
	}
	d.Domain = name
	if list, pat, ok := st.overrides.Match(name); ok {
		d.Source, d.Pattern, d.Verdict = "override", pat, overrideAnswer(list)
		return d
	}
	e, state, err := s.domains.Get(ctx, name)
	d.domainState = state
	if err != nil {
		d.Source, d.Note = "pending", "MX lookup not finished: "+err.Error()
		return d
	}
	d.Source = "mx"
	switch {
	case e.Err != "":
		d.Source, d.Note = "dns-error", e.Err
	case e.Set.NXDomain:
		d.Source, d.Note = "dns", "domain does not exist"
	case e.Set.Null:
		d.Source, d.Note = "dns", "null MX: the domain accepts no mail"
	case len(e.Set.Hosts) == 0:
		d.Source, d.Note = "dns", "no MX and no address"
	case e.Set.Implicit:
		d.Note = "no MX record: implicit MX on the domain's own address"
	}
	hosts := e.Set.Hosts
	if n := st.cfg.Probe.MaxMX; len(hosts) > n {
		hosts = hosts[:n]
	}
	d.MX = make([]HostReport, len(hosts))
	var few [8]probe.Outcome // max_mx is 5 unless configured otherwise
	outcomes := few[:0]
	if len(hosts) > len(few) {
		outcomes = make([]probe.Outcome, 0, len(hosts))
	}
	outcomes = outcomes[:len(hosts)]
	// Look every host up at once, so that the probes of all missing hosts
	// start together; then wait for those until ctx is done.
	var fewPending [8]*cache.Pending[string, hostRecord]
	pending := fewPending[:0]
	if len(hosts) > len(fewPending) {
		pending = make([]*cache.Pending[string, hostRecord], 0, len(hosts))
	}
	pending = pending[:len(hosts)]
	for i, h := range hosts {
		rep := &d.MX[i]
		rep.Name, rep.Pref = h.Name, h.Pref
		if list, pat, ok := st.overrides.Match(h.Name); ok {
			rep.Source, rep.Pattern = "override", pat
			rep.Outcome = probe.Outcome(overrideAnswer(list))
			outcomes[i] = rep.Outcome
			continue
		}
		r, state, p, err := s.hosts.Lookup(h.Name)
		switch {
		case p != nil:
			pending[i], rep.Source = p, "pending"
		case err != nil: // cache.ErrBusy: too many probes queued already
			rep.Source = "pending"
		case state == cache.Stale:
			outcomes[i] = report(rep, &r, "stale", details)
		default:
			outcomes[i] = report(rep, &r, "cache", details)
		}
	}
	for i, p := range pending {
		if p == nil {
			continue
		}
		if r, err := p.Wait(ctx); err == nil {
			outcomes[i] = report(&d.MX[i], &r, "probe", details)
		}
	}
	d.Verdict = Verdict(outcomes)
	for _, rep := range d.MX {
		if rep.Source == "pending" && d.Verdict == "" {
			d.Note = strings.TrimPrefix(d.Note+"; probes still running, answer empty for now", "; ")
			break
		}
	}
	return d
}

// The non-empty domain answers as the server writes them, made once:
// shared, so never to be modified.
var (
	smallKeyBytes  = []byte(AnswerSmallKey)
	tlsExportBytes = []byte(AnswerTLSExport)
)

func answerBytes(verdict string) []byte {
	switch verdict {
	case "":
		return nil
	case AnswerSmallKey:
		return smallKeyBytes
	case AnswerTLSExport:
		return tlsExportBytes
	}
	return []byte(verdict)
}

// report fills rep (whose Name is set) from the host's record and returns
// its outcome.
func report(rep *HostReport, r *hostRecord, source string, details bool) probe.Outcome {
	rep.Source, rep.Outcome = source, r.outcome()
	if details {
		res := r.result(rep.Name)
		rep.Result = &res
		rep.Age = time.Since(res.Time).Round(time.Second).String()
	}
	return rep.Outcome
}

func overrideAnswer(list string) string {
	if list == "none" {
		return ""
	}
	return list
}

// Handle answers one request; it implements Handler.
func (s *Service) Handle(ctx context.Context, req Request) []byte {
	st := s.st.Load()
	switch req.Verb {
	case VerbDomain:
		start := time.Now()
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		d := s.decide(ctx, req.Arg, false)
		took := time.Since(start)
		s.count(d)
		s.metrics.answered(&d, took)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("answer", "domain", d.Domain, "answer", d.Verdict, "source", d.Source, "duration", took)
		}
		return answerBytes(d.Verdict)
	case VerbExplain:
		ctx, cancel := context.WithTimeout(ctx, st.cfg.Answer.Wait.Duration)
		defer cancel()
		return jsonLine(s.Decide(ctx, req.Arg))
	case VerbStats:
		return jsonLine(s.Stats())
	case VerbList:
		l, err := s.List(req.Arg)
		if err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return jsonLine(l)
	case VerbFlush:
		if err := s.Flush(req.Arg); err != nil {
			return []byte("error: " + err.Error() + "\n")
		}
		return []byte("ok\n")
	}
	return nil
}

func (s *Service) count(d Decision) {
	switch d.Verdict {
	case AnswerSmallKey:
		s.answers[1].Add(1)
	case AnswerTLSExport:
		s.answers[2].Add(1)
	default:
		s.answers[0].Add(1)
	}
	switch d.Source {
	case "invalid":
		s.invalid.Add(1)
		s.log.Warn("answer", "domain", d.Domain, "err", d.Note)
	case "pending":
		s.pending.Add(1)
	case "override":
		s.overrid.Add(1)
	}
	for _, h := range d.MX {
		if h.Source == "pending" {
			s.pending.Add(1)
			break
		}
	}
}

func jsonLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"error":` + fmt.Sprintf("%q", err.Error()) + "}\n")
	}
	return append(b, '\n')
}

// Stats are the service's counters.
type Stats struct {
	Uptime    string       `json:"uptime"`
	Answers   AnswerStats  `json:"answers"`
	Invalid   uint64       `json:"invalid"`
	Pending   uint64       `json:"pending"`
	Overrides uint64       `json:"overrides"`
	Hosts     cache.Stats  `json:"hosts"`
	Domains   cache.Stats  `json:"domains"`
	Conns     *ServerStats `json:"conns,omitempty"`
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

// Wait waits for background DNS lookups and probes to finish.
func (s *Service) Wait() {
	s.hosts.Wait()
	s.domains.Wait()
}
