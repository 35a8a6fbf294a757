// Package lookupd serves Exim's ${readsocket} lookups and the admin verbs
// on the Unix socket (docs/design.md section 2) from the parts it wires
// into one Service: the facts kept (lookupd/store), where the missing ones
// come from (lookupd/origin, with lookupd/fleet before it when [redis] url
// is set) and the verdict made from them with the policy in force
// (lookupd/decision). Reload replaces the settings; the caches stay.
//
// The wire protocol: one request per connection, one line of at most 1024
// bytes ended by LF, CRLF or the client's half-close. A domain is answered
// with the bare word ("smallkey", "tlsexport", ...) or nothing, with no
// newline; the admin verbs "explain DOMAIN", "stats", "list
// [smallkey|tlsexport]" and "flush DOMAIN|all" with one line ending in LF.
// The server then closes the connection. Stats and, once Instrument was
// called, the Prometheus metrics count what was served.
package lookupd
