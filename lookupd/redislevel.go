package lookupd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/observe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// redisLevel is the fleet's Redis behind the three caches ([redis] url):
// a local miss asks it before looking up or probing, and what is learnt
// is written there, each value with what is left of its TTL as its
// expiry. Nil without [redis]: nothing of this runs.
type redisLevel struct {
	c *fleet.Client

	loads    [3][numLoadSources]atomic.Uint64 // [domains, names, addresses][source]
	rejected [2]atomic.Uint64                 // [other version, corrupt]
	locks    [2]atomic.Uint64                 // [won, lost to another relay]
}

// originRedis is the cache.Origin of addresses and facts a load took from
// Redis (explain's "redis", markRedis).
const originRedis cache.Origin = 1

// loadSource says where a load of a local miss got its value.
type loadSource uint8

const (
	fromRedis loadSource = iota // in Redis already
	fromPeer                    // another relay probed; picked up from Redis when it was there
	fromSelf                    // this relay looked up or probed, and wrote it to Redis
	fromAlone                   // Redis down or failing: looked up or probed alone
	numLoadSources
)

var loadSourceNames = [numLoadSources]string{"redis", "peer", "self", "alone"}

// Indexes of redisLevel.loads, as Metrics.lookups.
const (
	levelDomains = iota
	levelNames
	levelAddrs
)

var levelNames3 = [3]string{"domains", "names", "addresses"}

// Key kinds under redis.prefix.
const (
	kindDomain = "d"    // d:DOMAIN -> domainEntry
	kindName   = "n"    // n:HOST -> nameEntry
	kindFacts  = "f"    // f:CLIENT:IP:PORT -> factsRecord
	kindLock   = "lock" // lock:CLIENT:IP:PORT -> the token of the relay probing it
	kindRate   = "rate" // rate:IP -> the fleet's rate limit of that address
)

// Bounds of values read from Redis, beyond fleet.MaxValue.
const (
	maxSharedHosts = 100 // probe.max_mx's bound
	maxFactsBits   = 1 << 16
	maxFutureSkew  = 5 * time.Minute // facts observed later than now by more are corrupt
)

// maxLockRounds bounds how often a load goes back to the lock after the
// relay holding it let go without writing facts; then it probes alone.
const maxLockRounds = 4

// Backoff of a relay waiting for another's probe to land in Redis.
const (
	firstWatch = 2 * time.Millisecond
	maxWatch   = 100 * time.Millisecond
)

func newRedisLevel(cfg *config.Config, s *Service) (*redisLevel, error) {
	c, err := fleet.New(fleet.Options{
		URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout.Duration, CAFile: cfg.Redis.CAFile,
		Log:     s.log,
		Observe: func(op fleet.Op, took time.Duration, err error) { s.metrics.redisCall(op, took, err) },
	})
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	return &redisLevel{c: c}, nil
}

func (l *redisLevel) factsKey(k addrKey) string {
	return l.c.Key(kindFacts, k.Client.String(), k.AP.String())
}
func (l *redisLevel) lockKey(k addrKey) string {
	return l.c.Key(kindLock, k.Client.String(), k.AP.String())
}
func (l *redisLevel) rateKey(a netip.Addr) string { return l.c.Key(kindRate, a.String()) }
func (l *redisLevel) nameKey(host string) string  { return l.c.Key(kindName, host) }
func (l *redisLevel) domainKey(d string) string   { return l.c.Key(kindDomain, d) }

// read gets key's value into v and checks it with valid; a value of
// another version or a corrupt one is counted and is a miss.
func (l *redisLevel) read(ctx context.Context, key string, v any, valid func() error) (time.Duration, error) {
	b, ttl, err := l.c.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	return ttl, l.decode(key, b, v, valid)
}

// decode is read's check of a value: fleet.ErrMiss when it is not to be used.
func (l *redisLevel) decode(key string, b []byte, v any, valid func() error) error {
	err := fleet.Decode(key, b, v)
	if err == nil {
		err = valid()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fleet.ErrVersion):
		l.rejected[0].Add(1)
	default:
		l.rejected[1].Add(1)
	}
	return fmt.Errorf("%w: %s: %w", fleet.ErrMiss, key, err)
}

