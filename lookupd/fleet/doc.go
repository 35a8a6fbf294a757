// Package fleet shares what the relays of one fleet learn through one
// Redis (or Valkey) (docs/design.md section 5): Level is an origin.Origin
// put before another (New), so that a local miss asks Redis before DNS or
// a probe, one relay of the fleet probes an address (a lock per key, SET NX
// PX) within a rate limit the fleet shares (GCRA in a Lua script), and what
// is learnt is written there for the others. Underneath, Client keeps a
// short deadline on every call and a circuit breaker that stops asking a
// Redis that fails (and logs once per change of state); the codec keeps
// the values versioned, checksummed and bounded, and Level checks what it
// decodes (valid.go).
package fleet
