package e2e

import (
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestRemoteExim: Debian's Exim (GnuTLS) as the remote server judges 20
// probes: fail2ban's stock exim and exim-spam filters match none of their
// log lines, each probe is one connection, and no line reports a TLS error
// for the probe's address. Beside them, one real Exim delivery.
func TestRemoteExim(t *testing.T) {
	requireE2E(t)
	lab.Require(t, "fail2ban-regex")
	start := time.Now()
	defer func() { t.Logf("remote Exim test took %v", time.Since(start).Round(time.Millisecond)) }()

	d := mxDomain{domain: "exim.test", addr: "192.0.2.27"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, controlAddr, d.addr)
	startDNS(t, ns, dnsAddr, d)
	pr := newProber(t, ns)
	snd := newSender(t, ns, "exim-stock", false, "")
	srv := startEximServer(t, ns, d, eximServerOptions{Cert: "rsa2048"})

	waitConns := func(addr string, n int) {
		// Each connection ends with one of these lines.
		srv.p.waitFor(t, "ended connections from "+addr, 15*time.Second, func() bool {
			ended := 0
			for _, end := range []string{"closed by QUIT", "TLS error on connection", "unexpected disconnection", "lost while reading"} {
				ended += len(filterAddr(linesWith(srv.mainlog(), end), addr))
			}
			return srv.connectionsFrom(addr) >= n && ended >= n
		})
	}
	before := len(srv.mainlog())
	snd.send(t, "to-"+d.domain, sendOptions{}, rcpt(d)).delivered(t, rcpt(d))
	waitConns(senderAddr, 1)
	delivery := srv.mainlog()[before:]
	t.Logf("Exim server's log of one Exim delivery:\n%s", delivery)

	before = len(srv.mainlog())
	for i := range probesPerServer {
		b := len(srv.mainlog())
		out := pr.probe(t, d.domain)
		waitConns(probeAddr, i+1)
		if i == 0 {
			t.Logf("tlsprobe probe:\n%s", out)
			t.Logf("Exim server's log of one probe:\n%s", srv.mainlog()[b:])
		}
	}
	probes := srv.mainlog()[before:]
	conns := srv.connectionsFrom(probeAddr)
	t.Logf("%d connections for %d probes (%.2f per probe)", conns, probesPerServer, float64(conns)/probesPerServer)
	if conns != probesPerServer {
		t.Errorf("%d connections for %d probes, want 1 per probe", conns, probesPerServer)
	}
	for _, bad := range []string{"TLS error", "unexpected disconnection", "SMTP protocol synchronization error", "lost"} {
		if got := filterAddr(linesWith(probes, bad), probeAddr); len(got) > 0 {
			t.Errorf("%d lines with %q for 20 probes, e.g. %s", len(got), bad, got[0])
		}
	}
	for _, f := range []string{"exim", "exim-spam"} {
		n, lines := fail2banMatches(t, ns.dir, "exim-probes", f, probes)
		nd, _ := fail2banMatches(t, ns.dir, "exim-delivery", f, delivery)
		t.Logf("fail2ban-regex %-10s 20 probes: %d of %d lines matched; 1 delivery: %d", f, n, lines, nd)
		if n != 0 {
			t.Errorf("fail2ban filter %s matched %d lines of 20 probes", f, n)
		}
	}

	// A would-be positive control: a client making protocol errors until
	// Exim drops it. Exim 4.96 appends ", C=EHLO,RCPT,..." inside the
	// parentheses of that line, and Debian 12's exim filter (fail2ban
	// 1.0.2) wants the closing parenthesis right after the last command,
	// so it matches nothing: logged as a finding, not asserted (the
	// matcher pipeline itself is proven by TestRemotePostfix's controls).
	before = len(srv.mainlog())
	replies := protocolErrors(t, ns, d.addr+":25")
	srv.p.waitFor(t, "the control's drop", 15*time.Second, func() bool {
		return len(filterAddr(linesWith(srv.mainlog()[before:], "dropped: too many"), controlAddr)) > 0
	})
	control := srv.mainlog()[before:]
	t.Logf("protocol-error client's replies:\n%s\nits log:\n%s", replies, control)
	n, _ := fail2banMatches(t, ns.dir, "exim-control", "exim", control)
	t.Logf("fail2ban-regex exim over the protocol-error client: %d matched", n)
}
