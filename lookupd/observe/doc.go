// Package observe keeps the views of an address (probe.Facts.Also) across
// probes and reports: what different connections, or Exim's own reports of
// failed TLS handshakes (RFC 8446 section 6, RFC 5246 section 7.2), showed
// at one address. A weakness seen there stays a fact for the facts' TTL
// even if a later connection lands on a modern server behind the same
// balancer; views are never blended into a state no single connection
// showed (docs/design.md sections 3 and 4). Pure functions: the daemon calls
// Merge where it replaces an address's facts and Add (with FromReport) where
// a report arrives.
package observe
