package origin

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
	"golang.org/x/time/rate"
)

// Direct is the Origin that asks DNS and probes, on its own.
type Direct struct {
	st      atomic.Pointer[Settings]
	limiter *addrLimiter
	slots   atomic.Pointer[chan struct{}] // a token per running probe; replaced when Concurrency changes
	prober  Prober
	obs     Observer
	log     *slog.Logger
	watch   dnsWatch // logs when every DNS lookup fails (dnswatch.go)
}

// Settings are what Direct works with; replaced whole by Set.
type Settings struct {
	Resolver   Resolver
	DNSTimeout time.Duration  // [dns] timeout: a lookup takes at most 4 of them and a second
	Probe      probe.Options  // Client is the key's
	Policy     verdict.Policy // the verdict in the probe's log line
	// The per-address rate limit (probe.rate_per_address, rate_burst) and
	// the probes running at once (probe.concurrency).
	Rate        rate.Limit
	Burst       int
	Concurrency int
	// Earlier are the facts held for an address before its probe (nil or
	// false: none). They choose the order of the probe's connections
	// (probe.OrderFor): what the last probe saw goes first.
	Earlier func(k store.AddrKey) (probe.Facts, bool)
}

// NewDirect is a Direct origin. limiters bounds the addresses whose rate
// limit is remembered (cache.hosts); nil prober is probe.Addr.
func NewDirect(s Settings, limiters int, prober Prober, obs Observer, log *slog.Logger) *Direct {
	if prober == nil {
		prober = probe.Addr
	}
	if log == nil {
		log = slog.Default()
	}
	d := &Direct{limiter: newAddrLimiter(limiters), prober: prober, obs: obs, log: log}
	d.Set(s)
	return d
}

// Set replaces the settings. A new Concurrency applies to the probes that
// start after it: probes running keep the slot they hold in the old set.
func (d *Direct) Set(s Settings) {
	d.limiter.setRate(s.Rate, s.Burst)
	if old := d.slots.Load(); old == nil || cap(*old) != max(s.Concurrency, 1) {
		slots := make(chan struct{}, max(s.Concurrency, 1))
		d.slots.Store(&slots)
	}
	d.st.Store(&s)
}

// MX asks DNS for domain's MX set. A DNS failure is an entry (Err,
// ErrKind), so that a broken domain is not asked again per request.
func (d *Direct) MX(ctx context.Context, domain string) (cache.Loaded[store.Domain], error) {
	st := d.st.Load()
	lctx, cancel := context.WithTimeout(ctx, 4*st.DNSTimeout+time.Second)
	defer cancel()
	set, err := st.Resolver.LookupMX(lctx, domain)
	if err != nil {
		if ctx.Err() != nil {
			return cache.Loaded[store.Domain]{}, fmt.Errorf("look up MX of %s: %w", domain, context.Cause(ctx))
		}
		d.log.Warn("dns", "domain", domain, "err", err)
		kind := d.failed(LookupMX, err)
		return cache.Loaded[store.Domain]{Value: store.Domain{Err: err.Error(), ErrKind: kind}}, nil
	}
	if set.NXDomain {
		d.watch.observe(d.log, DNSAllNXDomain)
	} else {
		d.watch.observe(d.log, DNSWorks)
	}
	set.Domain = "" // the cache key has it; a copy per domain is 2 MiB per 100,000
	return cache.Loaded[store.Domain]{Value: store.Domain{Set: set}}, nil
}

// Names asks DNS for host's addresses; a failure is as MX's.
func (d *Direct) Names(ctx context.Context, host string) (cache.Loaded[store.Name], error) {
	st := d.st.Load()
	lctx, cancel := context.WithTimeout(ctx, 4*st.DNSTimeout+time.Second)
	defer cancel()
	addrs, ttl, err := st.Resolver.LookupAddrs(lctx, host)
	if err != nil {
		if ctx.Err() != nil {
			return cache.Loaded[store.Name]{}, fmt.Errorf("look up addresses of %s: %w", host, context.Cause(ctx))
		}
		d.log.Warn("dns", "host", host, "err", err)
		kind := d.failed(LookupAddress, err)
		return cache.Loaded[store.Name]{Value: store.Name{Err: err.Error(), ErrKind: kind}}, nil
	}
	d.watch.observe(d.log, DNSWorks)
	if len(addrs) > store.MaxStoredAddrs {
		addrs = addrs[:store.MaxStoredAddrs]
	}
	return cache.Loaded[store.Name]{Value: store.Name{Addrs: addrs, TTL: ttl}}, nil
}

// failed counts and watches a failed lookup and returns its kind.
func (d *Direct) failed(l Lookup, err error) store.DNSFailure {
	kind := store.DNSFailureOf(err)
	d.obs.DNSFailed(l, kind)
	d.watch.observe(d.log, patternOf(kind))
	return kind
}

// Facts probes k: Direct keeps nothing, so any facts it gives are newer
// than after.
func (d *Direct) Facts(ctx context.Context, k store.AddrKey, _ store.UnixNano) (cache.Loaded[store.Record], error) {
	r, err := d.probe(ctx, k)
	return cache.Loaded[store.Record]{Value: r}, err
}

// Forget has nothing to forget: Direct keeps nothing.
func (d *Direct) Forget(context.Context, *Forget) error { return nil }

// Close has nothing to release.
func (d *Direct) Close() error { return nil }

// HELO is the EHLO name the probes use now.
func (d *Direct) HELO() string { return d.st.Load().Probe.HELO }
