package verdict

import "github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"

// Unanswered reports whether the facts cannot answer this policy, so that
// the address must be probed again before its verdict means anything. Today
// one case: a client model without TLS 1.3 (NoTLS13) asks what the server
// gives a TLS 1.2 hello, and facts whose TLS 1.2 key exchange was not
// observed (KXUnobserved: the probe got TLS 1.3 and stopped there, under
// tls13 = true) do not say; their missing prime is unknown, not absent.
// The caller (lookupd) keeps answering from such facts until the new probe
// lands, as it does for any stale entry.
func (p Policy) Unanswered(f *probe.Facts) bool {
	return p.NoTLS13 && f.Outcome == probe.OK && f.KXUnobserved
}
