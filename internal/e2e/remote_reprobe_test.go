package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestRemoteReprobe: the daemon's footprint where a probe must stop or
// complete a handshake, beside 20 real Exim deliveries', at Debian 13's
// Postfix. The real tlsprobed probes each address 20 times: the first probe
// has no earlier facts, each re-probe is ordered by the facts the daemon
// held (lookupd/loaders.go probeAddr, probe.OrderFor). Postfix's log counts
// the connections, TLS sessions and failed handshakes from the probe's
// address; fail2ban's stock postfix filter reads it in every mode.
//
//   - nocipher.test (TestRemotePostfix's server that shares no cipher): its
//     facts are an error at stage negotiate, cache.error_ttl is 1s, and each
//     query after they went stale re-probes (OrderNoCipher: the mixed hello
//     alone, 1 refused handshake; the first probe 2).
//   - dhe.test (TLS 1.2, DHE only, 2048-bit group): its facts are fine and
//     live cache.ttl (at least 1m), so each re-probe is started by a report
//     of a TLS failure on the socket, as Exim's event_action sends one
//     (lookupd/decision/feedback.go: a miss re-probes at once); OrderModelledDHE: the
//     modelled hello's completed session alone (the first probe: crypto/tls's
//     refused hello, then that session).
func TestRemoteReprobe(t *testing.T) {
	requireE2E(t)
	lab.Require(t, "fail2ban-regex")
	start := time.Now()
	defer func() { t.Logf("remote re-probe test took %v", time.Since(start).Round(time.Millisecond)) }()

	weakD := mxDomain{domain: "nocipher.test", addr: "192.0.2.28"}
	dheD := mxDomain{domain: "dhe.test", addr: "192.0.2.30"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, weakD.addr, dheD.addr)
	startDNS(t, ns, dnsAddr, weakD, dheD)
	bin := buildDaemon(t, ns.dir)
	snd := newSender(t, ns, "exim-stock", false, "")
	d := newDaemon(t, ns, bin, "the re-probe test", `# Re-probes every second or so: no rate limit in the way.
rate_per_address = 0`, `
[answer]
wait = "1s"

[cache]
# Facts that are an error (stage negotiate) are stale after 1s, then
# probed again on the next query, in the background, with those facts.
error_ttl = "1s"
`)
	d.start(t)

	t.Run(weakD.domain, func(t *testing.T) {
		dir := filepath.Join(ns.dir, "postfix-"+weakD.domain)
		srv := lab.StartPostfix(t, lab.PostfixOptions{
			Netns: ns.name, Dir: dir, Hostname: weakD.mx(),
			Listen: weakD.addr, Cert: "rsa2048", Main: noCipherMain(t, dir),
		})
		// 20 real deliveries: one refused handshake, then a session in
		// clear, each.
		delivery := eximDeliveries(t, snd, srv, weakD, probesPerServer)

		// Each probe started by a query after the previous facts went
		// stale: the probe counter is read before each query, so no query
		// is made once the probe waited for has been counted (and a query
		// within 1s of a probe finds its facts fresh).
		probes, per := daemonProbes(t, d, srv, weakD, func(i int) {
			t.Helper()
			if _, err := query(d.socket, weakD.domain, 5*time.Second); err != nil {
				t.Fatalf("query %s: %v", weakD.domain, err)
			}
		})
		conns, dconns := countConnects(probes, probeAddr, false), countConnects(delivery, senderAddr, false)
		pf, df := failedHandshakes(probes, probeAddr), failedHandshakes(delivery, senderAddr)
		t.Logf("%s: per daemon probe, connections/failed handshakes: %s", srv, per)
		t.Logf("figure: tlsprobed at a Postfix sharing no cipher (cache.error_ttl 1s), %d probes (1 first, %d re-probes): %d connections, %d failed handshakes; %d Exim deliveries: %d connections, %d failed handshakes",
			probesPerServer, probesPerServer-1, conns, pf, probesPerServer, dconns, df)
		if limit := probesPerServer + 1; conns > limit || pf > limit {
			t.Errorf("%s: %d connections and %d failed handshakes for %d daemon probes; want at most %d each (2 for the first probe, 1 for each re-probe)",
				srv, conns, pf, probesPerServer, limit)
		}
		checkF2BReprobes(t, ns, srv, weakD, probes, delivery)
	})

	t.Run(dheD.domain, func(t *testing.T) {
		srv := lab.StartPostfix(t, lab.PostfixOptions{
			Netns: ns.name, Dir: filepath.Join(ns.dir, "postfix-"+dheD.domain), Hostname: dheD.mx(),
			Listen: dheD.addr, Cert: "rsa2048", Main: dheOnlyMain(t),
		})
		// 20 real deliveries: TLS at once (GnuTLS takes the 2048-bit group).
		delivery := eximDeliveries(t, snd, srv, dheD, probesPerServer)

		// The first probe by a query; each re-probe by one report the
		// daemon counts as a miss that started a re-probe (a report while
		// the last probe's load is still running starts none, and is sent
		// again; the re-probe counter is read before each).
		report := fmt.Sprintf("report %s TLS session: (gnutls_handshake): %s (not long enough).", dheD.addr, dhError)
		reprobes := d.stats(t).Reports.Reprobes
		probes, per := daemonProbes(t, d, srv, dheD, func(i int) {
			t.Helper()
			req := dheD.domain
			if i > 0 {
				if d.stats(t).Reports.Reprobes >= reprobes+uint64(i) {
					return // started: wait for it
				}
				req = report
			}
			if _, err := query(d.socket, req, 5*time.Second); err != nil {
				t.Fatalf("%s: %v", req, err)
			}
		})
		if n := d.stats(t).Reports.Reprobes - reprobes; n != probesPerServer-1 {
			t.Errorf("%d report re-probes, want %d", n, probesPerServer-1)
		}
		conns, dconns := countConnects(probes, probeAddr, false), countConnects(delivery, senderAddr, false)
		pf, df := failedHandshakes(probes, probeAddr), failedHandshakes(delivery, senderAddr)
		clean := lab.CountLines(probes, "TLS connection established from", "["+probeAddr+"]")
		quit := lab.CountLines(probes, " disconnect from ", "["+probeAddr+"]", " quit=1 ")
		dclean := lab.CountLines(delivery, "TLS connection established from", "["+senderAddr+"]")
		t.Logf("%s: per daemon probe, connections/failed handshakes: %s", srv, per)
		t.Logf("figure: tlsprobed at a DHE-only Postfix (2048-bit), %d probes (1 first, %d re-probes started by reports): %d connections, %d TLS sessions (%d ended by QUIT), %d failed handshakes; %d Exim deliveries: %d connections, %d TLS sessions, %d failed handshakes",
			probesPerServer, probesPerServer-1, conns, clean, quit, pf, probesPerServer, dconns, dclean, df)
		// The first probe: crypto/tls's refused hello, then the completed
		// session; each re-probe: the completed session alone.
		if conns > probesPerServer+1 || pf > 1 || clean != probesPerServer || quit != probesPerServer {
			t.Errorf("%s: %d daemon probes: %d connections, %d failed handshakes, %d TLS sessions, %d ended by QUIT; want at most %d, at most 1, %d, %d",
				srv, probesPerServer, conns, pf, clean, quit, probesPerServer+1, probesPerServer, probesPerServer)
		}
		checkF2BReprobes(t, ns, srv, dheD, probes, delivery)
	})
}

