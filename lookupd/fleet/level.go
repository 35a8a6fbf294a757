package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Level is the fleet's Redis before an origin ([redis] url): a local miss
// asks Redis before looking up or probing, and what is learnt is written
// there, each value with what is left of its TTL as its expiry. It is an
// origin.Origin decorating another (New); without [redis] it is not there.
type Level struct {
	next  origin.Origin
	c     *Client
	o     LevelOptions
	stats levelCounters
}

// LevelOptions are what a Level needs of the daemon.
type LevelOptions struct {
	// Config is the configuration in force (probe.client, port, max_mx,
	// max_addresses, timeout, rate_per_address, rate_burst).
	Config func() *config.Config
	// FactsTTL is how long facts stay fresh (the store's TTL of a record).
	FactsTTL func(store.Record) time.Duration
	// Learn takes the values a chain brings besides the MX set asked for.
	Learn Learner
}

// Learner stores values learnt on the side (the caches: cache.SetLoaded).
type Learner interface {
	LearnName(host string, l cache.Loaded[store.Name])
	LearnFacts(k store.AddrKey, l cache.Loaded[store.Record])
}

// New is next with the fleet's Redis c before it.
func New(next origin.Origin, c *Client, o LevelOptions) *Level {
	return &Level{next: next, c: c, o: o}
}

// Client is the Level's Redis client.
func (l *Level) Client() *Client { return l.c }

// Key kinds under redis.prefix.
const (
	kindDomain = "d"    // d:DOMAIN -> store.Domain
	kindName   = "n"    // n:HOST -> store.Name
	kindFacts  = "f"    // f:CLIENT:IP:PORT -> store.Record
	kindLock   = "lock" // lock:CLIENT:IP:PORT -> the token of the relay probing it
	kindRate   = "rate" // rate:IP -> the fleet's rate limit of that address
)

// Bounds of values read from Redis, beyond MaxValue.
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

// MX is the domain's MX set from Redis (with what Redis holds of its
// hosts' addresses and their facts: chain.go), else next's, written to
// Redis (DNS failures are not: another relay's resolver may do better).
func (l *Level) MX(ctx context.Context, domain string) (cache.Loaded[store.Domain], error) {
	e, ok, err := l.getChain(ctx, domain)
	if ok {
		l.count(Domains, FromRedis)
		return cache.Loaded[store.Domain]{Value: e}, nil
	}
	v, rerr := l.next.MX(ctx, domain)
	if rerr != nil {
		return v, rerr
	}
	l.count(Domains, dnsSource(err))
	if v.Value.Err == "" {
		l.write(ctx, l.domainKey(domain), &v.Value, v.Value.Set.TTL)
	}
	return v, nil
}

// Names are host's addresses from Redis, else next's, written to Redis.
func (l *Level) Names(ctx context.Context, host string) (cache.Loaded[store.Name], error) {
	e, ok, err := l.getName(ctx, host)
	if ok {
		l.count(Names, FromRedis)
		return cache.Loaded[store.Name]{Value: e, Origin: store.OriginFleet}, nil
	}
	v, rerr := l.next.Names(ctx, host)
	if rerr != nil {
		return v, rerr
	}
	l.count(Names, dnsSource(err))
	if v.Value.Err == "" {
		l.write(ctx, l.nameKey(host), &v.Value, v.Value.TTL)
	}
	return v, nil
}

// Forget forgets in Redis what next forgets, and adds to f the hosts and
// addresses Redis held of them; for f.All every key under redis.prefix.
// Other relays keep what they hold locally until its TTL.
func (l *Level) Forget(ctx context.Context, f *origin.Forget) error {
	if err := l.next.Forget(ctx, f); err != nil {
		return err
	}
	if f.All {
		if _, err := l.c.DelPrefix(ctx); err != nil {
			return fmt.Errorf("not in redis: %w", err)
		}
		return nil
	}
	keys := []string{l.domainKey(f.Domain)}
	if e, ok, _ := l.getDomain(ctx, f.Domain); ok {
		for _, h := range e.Set.Hosts {
			f.Hosts = append(f.Hosts, h.Name)
		}
	}
	for _, h := range f.Hosts {
		keys = append(keys, l.nameKey(h))
		if e, ok, _ := l.getName(ctx, h); ok {
			f.Addrs = append(f.Addrs, e.Addrs...)
		}
	}
	port := uint16(l.o.Config().Probe.Port)
	for _, a := range f.Addrs {
		for _, c := range tlswire.Clients {
			keys = append(keys, l.factsKey(store.AddrKey{AP: netip.AddrPortFrom(a, port), Client: store.SymOf(c)}))
		}
	}
	if _, err := l.c.Del(ctx, keys...); err != nil {
		return fmt.Errorf("not in redis: %w", err)
	}
	return nil
}

// Close closes next, then the connections to Redis; the first error is
// returned.
func (l *Level) Close() error {
	return errors.Join(l.next.Close(), l.c.Close())
}

func (l *Level) factsKey(k store.AddrKey) string {
	return l.c.Key(kindFacts, k.Client.String(), k.AP.String())
}
func (l *Level) lockKey(k store.AddrKey) string {
	return l.c.Key(kindLock, k.Client.String(), k.AP.String())
}
func (l *Level) rateKey(a netip.Addr) string { return l.c.Key(kindRate, a.String()) }
func (l *Level) nameKey(host string) string  { return l.c.Key(kindName, host) }
func (l *Level) domainKey(d string) string   { return l.c.Key(kindDomain, d) }

// read gets key's value into v and checks it with valid; a value of
// another version or a corrupt one is counted and is a miss.
func (l *Level) read(ctx context.Context, key string, v any, valid func() error) (time.Duration, error) {
	b, ttl, err := l.c.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	return ttl, l.decode(key, b, v, valid)
}

// decode is read's check of a value: ErrMiss when it is not to be used.
func (l *Level) decode(key string, b []byte, v any, valid func() error) error {
	err := Decode(key, b, v)
	if err == nil {
		err = valid()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrVersion):
		l.stats.rejected[RejectVersion].Add(1)
	default:
		l.stats.rejected[RejectCorrupt].Add(1)
	}
	return fmt.Errorf("%w: %s: %w", ErrMiss, key, err)
}

// write stores v under key for ttl; failures are the breaker's to log.
func (l *Level) write(ctx context.Context, key string, v any, ttl time.Duration) {
	b, err := Encode(key, v)
	if err != nil {
		return
	}
	_ = l.c.Set(ctx, key, b, ttl)
}

func (l *Level) count(c Cache, src Source) { l.stats.loads[c][src].Add(1) }

// getDomain asks Redis for domain's MX set: ok when it was there.
func (l *Level) getDomain(ctx context.Context, domain string) (store.Domain, bool, error) {
	var e store.Domain
	ttl, err := l.read(ctx, l.domainKey(domain), &e, func() error { return validDomain(&e) })
	if err != nil {
		return store.Domain{}, false, err
	}
	e.Set.TTL = ttl
	return e, true, nil
}

// getName asks Redis for host's addresses: ok when they were there.
func (l *Level) getName(ctx context.Context, host string) (store.Name, bool, error) {
	var e store.Name
	ttl, err := l.read(ctx, l.nameKey(host), &e, func() error { return validName(&e) })
	if err != nil {
		return store.Name{}, false, err
	}
	e.TTL = ttl
	return e, true, nil
}
