package observe_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/observe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestBalancerSequence replays, with the pure functions, what the daemon
// sees at a balancer in front of a modern and a DHE-768 backend
// (internal/e2e's TestBalancer): a probe on the modern side, Exim's report
// of the refused prime, then probes landing on either side. From the
// report on the gnutls answer is tlsexport, whichever side later probes
// land on, until the weakness is older than the TTL.
func TestBalancerSequence(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.40:25")
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	const ttl = 24 * time.Hour
	modern := func(at time.Time) probe.Facts {
		return probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.3", TLS13: true, KXUnobserved: true, Time: at}
	}
	weak := func(at time.Time) probe.Facts {
		return probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2", Cipher: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", DHBits: 768, Time: at}
	}
	var pol verdict.Policy
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	f := modern(t0) // the first probe: the modern side, no earlier facts
	if got := pol.Of(&f); got != verdict.None {
		t.Fatalf("first probe: %q, want none", got)
	}
	now := at(time.Second)
	f = observe.Add(f, observe.FromReport(ap, "gnutls", "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).", now), now, ttl)
	steps := []struct {
		name string
		next probe.Facts
		want verdict.Verdict
	}{
		{"the re-probe on the modern side", modern(at(2 * time.Second)), verdict.TLSExport},
		{"another on the modern side", modern(at(time.Hour)), verdict.TLSExport},
		{"one on the weak side", weak(at(2 * time.Hour)), verdict.TLSExport},
		{"the modern side again", modern(at(3 * time.Hour)), verdict.TLSExport},
		{"the modern side, the weak probe's view 23h old", modern(at(25 * time.Hour)), verdict.TLSExport},
		{"the modern side, every weak view older than the TTL", modern(at(27 * time.Hour)), verdict.None},
	}
	if got := pol.Of(&f); got != verdict.TLSExport {
		t.Fatalf("after the report: %q, want tlsexport (%s)", got, pol.Reason(&f))
	}
	for _, s := range steps {
		f = observe.Merge(f, s.next, s.next.Time, ttl)
		if got := pol.Of(&f); got != s.want {
			t.Errorf("%s: %q, want %q (%s)", s.name, got, s.want, pol.Reason(&f))
		}
		if len(f.Also) > observe.MaxViews {
			t.Errorf("%s: %d views", s.name, len(f.Also))
		}
	}
}
