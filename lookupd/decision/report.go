package decision

import (
	"net/netip"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Source says where a verdict, a host's addresses or an address's facts
// came from.
type Source string

// Sources of a Decision (the domain's verdict).
const (
	SourceOverride Source = "override"  // [overrides] named the domain (or, in a HostReport, the host)
	SourceMX       Source = "mx"        // the MX set and the facts of its addresses
	SourceDNS      Source = "dns"       // DNS says the domain takes no mail: NXDOMAIN, null MX, no address
	SourceDNSError Source = "dns-error" // the MX lookup failed (SERVFAIL, timeout); cached briefly
	SourcePending  Source = "pending"   // not known yet: a lookup or probe is still running
	SourceInvalid  Source = "invalid"   // not a domain
)

// Sources of a HostReport's addresses and an AddrReport's facts, besides
// SourceOverride, SourceDNSError and SourcePending.
const (
	SourceCache   Source = "cache"   // cached and fresh
	SourceStale   Source = "stale"   // cached, past its TTL: served while one refresh runs
	SourceLookup  Source = "lookup"  // a DNS lookup made for this request
	SourceProbe   Source = "probe"   // a probe made for this request
	SourceIgnored Source = "ignored" // the address is in probe.ignore_networks: never probed, never counted
	SourceRedis   Source = "redis"   // a local miss answered from the fleet's Redis ([redis] url), for this request
)

// MarkFleet says, in a decision made with a fleet, which of the lookups
// and probes made for it were answered from Redis instead: explain's view
// of where an answer came from. When the MX set was loaded for this
// decision, hosts and addresses found cached that came with it from Redis
// (the fleet's chain) are marked too. Without a fleet no entry has the
// fleet's origin, and nothing is marked.
func (s *Decider) MarkFleet(st *Settings, d *Decision) {
	withMX := d.Source == SourceMX && d.domainState == cache.Miss
	client := store.SymOf(st.Client)
	for i := range d.MX {
		h := &d.MX[i]
		if (h.Source == SourceLookup || withMX && h.Source == SourceCache) && cachedFromRedis(s.store.Names, h.Name) {
			h.Source = SourceRedis
		}
		for j := range h.Addrs {
			a := &h.Addrs[j]
			if (a.Source == SourceProbe || withMX && a.Source == SourceCache) && cachedFromRedis(s.store.Facts, store.AddrKey{AP: a.Addr, Client: client}) {
				a.Source = SourceRedis
			}
		}
	}
}

// cachedFromRedis reports whether c's entry of k came from Redis.
func cachedFromRedis[K comparable, V any](c *cache.Cache[K, V], k K) bool {
	o, ok := c.PeekOrigin(k)
	return ok && o == store.OriginFleet
}

// Decision is a domain's verdict with where it came from.
type Decision struct {
	Domain  string          `json:"domain"`
	Verdict verdict.Verdict `json:"verdict"`
	Source  Source          `json:"source"`
	Pattern string          `json:"override,omitempty"`
	Note    string          `json:"note,omitempty"`
	MX      []HostReport    `json:"mx"`
	HELO    string          `json:"helo,omitempty"` // the EHLO name the probes use (explain)

	domainState cache.State // of the MX set's lookup, for the metrics
	overridden  bool        // an override of the domain or of an MX host matched
	pending     bool        // something was not known in time
}

// DomainState is how the MX set's lookup was answered: fresh or stale
// from the cache, or a miss (loaded for this decision, or still pending).
func (d *Decision) DomainState() cache.State { return d.domainState }

// Overridden reports whether an override of the domain or of one of its
// MX hosts matched.
func (d *Decision) Overridden() bool { return d.overridden }

// Pending reports whether a lookup or probe the decision needed had not
// finished in time.
func (d *Decision) Pending() bool { return d.pending }

// HostReport is what is known of one MX host of a domain.
type HostReport struct {
	Name    string          `json:"name"`
	Pref    uint16          `json:"pref"`
	Source  Source          `json:"source"` // of its addresses: override, cache, stale, lookup, redis, pending, dns-error
	Pattern string          `json:"override,omitempty"`
	Verdict verdict.Verdict `json:"verdict"`
	Note    string          `json:"note,omitempty"`
	Addrs   []AddrReport    `json:"addrs,omitempty"`

	tally verdict.Tally // of its addresses, or its override
}

// AddrReport is what is known of one address of an MX host.
type AddrReport struct {
	Addr    netip.AddrPort  `json:"addr"`
	Source  Source          `json:"source"` // of its facts: cache, stale, probe, redis, pending, ignored
	Verdict verdict.Verdict `json:"verdict"`
	// NoTLS: no transport gets TLS here from the modelled client, though the
	// server offers STARTTLS (the openssl client and a DHE-only server with
	// a prime under 1024 bits, say); the answer cannot help this address.
	NoTLS  bool         `json:"no_tls_possible,omitempty"`
	Age    string       `json:"age,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Facts  *probe.Facts `json:"facts,omitempty"` // explain only

	judgement verdict.Judgement
}
