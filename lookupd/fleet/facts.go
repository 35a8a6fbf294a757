package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// getFacts asks Redis for k's facts probed after after (0: any) and what
// is left of their TTL; older facts are a miss (ErrMiss).
func (l *Level) getFacts(ctx context.Context, k store.AddrKey, after store.UnixNano) (store.Record, time.Duration, error) {
	var r store.Record
	ttl, err := l.read(ctx, l.factsKey(k), &r, func() error { return validFacts(&r) })
	if err == nil && !newer(r, after) {
		return store.Record{}, 0, fmt.Errorf("facts of %s no newer than those a report disproved: %w", k, ErrMiss)
	}
	return r, ttl, err
}

// dnsSource is where a DNS load's value came from, given the error of
// asking Redis: a plain miss means Redis answered (the value is written
// there), anything else that it is down or failing.
func dnsSource(err error) Source {
	if errors.Is(err, ErrMiss) {
		return FromSelf
	}
	return FromAlone
}

// loadFactsShared is the facts loader with a fleet: Redis first; else the
// lock of the address, and the probe by whoever holds it, its facts
// written to Redis for the others, who watch for them; Redis down: a probe
// of this relay's own, as without a  Only facts probed after after
// are taken (0: any): a re-probe after a report's miss must not take back
// from Redis the facts the report disproved, so it goes to the lock at once.
func (l *Level) Facts(ctx context.Context, k store.AddrKey, after store.UnixNano) (cache.Loaded[store.Record], error) {
	for round := 0; ; round++ {
		r, ttl, err := l.getFacts(ctx, k, after)
		if err == nil {
			return l.took(r, ttl, FromRedis), nil
		}
		if !errors.Is(err, ErrMiss) || round == maxLockRounds {
			return l.probeAlone(ctx, k)
		}
		lock := l.lockKey(k)
		token, won, err := l.c.Lock(ctx, lock, l.lockTTL())
		switch {
		case err != nil:
			return l.probeAlone(ctx, k)
		case won:
			l.stats.locks[LockWon].Add(1)
			// The relay that held the lock before may have written the
			// facts just before it let go.
			if r, ttl, err := l.getFacts(ctx, k, after); err == nil {
				l.unlock(ctx, lock, token)
				return l.took(r, ttl, FromPeer), nil
			}
			return l.probeShared(ctx, k, lock, token)
		}
		l.stats.locks[LockLost].Add(1)
		r, ttl, got, err := l.watch(ctx, k, lock, after)
		switch {
		case got:
			return l.took(r, ttl, FromPeer), nil
		case ctx.Err() != nil:
			return cache.Loaded[store.Record]{}, fmt.Errorf("wait for the fleet's probe of %s: %w", k.AP, context.Cause(ctx))
		case err != nil:
			return l.probeAlone(ctx, k)
		}
		// The lock went without facts (the holder stopped): try again.
	}
}

// watch waits for the relay holding lock to write k's facts probed after
// after (0: any), polling with a growing pause; got is false when the lock
// went without them, or err when Redis fails meanwhile.
func (l *Level) watch(ctx context.Context, k store.AddrKey, lock string, after store.UnixNano) (r store.Record, ttl time.Duration, got bool, err error) {
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
			r = store.Record{}
			if l.decode(key, b, &r, func() error { return validFacts(&r) }) == nil && newer(r, after) {
				return r, left, true, nil
			}
			if !locked {
				return r, 0, false, nil
			}
		case !errors.Is(err, ErrMiss):
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
func (l *Level) lockTTL() time.Duration {
	p := &l.o.Config().Probe
	return p.Timeout.Duration + p.RatePerAddress.Every() + 5*time.Second
}

// probeShared probes k holding the fleet's lock: the fleet's rate limit,
// then the probe as without a fleet; the facts go to Redis, then the lock.
func (l *Level) probeShared(ctx context.Context, k store.AddrKey, lock, token string) (cache.Loaded[store.Record], error) {
	defer l.unlock(ctx, lock, token)
	if err := l.fleetRate(ctx, k.AP.Addr()); err != nil {
		return cache.Loaded[store.Record]{}, err
	}
	return l.probeAndShare(ctx, k, FromSelf)
}

// unlock releases a probe lock, even when ctx has ended (the load was cut
// short): the others need not wait for its expiry.
func (l *Level) unlock(ctx context.Context, lock, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = l.c.Unlock(ctx, lock, token)
}

// probeAlone probes k without the fleet (Redis down or failing), and still
// offers the facts to Redis: it may be back.
func (l *Level) probeAlone(ctx context.Context, k store.AddrKey) (cache.Loaded[store.Record], error) {
	return l.probeAndShare(ctx, k, FromAlone)
}

// probeAndShare probes k and writes the facts to Redis.
func (l *Level) probeAndShare(ctx context.Context, k store.AddrKey, src Source) (cache.Loaded[store.Record], error) {
	v, err := l.next.Facts(ctx, k, 0)
	if err != nil {
		return v, err
	}
	l.count(Addrs, src)
	l.write(ctx, l.factsKey(k), &v.Value, l.o.FactsTTL(v.Value))
	return v, nil
}

// took counts facts r that came from Redis with ttl left (from src) and
// returns them for the facts cache to store, living what is left of their
// TTL there: their age counts, as cache.SetStored's would.
func (l *Level) took(r store.Record, ttl time.Duration, src Source) cache.Loaded[store.Record] {
	l.count(Addrs, src)
	return cache.Loaded[store.Record]{Value: r, TTL: ttl, Origin: store.OriginFleet}
}

// fleetRate waits for a turn of addr's rate limit shared by the fleet
// (probe.rate_per_address and rate_burst, across relays). Redis failing
// ends the wait: the local limit still holds.
func (l *Level) fleetRate(ctx context.Context, addr netip.Addr) error {
	p := &l.o.Config().Probe
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
func newer(r store.Record, after store.UnixNano) bool { return after == 0 || r.Time > after }
