package store

import (
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
)

// DNSErrorTTL is how long a SERVFAIL or a DNS timeout is remembered.
const DNSErrorTTL = 30 * time.Second

// MaxStoredAddrs bounds the addresses kept per host name, whatever DNS
// says; probe.max_addresses of them are considered when answering.
const MaxStoredAddrs = 32

// LoadCeiling bounds one load of the caches: a probe may first wait for
// its address's rate-limit turn and for a probe slot; the probe and the DNS
// lookups bound themselves with the timeouts in force.
const LoadCeiling = time.Hour

// Domain is a cached MX set (without its Domain: the key has it), or the
// DNS error that stood in its way.
type Domain struct {
	Set     mx.Set     `json:"set"`
	Err     string     `json:"err,omitempty"`
	ErrKind DNSFailure `json:"err_kind,omitempty"`
}

// DNSErr is the DNS error that stood in the way, nil when there was none.
func (e *Domain) DNSErr() error { return StoredDNSError(e.Err, e.ErrKind) }

// Name is a cached host name's addresses, IPv6 first (the order Exim tries
// them), all of them up to MaxStoredAddrs (the networks ignored and the
// number considered are applied when answering), or the DNS error.
type Name struct {
	Addrs   []netip.Addr  `json:"addrs"`
	TTL     time.Duration `json:"ttl_ns,omitempty"`
	Err     string        `json:"err,omitempty"`
	ErrKind DNSFailure    `json:"err_kind,omitempty"`
}

// DNSErr is the DNS error that stood in the way, nil when there was none.
func (e *Name) DNSErr() error { return StoredDNSError(e.Err, e.ErrKind) }

// OriginFleet is the cache.Origin of values a load took from the fleet's
// Redis (lookupd/fleet): explain's "redis" source.
const OriginFleet cache.Origin = 1
