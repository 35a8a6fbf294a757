package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestEximFactsPerAddress: Debian's Exim with the contrib snippets and the
// real daemon, for the two cases that facts per address exist for:
//   - a dual-stack MX host whose AAAA address sends a 768-bit prime and whose
//     A address is a modern Exim: stock Exim tries the AAAA first and sends
//     in clear; with the daemon the domain goes through the small-prime
//     transport over TLS (to the AAAA, X=TLS1.2:DHE_CUSTOM768);
//   - a hosting provider: three domains, each with its own MX name, all on
//     the one weak address: one probe of that address, and every domain goes
//     through the small-prime transport over TLS;
//   - a report from the AAAA address: Exim's event_action sends
//     $host_address as an IPv6 literal, and the daemon matches it to the
//     facts of [2001:db8::20]:25 (confirmed).
func TestEximFactsPerAddress(t *testing.T) {
	requireE2E(t)
	const (
		weakV4   = "192.0.2.20"
		modernV4 = "192.0.2.21"
		weakV6   = "2001:db8::20"
		senderV6 = "2001:db8::1"
	)
	dual := mxDomain{domain: "dual.test", addr: modernV4, addr6: weakV6}
	hosted := []mxDomain{{domain: "hp1.test", addr: weakV4}, {domain: "hp2.test", addr: weakV4}, {domain: "hp3.test", addr: weakV4}}
	modern := mxDomain{domain: "modern.test", addr: modernV4}
	all := append([]mxDomain{dual, modern}, hosted...)
	ns := newNetns(t, dnsAddr, senderAddr, senderV6, dnsAddr, probeAddr, weakV4, modernV4, weakV6)
	bin := buildDaemon(t, ns.dir)
	startDNS(t, ns, dnsAddr, all...)
	fixture := lab.FixtureBinary(t)
	weak := fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"}
	startFixture(t, ns, fixture, mxDomain{domain: "weak-v4.test", addr: weakV4}, weak)
	startFixture(t, ns, fixture, mxDomain{domain: "weak-v6.test", addr: weakV6}, weak)
	startEximServer(t, ns, modern, eximServerOptions{Cert: "rsa2048"})

	rcpts := []string{rcpt(dual), rcpt(modern)}
	for _, d := range hosted {
		rcpts = append(rcpts, rcpt(d))
	}

	// Stock Exim: the AAAA first, in clear.
	plain := newSender(t, ns, "exim-stock", false, "")
	l := plain.send(t, "stock", sendOptions{}, rcpt(dual))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(dual)); got.transport != plainTransport || got.tls != "" || !strings.Contains(got.line, "["+weakV6+"]") {
		t.Errorf("stock: %s: want T=%s in clear to [%s], got %s", dual.domain, plainTransport, weakV6, got.line)
	} else {
		t.Logf("README: %s", got.line)
	}

	// The shared set-up: the socket group is Debian-exim, so that the
	// transport's event_action (run as Debian-exim) can report.
	d := newDaemon(t, ns, bin, "the end-to-end test of facts per address", "", `[answer]
wait = "5s"`)
	d.start(t)
	for _, dom := range all {
		want := "tlsexport"
		if dom == modern {
			want = ""
		}
		d.waitAnswer(t, dom.domain, want, 60*time.Second)
	}

	probed := newSender(t, ns, "exim-tlsprobed", true, "")
	l = probed.send(t, "facts-per-address", sendOptions{socket: d.socket}, rcpts...)
	l.noDefers(t)
	for _, dom := range append([]mxDomain{dual}, hosted...) {
		got := l.delivered(t, rcpt(dom))
		if got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:DHE_CUSTOM768") {
			t.Errorf("%s: want T=%s X=TLS1.2:DHE_CUSTOM768..., got %s\nexplain: %s", dom.domain, smallTransport, got.line, d.explain(dom.domain))
		} else {
			t.Logf("README: %s", got.line)
		}
	}
	if got := l.delivered(t, rcpt(modern)); got.transport != plainTransport || !tlsMatches(got.tls, "TLS1.3:") {
		t.Errorf("%s: want T=%s X=TLS1.3..., got %s", modern.domain, plainTransport, got.line)
	}
	if line := l.line(dhError); line != "" {
		t.Errorf("the DH error is there: %s", line)
	}

	// A report from an IPv6 address: an admin who keeps tlsexport domains
	// on the ordinary transport (TLSPROBED_ANSWERS = smallkey) gets the DH
	// error at the AAAA, and the transport's event_action reports it with
	// $host_address 2001:db8::20. The daemon holds facts for that address
	// that predict the failure: one confirmed report, none unrelated (a
	// misread address would be unrelated or malformed).
	before := d.stats(t).Reports
	reporter := newSender(t, ns, "exim-report-v6", true, "TLSPROBED_REPORT = yes\n")
	l = reporter.send(t, "report-v6", sendOptions{socket: d.socket, lines: []string{"TLSPROBED_ANSWERS = smallkey"}}, rcpt(dual))
	l.noDefers(t)
	if line := l.line(dhError); line == "" || !strings.Contains(line, "["+weakV6+"]") {
		t.Errorf("report-v6: want the DH error at [%s], got %q", weakV6, line)
	} else {
		t.Logf("README: %s", line)
	}
	l.delivered(t, rcpt(dual))
	after := d.stats(t).Reports
	t.Logf("figure: reports before the IPv6 report %+v, after %+v", before, after)
	if after.Confirmed != before.Confirmed+1 || after.Unrelated != before.Unrelated || after.Malformed != before.Malformed || after.Miss != before.Miss {
		t.Errorf("after Exim's report from [%s]: reports %+v (before %+v); want one more confirmed, nothing else", weakV6, after, before)
	}
	d.stop(t)
	probes := map[string]int{}
	for _, a := range []string{weakV4 + ":25", "[" + weakV6 + "]:25", modernV4 + ":25"} {
		probes[a] = len(d.probeLines(t, a))
	}
	t.Logf("figure: probes per address: %v", probes)
	if probes[weakV4+":25"] != 1 || probes["["+weakV6+"]:25"] != 1 || probes[modernV4+":25"] != 1 {
		t.Errorf("probes per address %v, want one each (three hosted domains share %s; dual.test and modern.test share %s)", probes, weakV4, modernV4)
	}
}