// write stores v under key for ttl; failures are the breaker's to log.
func (l *redisLevel) write(ctx context.Context, key string, v any, ttl time.Duration) {
	b, err := fleet.Encode(key, v)
	if err != nil {
		return
	}
	_ = l.c.Set(ctx, key, b, ttl)
}

func (l *redisLevel) count(level int, src loadSource) { l.loads[level][src].Add(1) }

// validFacts checks facts read from Redis.
func validFacts(r *factsRecord) error {
	views := r.views()
	if len(views) > observe.MaxViews { // remedies (issue 19): the views, bounded, each valid
		return fmt.Errorf("%d views", len(views))
	}
	for i := range views {
		if views[i].Also != nil {
			return errors.New("a view with views")
		}
		if err := validFacts(&views[i]); err != nil {
			return fmt.Errorf("view %d: %w", i, err)
		}
	}
	switch probe.ReportedFailure(r.Reported.String()) {
	case probe.ReportedNone, probe.ReportedDHTooSmall, probe.ReportedHandshake:
	default:
		return fmt.Errorf("unknown reported %q", r.Reported.String())
	}
	switch probe.Outcome(r.Outcome.String()) {
	case probe.OK, probe.NoTLS, probe.Error:
	default:
		return fmt.Errorf("unknown outcome %q", r.Outcome.String())
	}
	switch probe.NoDHE(r.NoDHE.String()) {
	case probe.NoDHENotTried, probe.NoDHEOK, probe.NoDHERefused:
	default:
		return fmt.Errorf("unknown no_dhe %q", r.NoDHE.String())
	}
	switch {
	case r.Time == 0:
		return errors.New("no time")
	case r.Time.time().After(time.Now().Add(maxFutureSkew)):
		return errors.New("observed in the future")
	case r.KeyBits < 0 || r.KeyBits > maxFactsBits || r.DHBits < 0 || r.DHBits > maxFactsBits:
		return errors.New("key or DH bits out of range")
	case r.Duration < 0 || r.Duration > loadCeiling:
		return errors.New("duration out of range")
	}
	return nil
}

// validName checks a host name's addresses read from Redis.
func validName(e *nameEntry) error {
	switch {
	case e.Err != "":
		return errors.New("a DNS error (never shared)")
	case len(e.Addrs) > maxStoredAddrs:
		return fmt.Errorf("%d addresses", len(e.Addrs))
	}
	for _, a := range e.Addrs {
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			return fmt.Errorf("bad address %v", a)
		}
	}
	return nil
}

// validDomain checks an MX set read from Redis.
func validDomain(e *domainEntry) error {
	s := &e.Set
	switch {
	case e.Err != "":
		return errors.New("a DNS error (never shared)")
	case s.Domain != "":
		return errors.New("a domain inside the value")
	case len(s.Hosts) > maxSharedHosts:
		return fmt.Errorf("%d hosts", len(s.Hosts))
	case (s.Null || s.NXDomain) && len(s.Hosts) > 0:
		return errors.New("hosts in a null MX or NXDOMAIN answer")
	}
	for _, h := range s.Hosts {
		if n, err := mx.Normalize(h.Name); err != nil || n != h.Name {
			return fmt.Errorf("bad host name %q", h.Name)
		}
	}
	return nil
}

// getDomain asks Redis for domain's MX set: ok when it was there.
func (l *redisLevel) getDomain(ctx context.Context, domain string) (domainEntry, bool, error) {
	var e domainEntry
	ttl, err := l.read(ctx, l.domainKey(domain), &e, func() error { return validDomain(&e) })
	if err != nil {
		return domainEntry{}, false, err
	}
	e.Set.TTL = ttl
	return e, true, nil
}

