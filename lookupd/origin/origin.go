package origin

import (
	"context"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// Origin loads what the caches miss. A DNS failure is a value (an entry
// with Err); an error means nothing was learnt (the load's context ended)
// and nothing is cached.
type Origin interface {
	// MX is a domain's MX set.
	MX(ctx context.Context, domain string) (cache.Loaded[store.Domain], error)
	// Names are a host name's addresses.
	Names(ctx context.Context, host string) (cache.Loaded[store.Name], error)
	// Facts are what is observed at k, probed after after (0: any): a
	// re-probe after a report's miss must not take back the facts the
	// report disproved from an origin that keeps them.
	Facts(ctx context.Context, k store.AddrKey, after store.UnixNano) (cache.Loaded[store.Record], error)
	// Forget drops what the origin keeps of a flushed name (lookupd's
	// flush); an origin that keeps nothing has nothing to do.
	Forget(ctx context.Context, f *Forget) error
	// Close releases what the origin holds (connections); loads in
	// flight are the caller's to end first.
	Close() error
}

// Forget is what a flush forgets. All: everything. Otherwise Domain, the
// host names in Hosts and the facts of the addresses in Addrs, every
// client's; an origin that keeps values adds to Hosts and Addrs the ones
// it holds for them, so that the caller forgets those too.
type Forget struct {
	All    bool
	Domain string
	Hosts  []string
	Addrs  []netip.Addr
}

// Resolver is what an origin asks of DNS; *mx.Resolver is the real one.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) (mx.Set, error)
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error)
}

// Prober probes one address; probe.Addr is the real one.
type Prober func(ctx context.Context, ap netip.AddrPort, o probe.Options) probe.Facts

// Lookup is the kind of a DNS lookup, a closed set.
type Lookup uint8

const (
	LookupMX      Lookup = iota // a domain's MX set
	LookupAddress               // a host name's addresses
	NumLookups
)

var lookupNames = [NumLookups]string{"mx", "address"}

func (l Lookup) String() string {
	if l < NumLookups {
		return lookupNames[l]
	}
	return "unknown"
}

// Observer is told of DNS failures and probes (the daemon's counters).
type Observer interface {
	DNSFailed(l Lookup, kind store.DNSFailure)
	ProbeStarted()
	ProbeDone(f *probe.Facts)
}