// daemonProbes makes the daemon probe dom's address probesPerServer times,
// calling start(i) (i from 0) until the daemon's probe counter shows probe
// i done, then waiting until Postfix has ended its connections. It checks
// the daemon's probe log lines for the address, and returns what the probes
// added to Postfix's log and each probe's connections/failed handshakes.
func daemonProbes(t *testing.T, d *daemon, srv *lab.Postfix, dom mxDomain, start func(i int)) (string, string) {
	t.Helper()
	base := d.stats(t).Probes
	before := len(srv.Log())
	var per []string
	for i := range probesPerServer {
		b := len(srv.Log())
		d.p.waitFor(t, fmt.Sprintf("probe %d of %s", i+1, dom.domain), 30*time.Second, func() bool {
			if d.stats(t).Probes >= base+uint64(i+1) {
				return true
			}
			start(i)
			return false
		})
		waitSettled(t, srv, probeAddr, b)
		one := srv.Log()[b:]
		per = append(per, fmt.Sprintf("%d/%d", countConnects(one, probeAddr, false), failedHandshakes(one, probeAddr)))
		if i < 2 {
			t.Logf("%s: Postfix's log of daemon probe %d:\n%s", srv, i+1, one)
		}
	}
	if n := d.stats(t).Probes - base; n != probesPerServer {
		t.Errorf("the daemon counts %d probes of %s, want %d", n, dom.domain, probesPerServer)
	}
	lines := d.probeLines(t, dom.addr+":25")
	if len(lines) != probesPerServer {
		t.Errorf("%d probe lines for %s in the daemon's log, want %d", len(lines), dom.addr, probesPerServer)
	}
	for i, line := range lines {
		if i < 2 || i == len(lines)-1 {
			t.Logf("tlsprobed: %s", line)
		}
	}
	return srv.Log()[before:], strings.Join(per, " ")
}

// checkF2BReprobes runs fail2ban's stock postfix filter in every mode over
// the daemon's probes and the Exim deliveries: nothing of the probes may
// match.
func checkF2BReprobes(t *testing.T, ns *netns, srv *lab.Postfix, dom mxDomain, probes, delivery string) {
	t.Helper()
	for _, f := range f2bPostfixFilters {
		n, lines := fail2banMatches(t, ns.dir, dom.domain+"-reprobes", f, probes)
		nd, _ := fail2banMatches(t, ns.dir, dom.domain+"-delivery", f, delivery)
		t.Logf("%s: fail2ban-regex %-26s %d daemon probes: %d of %d lines matched; %d deliveries: %d", srv, f, probesPerServer, n, lines, probesPerServer, nd)
		if n != 0 {
			t.Errorf("%s: fail2ban filter %s matched %d lines of %d daemon probes", srv, f, n, probesPerServer)
		}
	}
}