// The JSON names chainScript reads, written into it: the tags of
// domainEntry.Set, mx.Set.Hosts, mx.Host.Name and nameEntry.Addrs.
// TestChainScriptFields fails when a tag and these drift apart.
const (
	jsonSet   = "set"
	jsonHosts = "Hosts"
	jsonName  = "Name"
	jsonAddrs = "addrs"
)

// chainScript reads a domain's MX set, its hosts' addresses and their
// facts in one round trip: a local miss of a domain that the fleet knows
// costs one call, not three one after another. It parses the values only
// to find the next keys (the client checks every value it returns, as any
// other). KEYS[1] is the domain's key; ARGV the name keys' prefix, the
// facts keys' prefix (with the client), the port, the most hosts and the
// most addresses per host. It returns key, value, PTTL triples.
var chainScript = fleet.NewScript(chainSource)

// chainSource is chainScript's Lua, with the JSON names put in.
var chainSource = strings.NewReplacer(
	"@SET@", jsonSet, "@HOSTS@", jsonHosts, "@NAME@", jsonName, "@ADDRS@", jsonAddrs,
).Replace(`
local out = {}
local function take(k)
  local v = redis.call('GET', k)
  if not v then return nil end
  local ttl = redis.call('PTTL', k)
  if ttl <= 0 then return nil end
  out[#out+1] = k; out[#out+1] = v; out[#out+1] = ttl
  return v
end
local function body(v)
  local j = string.match(v, '^tp1 %x%x%x%x%x%x%x%x (.*)$')
  if not j then return nil end
  local ok, t = pcall(cjson.decode, j)
  if ok and type(t) == 'table' then return t end
  return nil
end
local d = take(KEYS[1])
local e = d and body(d)
if not e or type(e.@SET@) ~= 'table' or type(e.@SET@.@HOSTS@) ~= 'table' then return out end
local maxh, maxa = tonumber(ARGV[4]), tonumber(ARGV[5])
for i, h in ipairs(e.@SET@.@HOSTS@) do
  if i > maxh then break end
  local n = type(h) == 'table' and type(h.@NAME@) == 'string' and take(ARGV[1] .. h.@NAME@)
  local ne = n and body(n)
  if ne and type(ne.@ADDRS@) == 'table' then
    for j, a in ipairs(ne.@ADDRS@) do
      if j > maxa then break end
      if type(a) == 'string' then
        if string.find(a, ':', 1, true) then a = '[' .. a .. ']' end
        take(ARGV[2] .. a .. ':' .. ARGV[3])
      end
    end
  end
end
return out`)

// getChain asks Redis for domain's MX set and, with it, stores in the
// local caches what Redis holds of its hosts' addresses and their facts
// (chainScript): ok when the MX set was there.
func (s *Service) getChain(ctx context.Context, l *redisLevel, domain string) (domainEntry, bool, error) {
	st := s.st.Load()
	p := &st.cfg.Probe
	client := symOf(st.probe.Client)
	dkey, npfx, fpfx := l.domainKey(domain), l.nameKey(""), l.c.Key(kindFacts, client.String(), "")
	triples, err := l.c.RunTriples(ctx, chainScript, []string{dkey}, npfx, fpfx, p.Port, p.MaxMX, min(2*p.MaxAddresses, maxStoredAddrs))
	if err != nil {
		return domainEntry{}, false, err
	}
	if len(triples) == 0 || triples[0].Key != dkey {
		return domainEntry{}, false, fleet.ErrMiss
	}
	var e domainEntry
	if err := l.decode(dkey, triples[0].Val, &e, func() error { return validDomain(&e) }); err != nil {
		return domainEntry{}, false, err
	}
	e.Set.TTL = triples[0].TTL
	for _, t := range triples[1:] {
		switch {
		case strings.HasPrefix(t.Key, npfx):
			host := t.Key[len(npfx):]
			var ne nameEntry
			if l.decode(t.Key, t.Val, &ne, func() error { return validName(&ne) }) != nil {
				continue
			}
			ne.TTL = t.TTL
			s.names.SetLoaded(host, cache.Loaded[nameEntry]{Value: ne, Origin: originRedis})
			l.count(levelNames, fromRedis)
		case strings.HasPrefix(t.Key, fpfx):
			ap, err := netip.ParseAddrPort(t.Key[len(fpfx):])
			if err != nil {
				continue
			}
			k := addrKey{AP: ap, Client: client}
			var r factsRecord
			if l.decode(t.Key, t.Val, &r, func() error { return validFacts(&r) }) != nil {
				continue
			}
			s.facts.SetLoaded(k, s.newFacts(k, l.took(r, t.TTL, fromRedis)))
		}
	}
	return e, true, nil
}

