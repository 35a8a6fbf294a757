package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestRemoteOpenSSLDSA: the daemon's footprint at a DSA-only server (the
// OpenSSL fixture with a DSA-1024 certificate, TLS 1.2 at most), beside 20
// real Exim deliveries'. Debian's Exim (GnuTLS, no DSA) fails its handshake
// and delivers in clear: 2 connections, 1 failed handshake each. The real
// tlsprobed probes the address 20 times (cache.error_ttl 1s: each query
// after the facts went stale re-probes). The first probe has no earlier
// facts: crypto/tls's hello (refused), the mixed hello (DHE-DSS, completed)
// and the modelled hello alone (refused). Each re-probe is ordered by the
// facts (probe.OrderEverySuite): the modelled client's own hello, refused,
// then the every-suite hello, completed. The fixture logs the end of each
// handshake; every connection of the probe starts TLS, so its handshakes
// are its connections.
func TestRemoteOpenSSLDSA(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("remote OpenSSL DSA test took %v", time.Since(start).Round(time.Millisecond)) }()

	d := mxDomain{domain: "dsa.test", addr: "192.0.2.35"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, d.addr)
	startDNS(t, ns, dnsAddr, d)
	snd := newSender(t, ns, "exim-stock", false, "")
	fx := startFixture(t, ns, lab.FixtureBinary(t), d, fixtureOptions{Cert: "dsa1024", Ciphers: "ALL:!aNULL:!eNULL", Max: "1.2"})
	fxlog := func() string { b, _ := os.ReadFile(fx.log); return string(b) }
	count := func(addr, what string) int {
		return lab.CountLines(fxlog(), "smtptls[", " "+addr+":", "handshake "+what)
	}
	handshakes := func(addr string) int { return count(addr, "done") + count(addr, "failed") }

	clear := 0
	for i := range probesPerServer {
		b := len(fxlog())
		if snd.send(t, "dsa-"+string(rune('a'+i)), sendOptions{}, rcpt(d)).delivered(t, rcpt(d)).tls == "" {
			clear++
		}
		fx.waitFor(t, "the delivery's handshake", 15*time.Second, func() bool { return handshakes(senderAddr) >= i+1 })
		if i == 0 {
			t.Logf("the fixture's log of one Exim delivery:\n%s", fxlog()[b:])
		}
	}

	bin := buildDaemon(t, ns.dir)
	dm := newDaemon(t, ns, bin, "the DSA re-probe test", `rate_per_address = 0`, `
[answer]
wait = "1s"

[cache]
error_ttl = "1s"
`)
	dm.start(t)
	base := dm.stats(t).Probes
	var per []string
	for i := range probesPerServer {
		b := len(fxlog())
		hb, fb := handshakes(probeAddr), count(probeAddr, "failed")
		dm.p.waitFor(t, fmt.Sprintf("probe %d of %s", i+1, d.domain), 30*time.Second, func() bool {
			if dm.stats(t).Probes >= base+uint64(i+1) {
				return true
			}
			if _, err := query(dm.socket, d.domain, 5*time.Second); err != nil {
				t.Fatalf("query %s: %v", d.domain, err)
			}
			return false
		})
		// Each probe completes one handshake (the every-suite hello's), its
		// last connection but for the first probe, whose last (refused)
		// handshake is logged during the next probes.
		fx.waitFor(t, "the probe's completed handshake", 15*time.Second, func() bool { return count(probeAddr, "done") >= i+1 })
		per = append(per, fmt.Sprintf("%d/%d", handshakes(probeAddr)-hb, count(probeAddr, "failed")-fb))
		if i < 2 {
			t.Logf("the fixture's log of daemon probe %d:\n%s", i+1, fxlog()[b:])
		}
	}
	if n := dm.stats(t).Probes - base; n != probesPerServer {
		t.Errorf("the daemon counts %d probes of %s, want %d", n, d.domain, probesPerServer)
	}
	answer, err := query(dm.socket, d.domain, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tlsprobed answers %q; explain: %s", answer, dm.explain(d.domain))
	lines := dm.probeLines(t, d.addr+":25")
	if len(lines) != probesPerServer {
		t.Errorf("%d probe lines for %s in the daemon's log, want %d", len(lines), d.addr, probesPerServer)
	}
	for _, line := range lines {
		if !strings.Contains(line, "verdict=smallkey") || !strings.Contains(line, "key_type=DSA") {
			t.Errorf("probe line without the DSA facts or the verdict smallkey: %s", line)
		}
	}
	if len(lines) > 0 {
		t.Logf("tlsprobed: %s", lines[0])
		t.Logf("tlsprobed: %s", lines[len(lines)-1])
	}

	pc, pf, pd := handshakes(probeAddr), count(probeAddr, "failed"), count(probeAddr, "done")
	dh, df := handshakes(senderAddr), count(senderAddr, "failed")
	dc := dh + clear // Exim's deliveries in clear add a connection each
	t.Logf("per daemon probe, connections/failed handshakes: %s", strings.Join(per, " "))
	t.Logf("figure: tlsprobed at a DSA-only OpenSSL server (cache.error_ttl 1s), %d probes (1 first, %d re-probes): %d connections, %d failed handshakes, %d completed; %d Exim deliveries: %d connections (%d in clear), %d handshakes, %d failed",
		probesPerServer, probesPerServer-1, pc, pf, pd, probesPerServer, dc, clear, dh, df)
	// The first probe 3/2, each re-probe 2/1: at most one connection and
	// one failed handshake more than 20 Exim deliveries, the first probe's.
	if pc > dc+1 || pf > df+1 {
		t.Errorf("%d daemon probes: %d connections, %d failed handshakes; 20 Exim deliveries: %d, %d; want at most one more of each (the first probe's)",
			probesPerServer, pc, pf, dc, df)
	}
	if pd != probesPerServer {
		t.Errorf("%d daemon probes completed %d handshakes, want %d (one clean session each)", probesPerServer, pd, probesPerServer)
	}
}
