package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestRemoteReprobe: the daemon's footprint at Debian 13's Postfix that
// shares no cipher with anyone (TestRemotePostfix's nocipher.test), beside
// 20 real Exim deliveries'. The real tlsprobed, with cache.error_ttl 1s
// (the server's facts are an error at stage negotiate), is asked for the
// domain until it has probed the address 20 times, each probe after the
// previous facts went stale: the first probe has no earlier facts
// (crypto/tls's hello, then the mixed hello: 2 refused handshakes), each
// re-probe is ordered by the facts the daemon held (lookupd/loaders.go
// probeAddr, probe.OrderNoCipher: the mixed hello alone, 1). Postfix's log
// counts the connections and failed handshakes from the probe's address;
// fail2ban's stock postfix filter reads it in every mode.
func TestRemoteReprobe(t *testing.T) {
	requireE2E(t)
	lab.Require(t, "fail2ban-regex")
	start := time.Now()
	defer func() { t.Logf("remote re-probe test took %v", time.Since(start).Round(time.Millisecond)) }()

	weakD := mxDomain{domain: "nocipher.test", addr: "192.0.2.28"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, weakD.addr)
	startDNS(t, ns, dnsAddr, weakD)
	bin := buildDaemon(t, ns.dir)
	snd := newSender(t, ns, "exim-stock", false, "")
	dir := filepath.Join(ns.dir, "postfix-"+weakD.domain)
	srv := lab.StartPostfix(t, lab.PostfixOptions{
		Netns: ns.name, Dir: dir, Hostname: weakD.mx(),
		Listen: weakD.addr, Cert: "rsa2048", Main: noCipherMain(t, dir),
	})

	// 20 real deliveries by Debian's Exim: one refused handshake, then a
	// session in clear, each.
	delivery := eximDeliveries(t, snd, srv, weakD, probesPerServer)

	d := newDaemon(t, ns, bin, "the re-probe test", `# Re-probes every second or so: no rate limit in the way.
rate_per_address = 0`, `
[answer]
wait = "1s"

[cache]
# The server's facts are an error (stage negotiate): stale after 1s, then
# probed again on the next query, in the background, with those facts.
error_ttl = "1s"
`)
	d.start(t)

	// 20 probes, each started by a query after the previous facts went
	// stale: the daemon's probe counter is checked before each query, so
	// no query is made once the probe waited for has been counted.
	before := len(srv.Log())
	var perProbe []string
	for i := range probesPerServer {
		b := len(srv.Log())
		d.p.waitFor(t, fmt.Sprintf("probe %d of %s", i+1, weakD.domain), 30*time.Second, func() bool {
			if d.stats(t).Probes >= uint64(i+1) {
				return true
			}
			if _, err := query(d.socket, weakD.domain, 5*time.Second); err != nil {
				t.Fatalf("query %s: %v", weakD.domain, err)
			}
			return false
		})
		waitSettled(t, srv, probeAddr)
		one := srv.Log()[b:]
		perProbe = append(perProbe, fmt.Sprintf("%d/%d", countConnects(one, probeAddr, false), failedHandshakes(one, probeAddr)))
		if i < 2 {
			t.Logf("%s: Postfix's log of daemon probe %d:\n%s", srv, i+1, one)
		}
	}
	probes := srv.Log()[before:]

	// The daemon: 20 probes, each logged, each the facts of before.
	if n := d.stats(t).Probes; n != probesPerServer {
		t.Errorf("the daemon counts %d probes, want %d", n, probesPerServer)
	}
	logText, err := os.ReadFile(d.p.log)
	if err != nil {
		t.Fatal(err)
	}
	var probeLines []string
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, "msg=probe ") && strings.Contains(line, "addr="+weakD.addr+":25") {
			probeLines = append(probeLines, line)
		}
	}
	if len(probeLines) != probesPerServer {
		t.Errorf("%d probe lines for %s in the daemon's log, want %d", len(probeLines), weakD.addr, probesPerServer)
	}
	for i, line := range probeLines {
		if !strings.Contains(line, "outcome=error") || !strings.Contains(line, "stage=negotiate") {
			t.Errorf("daemon probe %d: not the facts of before (error at negotiate): %s", i+1, line)
		}
		if i < 2 {
			t.Logf("tlsprobed: %s", line)
		}
	}

	// The server: connections and failed handshakes (issue 18: no more
	// than Exim's, but the first probe, which has no earlier facts).
	conns, dconns := countConnects(probes, probeAddr, false), countConnects(delivery, senderAddr, false)
	pf, df := failedHandshakes(probes, probeAddr), failedHandshakes(delivery, senderAddr)
	t.Logf("%s: per daemon probe, connections/failed handshakes: %s", srv, strings.Join(perProbe, " "))
	t.Logf("figure: tlsprobed at a Postfix sharing no cipher (cache.error_ttl 1s), %d probes (1 first, %d re-probes): %d connections, %d failed handshakes; %d Exim deliveries: %d connections, %d failed handshakes",
		probesPerServer, probesPerServer-1, conns, pf, probesPerServer, dconns, df)
	if limit := probesPerServer + 1; conns > limit || pf > limit {
		t.Errorf("%s: %d connections and %d failed handshakes for %d daemon probes; want at most %d each (2 for the first probe, 1 for each re-probe)",
			srv, conns, pf, probesPerServer, limit)
	}

	// fail2ban's stock filters: nothing of the probes matched, in any mode.
	for _, f := range f2bPostfixFilters {
		n, lines := fail2banMatches(t, ns.dir, weakD.domain+"-reprobes", f, probes)
		nd, _ := fail2banMatches(t, ns.dir, weakD.domain+"-delivery", f, delivery)
		t.Logf("%s: fail2ban-regex %-26s %d daemon probes: %d of %d lines matched; %d deliveries: %d", srv, f, probesPerServer, n, lines, probesPerServer, nd)
		if n != 0 {
			t.Errorf("%s: fail2ban filter %s matched %d lines of %d daemon probes", srv, f, n, probesPerServer)
		}
	}
}