// getName asks Redis for host's addresses: ok when they were there.
func (l *redisLevel) getName(ctx context.Context, host string) (nameEntry, bool, error) {
	var e nameEntry
	ttl, err := l.read(ctx, l.nameKey(host), &e, func() error { return validName(&e) })
	if err != nil {
		return nameEntry{}, false, err
	}
	e.TTL = ttl
	return e, true, nil
}

// getFacts asks Redis for k's facts probed after after (0: any) and what
// is left of their TTL; older facts are a miss (fleet.ErrMiss).
func (l *redisLevel) getFacts(ctx context.Context, k addrKey, after unixNano) (factsRecord, time.Duration, error) {
	var r factsRecord
	ttl, err := l.read(ctx, l.factsKey(k), &r, func() error { return validFacts(&r) })
	if err == nil && !newer(r, after) {
		return factsRecord{}, 0, fmt.Errorf("facts of %s no newer than those a report disproved: %w", k, fleet.ErrMiss)
	}
	return r, ttl, err
}

// dnsSource is where a DNS load's value came from, given the error of
// asking Redis: a plain miss means Redis answered (the value is written
// there), anything else that it is down or failing.
func dnsSource(err error) loadSource {
	if errors.Is(err, fleet.ErrMiss) {
		return fromSelf
	}
	return fromAlone
}

// loadFactsShared is the facts loader with a fleet: Redis first; else the
// lock of the address, and the probe by whoever holds it, its facts
// written to Redis for the others, who watch for them; Redis down: a probe
// of this relay's own, as without a fleet. Only facts probed after after
// are taken (0: any): a re-probe after a report's miss must not take back
// from Redis the facts the report disproved, so it goes to the lock at once.
func (s *Service) loadFactsShared(ctx context.Context, l *redisLevel, k addrKey, after unixNano) (cache.Loaded[factsRecord], error) {
	for round := 0; ; round++ {
		r, ttl, err := l.getFacts(ctx, k, after)
		if err == nil {
			return l.took(r, ttl, fromRedis), nil
		}
		if !errors.Is(err, fleet.ErrMiss) || round == maxLockRounds {
			return s.probeAlone(ctx, l, k)
		}
		lock := l.lockKey(k)
		token, won, err := l.c.Lock(ctx, lock, s.lockTTL())
		switch {
		case err != nil:
			return s.probeAlone(ctx, l, k)
		case won:
			l.locks[0].Add(1)
			// The relay that held the lock before may have written the
			// facts just before it let go.
			if r, ttl, err := l.getFacts(ctx, k, after); err == nil {
				l.unlock(ctx, lock, token)
				return l.took(r, ttl, fromPeer), nil
			}
			return s.probeShared(ctx, l, k, lock, token)
		}
		l.locks[1].Add(1)
		r, ttl, got, err := l.watch(ctx, k, lock, after)
		switch {
		case got:
			return l.took(r, ttl, fromPeer), nil
		case ctx.Err() != nil:
			return cache.Loaded[factsRecord]{}, fmt.Errorf("wait for the fleet's probe of %s: %w", k.AP, context.Cause(ctx))
		case err != nil:
			return s.probeAlone(ctx, l, k)
		}
		// The lock went without facts (the holder stopped): try again.
	}
}

