// Package origin is where the daemon learns what its caches miss: an
// Origin loads a domain's MX set and a host name's addresses from DNS
// (RFC 5321 section 5.1) and an address's facts from a probe
// (lookupd/probe), within the per-address rate limit and the one probe
// semaphore. A decorator (lookupd/fleet) may stand before it.
package origin
