package lookupd

import (
	"context"
	"fmt"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// lookupMX is the domain cache's loader. A DNS failure is kept (briefly)
// as an entry, so that a broken domain is not asked again per request.
// With a fleet, Redis is asked first (and what it holds of the hosts'
// addresses and their facts comes with the MX set) and what DNS says is
// written there (DNS failures are not: another relay's resolver may do
// better).
func (s *Service) lookupMX(ctx context.Context, domain string) (domainEntry, error) {
	l := s.redis
	if l == nil {
		return s.resolveMX(ctx, domain)
	}
	e, ok, err := s.getChain(ctx, l, domain)
	if ok {
		l.count(levelDomains, fromRedis)
		return e, nil
	}
	e, rerr := s.resolveMX(ctx, domain)
	if rerr != nil {
		return domainEntry{}, rerr
	}
	l.count(levelDomains, dnsSource(err))
	if e.Err == "" {
		l.write(ctx, l.domainKey(domain), &e, e.Set.TTL)
	}
	return e, nil
}

// resolveMX asks DNS for domain's MX set. A DNS failure is an entry (Err,
// ErrKind); the error is the load's context ending (the service closing):
// nothing was learnt of the domain, and nothing is cached.
func (s *Service) resolveMX(ctx context.Context, domain string) (domainEntry, error) {
	st := s.st.Load()
	lctx, cancel := context.WithTimeout(ctx, 4*st.cfg.DNS.Timeout.Duration+time.Second)
	defer cancel()
	set, err := st.resolver.LookupMX(lctx, domain)
	if err != nil {
		if ctx.Err() != nil {
			return domainEntry{}, fmt.Errorf("look up MX of %s: %w", domain, context.Cause(ctx))
		}
		s.log.Warn("dns", "domain", domain, "err", err)
		s.metrics.dnsError("mx", err)
		kind := dnsFailureOf(err)
		s.dnsWatch.observe(s.log, patternOf(kind))
		return domainEntry{Err: err.Error(), ErrKind: kind}, nil
	}
	if set.NXDomain {
		s.dnsWatch.observe(s.log, DNSAllNXDomain)
	} else {
		s.dnsWatch.observe(s.log, DNSWorks)
	}
	set.Domain = "" // the cache key has it; a copy per domain is 2 MiB per 100,000
	return domainEntry{Set: set}, nil
}

// lookupNames is the name cache's loader: the addresses of an MX host
// name; with a fleet, from Redis or written there, as lookupMX.
func (s *Service) lookupNames(ctx context.Context, host string) (cache.Loaded[nameEntry], error) {
	l := s.redis
	if l == nil {
		e, err := s.resolveNames(ctx, host)
		return cache.Loaded[nameEntry]{Value: e}, err
	}
	e, ok, err := l.getName(ctx, host)
	if ok {
		l.count(levelNames, fromRedis)
		return cache.Loaded[nameEntry]{Value: e, Origin: originRedis}, nil
	}
	e, rerr := s.resolveNames(ctx, host)
	if rerr != nil {
		return cache.Loaded[nameEntry]{}, rerr
	}
	l.count(levelNames, dnsSource(err))
	if e.Err == "" {
		l.write(ctx, l.nameKey(host), &e, e.TTL)
	}
	return cache.Loaded[nameEntry]{Value: e}, nil
}

// resolveNames asks DNS for host's addresses; a failure is as resolveMX's.
func (s *Service) resolveNames(ctx context.Context, host string) (nameEntry, error) {
	st := s.st.Load()
	lctx, cancel := context.WithTimeout(ctx, 4*st.cfg.DNS.Timeout.Duration+time.Second)
	defer cancel()
	addrs, ttl, err := st.resolver.LookupAddrs(lctx, host)
	if err != nil {
		if ctx.Err() != nil {
			return nameEntry{}, fmt.Errorf("look up addresses of %s: %w", host, context.Cause(ctx))
		}
		s.log.Warn("dns", "host", host, "err", err)
		s.metrics.dnsError("address", err)
		kind := dnsFailureOf(err)
		s.dnsWatch.observe(s.log, patternOf(kind))
		return nameEntry{Err: err.Error(), ErrKind: kind}, nil
	}
	s.dnsWatch.observe(s.log, DNSWorks)
	if len(addrs) > maxStoredAddrs {
		addrs = addrs[:maxStoredAddrs]
	}
	return nameEntry{Addrs: addrs, TTL: ttl}, nil
}

// loadFacts is the facts cache's loader: a probe of the address, or with a
// fleet the facts in Redis or the probe of the relay holding its lock.
func (s *Service) loadFacts(ctx context.Context, k addrKey) (cache.Loaded[factsRecord], error) {
	return s.loadFactsAfter(ctx, k, 0)
}

// loadFactsAfter is loadFacts taking only facts probed after after (0:
// any): a re-probe after a report's miss must not take back from Redis the
// facts the report disproved (feedback.go's reprobe).
func (s *Service) loadFactsAfter(ctx context.Context, k addrKey, after unixNano) (cache.Loaded[factsRecord], error) {
	var l cache.Loaded[factsRecord]
	var err error
	if s.redis != nil {
		l, err = s.loadFactsShared(ctx, s.redis, k, after)
	} else {
		l.Value, err = s.probeAddr(ctx, k)
	}
	if err != nil {
		return l, err
	}
	return s.newFacts(k, l), nil
}

// newFacts is the one place where new facts for an address (a probe's,
// another relay's through Redis, a re-probe's) replace the old ones: every
// load of the facts cache and the facts a chain brings (getChain) pass
// here before the cache stores them.
func (s *Service) newFacts(k addrKey, l cache.Loaded[factsRecord]) cache.Loaded[factsRecord] {
	f := s.withViews(k, l.Value.facts(k)) // earlier disagreeing views stay (lookupd/observe, views.go)
	l.Value = newFactsRecord(&f)
	return l
}

// probeAddr waits for the address's rate-limit turn, then for a probe
// slot, then probes, and logs one line. The waits are not facts: they end
// only when the service closes, and then the load fails (uncached), never
// as an error fact.
func (s *Service) probeAddr(ctx context.Context, k addrKey) (factsRecord, error) {
	if err := s.limiter.wait(ctx, k.AP.Addr()); err != nil {
		return factsRecord{}, err
	}
	slots := *s.slots.Load()
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return factsRecord{}, fmt.Errorf("wait for a probe slot: %w", context.Cause(ctx))
	}
	defer func() { <-slots }()

	st := s.st.Load()
	o := st.probe
	o.Client = tlswire.Client(k.Client.String())
	if old, _, _, ok := s.facts.Peek(k); ok {
		// What the last probe saw decides which connection comes first
		// (docs/probe.md: a DHE-only server gets the modelled hello first).
		f := old.facts(k)
		o.Order = probe.OrderFor(&f)
	}
	s.metrics.probeStarted()
	f := s.prober(ctx, k.AP, o)
	s.probes.Add(1)
	s.metrics.probeDone(&f)
	s.log.Info("probe", "addr", k.AP.String(), "client", o.Client, "outcome", f.Outcome, "stage", f.Stage,
		"tls", f.TLSVersion, "key_type", f.KeyType, "key_bits", f.KeyBits, "dh_bits", f.DHBits, "tls13", f.TLS13,
		"no_dhe", f.NoDHE, "verdict", st.policy.Of(&f).String(), "duration", f.Duration.Round(time.Millisecond), "err", f.Error)
	if ctx.Err() != nil && f.Outcome == probe.Error {
		// Cut short by Close: nothing was learnt about the server.
		return factsRecord{}, fmt.Errorf("probe %s: %w", k.AP, context.Cause(ctx))
	}
	return newFactsRecord(&f), nil
}
