// Package lookupd answers Exim's ${readsocket} lookups: for a recipient
// domain it says "smallkey", "tlsexport" or nothing, from static overrides,
// the domain's MX hosts (RFC 5321 section 5.1, RFC 7505) and probes of those
// hosts (lookupd/probe), cached with stale-while-revalidate (cache).
//
// The wire protocol (docs/design.md section 2): one request per
// connection, one line of at most 1024 bytes ended by LF, CRLF or the
// client's half-close. A domain is answered with the bare word and no
// newline; the admin verbs "explain DOMAIN", "stats", "list [smallkey|tlsexport]"
// and "flush DOMAIN|all" with one line ending in LF. The server then closes
// the connection. Metrics (Prometheus) are recorded when Instrument was called.
package lookupd
