// Package fleet is the Redis level that relays of one fleet share behind
// their own caches (docs/design.md section 5): a client of one Redis (or Valkey)
// with a short deadline on every call and a circuit breaker that stops
// asking a Redis that fails and logs once per change of state; the
// versioned, checksummed and bounded codec of the values kept there; a lock
// per key (SET NX PX) so that one relay of the fleet probes an address; and
// a rate limit shared by the fleet (GCRA in a Lua script).
//
// The package knows keys and bytes, not what they mean: lookupd decides
// what to store and checks what it decodes.
package fleet
