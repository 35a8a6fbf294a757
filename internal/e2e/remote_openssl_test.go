package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestRemoteOpenSSLWeakDH: the OpenSSL fixture as a DHE-768-only TLS 1.2
// server, where Debian's Exim (GnuTLS) refuses the prime and delivers in
// clear. 20 probes may make no more connections, and leave no more failed
// handshakes in the fixture's log, than 20 Exim deliveries; each probe
// completes one handshake (its modelled hello's).
func TestRemoteOpenSSLWeakDH(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("remote OpenSSL weak-DH test took %v", time.Since(start).Round(time.Millisecond)) }()

	d := mxDomain{domain: "weakdh.test", addr: "192.0.2.29"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, d.addr)
	startDNS(t, ns, dnsAddr, d)
	pr := newProber(t, ns)
	snd := newSender(t, ns, "exim-stock", false, "")
	fx := startFixture(t, ns, lab.FixtureBinary(t), d, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"})
	fxlog := func() string { b, _ := os.ReadFile(fx.log); return string(b) }
	// The fixture logs each handshake's end as "PEER: handshake done: ..."
	// or "PEER: handshake failed: ...", PEER being ADDRESS:PORT.
	count := func(addr, what string) int {
		return lab.CountLines(fxlog(), "smtptls[", " "+addr+":", "handshake "+what)
	}
	handshakes := func(addr string) int { return count(addr, "done") + count(addr, "failed") }

	clear := 0 // deliveries made in clear: each on a connection of its own, after the failed handshake
	for i := range probesPerServer {
		b := len(fxlog())
		if snd.send(t, "weakdh-"+string(rune('a'+i)), sendOptions{}, rcpt(d)).delivered(t, rcpt(d)).tls == "" {
			clear++
		}
		fx.waitFor(t, "the delivery's handshake", 15*time.Second, func() bool { return handshakes(senderAddr) >= i+1 })
		if i == 0 {
			t.Logf("the fixture's log of one Exim delivery:\n%s", fxlog()[b:])
		}
	}
	for i := range probesPerServer {
		b := len(fxlog())
		out := pr.probe(t, d.domain)
		fx.waitFor(t, "the probe's handshake", 15*time.Second, func() bool { return handshakes(probeAddr) >= i+1 })
		if i == 0 {
			t.Logf("tlsprobe probe:\n%s", out)
			t.Logf("the fixture's log of one probe:\n%s", fxlog()[b:])
		}
	}
	ph, pf := handshakes(probeAddr), count(probeAddr, "failed")
	dh, df := handshakes(senderAddr), count(senderAddr, "failed")
	// Connections: the fixture logs one handshake line per STARTTLS
	// connection; Exim's deliveries in clear add one connection each (the
	// probe never speaks in clear here: each of its connections starts TLS).
	pc, dc := ph, dh+clear
	t.Logf("20 probes: %d connections, %d handshakes, %d failed; 20 Exim deliveries: %d connections, %d handshakes, %d failed", pc, ph, pf, dc, dh, df)
	// Issue 18: no larger a footprint than Exim's. The probe's crypto/tls
	// session is refused (no DHE suite in it) where Exim's handshake fails
	// on the prime; the probe's modelled hello is completed (tlswire.Complete)
	// where Exim reconnects in clear.
	if pf > df {
		t.Errorf("20 probes left %d failed handshakes, more than the %d of 20 Exim deliveries", pf, df)
	}
	if pc > dc {
		t.Errorf("20 probes made %d connections, more than the %d of 20 Exim deliveries", pc, dc)
	}
	if done := count(probeAddr, "done"); done != probesPerServer {
		t.Errorf("20 probes completed %d handshakes, want 20 (one clean session each)", done)
	}
}