// watch waits for the relay holding lock to write k's facts probed after
// after (0: any), polling with a growing pause; got is false when the lock
// went without them, or err when Redis fails meanwhile.
func (l *redisLevel) watch(ctx context.Context, k addrKey, lock string, after unixNano) (r factsRecord, ttl time.Duration, got bool, err error) {
	key := l.factsKey(k)
	pause := firstWatch
	t := time.NewTimer(pause)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return r, 0, false, context.Cause(ctx)
		case <-t.C:
		}
		b, left, locked, err := l.c.Watch(ctx, key, lock)
		switch {
		case err == nil:
			r = factsRecord{}
			if l.decode(key, b, &r, func() error { return validFacts(&r) }) == nil && newer(r, after) {
				return r, left, true, nil
			}
			if !locked {
				return r, 0, false, nil
			}
		case !errors.Is(err, fleet.ErrMiss):
			return r, 0, false, err
		case !locked:
			return r, 0, false, nil
		}
		pause = min(2*pause, maxWatch)
		t.Reset(pause)
	}
}

// lockTTL is how long a probe lock holds: a probe's timeout, a turn of the
// rate limit, and room to write the result.
func (s *Service) lockTTL() time.Duration {
	p := &s.st.Load().cfg.Probe
	return p.Timeout.Duration + p.RatePerAddress.Every() + 5*time.Second
}

// probeShared probes k holding the fleet's lock: the fleet's rate limit,
// then the probe as without a fleet; the facts go to Redis, then the lock.
func (s *Service) probeShared(ctx context.Context, l *redisLevel, k addrKey, lock, token string) (cache.Loaded[factsRecord], error) {
	defer l.unlock(ctx, lock, token)
	if err := s.fleetRate(ctx, l, k.AP.Addr()); err != nil {
		return cache.Loaded[factsRecord]{}, err
	}
	return s.probeAndShare(ctx, l, k, fromSelf)
}

// unlock releases a probe lock, even when ctx has ended (the load was cut
// short): the others need not wait for its expiry.
func (l *redisLevel) unlock(ctx context.Context, lock, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = l.c.Unlock(ctx, lock, token)
}

// probeAlone probes k without the fleet (Redis down or failing), and still
// offers the facts to Redis: it may be back.
func (s *Service) probeAlone(ctx context.Context, l *redisLevel, k addrKey) (cache.Loaded[factsRecord], error) {
	return s.probeAndShare(ctx, l, k, fromAlone)
}

// probeAndShare probes k and writes the facts to Redis.
func (s *Service) probeAndShare(ctx context.Context, l *redisLevel, k addrKey, src loadSource) (cache.Loaded[factsRecord], error) {
	r, err := s.probeAddr(ctx, k)
	if err != nil {
		return cache.Loaded[factsRecord]{}, err
	}
	l.count(levelAddrs, src)
	l.write(ctx, l.factsKey(k), &r, s.factsTTL(r))
	return cache.Loaded[factsRecord]{Value: r}, nil
}

// took counts facts r that came from Redis with ttl left (from src) and
// returns them for the facts cache to store, living what is left of their
// TTL there: their age counts, as cache.SetStored's would.
func (l *redisLevel) took(r factsRecord, ttl time.Duration, src loadSource) cache.Loaded[factsRecord] {
	l.count(levelAddrs, src)
	return cache.Loaded[factsRecord]{Value: r, TTL: ttl, Origin: originRedis}
}

// fleetRate waits for a turn of addr's rate limit shared by the fleet
// (probe.rate_per_address and rate_burst, across relays). Redis failing
// ends the wait: the local limit still holds.
func (s *Service) fleetRate(ctx context.Context, l *redisLevel, addr netip.Addr) error {
	p := &s.st.Load().cfg.Probe
	every := p.RatePerAddress.Every()
	if every <= 0 {
		return nil
	}
	for {
		wait, err := l.c.Rate(ctx, l.rateKey(addr), every, p.RateBurst)
		if err != nil || wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the fleet's rate limit of %s: %w", addr, context.Cause(ctx))
		}
	}
}

// newer reports whether r was probed after after; any r is, when after is 0.
func newer(r factsRecord, after unixNano) bool { return after == 0 || r.Time > after }
