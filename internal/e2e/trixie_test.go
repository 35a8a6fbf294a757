package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGnuTLSEximsRouteAlike runs the same deliveries through Debian 12's
// Exim (4.96, GnuTLS 3.7, this machine's) and Debian 13's (4.98, GnuTLS
// 3.8, the lab root trixie-exim) in one namespace with one daemon, with
// contrib/exim as Debian's conf.d snippets and as the single-file
// fragment, and requires the same route (T=) and TLS result (X=) from both
// for every lab server: stock configuration, daemon learnt, and daemon
// stopped.
func TestGnuTLSEximsRouteAlike(t *testing.T) {
	requireE2E(t)
	builds := gnutlsBuilds(t)
	start := time.Now()
	defer func() { t.Logf("GnuTLS Exims test took %v", time.Since(start).Round(time.Millisecond)) }()

	labNet := startLab(t, weakServers)
	ns, all, rcpts := labNet.ns, labNet.doms, labNet.rcpts()

	d := labNet.weakDaemon(t, "the GnuTLS Exims test")
	d.start(t)
	d.waitAnswer(t, dh768.domain, "tlsexport", 60*time.Second)
	d.waitAnswer(t, rsa1024.domain, "smallkey", 60*time.Second)
	d.waitAnswer(t, dsa1024.domain, "smallkey", 60*time.Second)

	// results[phase][build] = the deliveries of each domain.
	type result map[string]delivery
	phases := []string{}
	results := map[string]map[string]result{}
	record := func(phase string, b *eximBuild, l *eximLog, doms []mxDomain) {
		t.Helper()
		l.noDefers(t)
		if results[phase] == nil {
			results[phase] = map[string]result{}
			phases = append(phases, phase)
		}
		r := result{}
		for _, dom := range doms {
			got := l.delivered(t, rcpt(dom))
			r[dom.domain] = got
			t.Logf("figure: %s %s: %s: T=%s X=%s", b.name, phase, dom.domain, got.transport, got.tls)
		}
		results[phase][b.name] = r
	}
	// Which Exim each build runs (the message ids differ too: 4.97 and
	// later write the longer form).
	for _, b := range builds {
		out := b.run(t, ns, "exim4", "-bV")
		ver, _, _ := strings.Cut(out, "\n")
		t.Logf("figure: %s: %s; %s", b.name, ver, lineWith(out, "GnuTLS"))
		if b.root != "" && !strings.HasPrefix(ver, "Exim version 4.98") {
			t.Errorf("%s: exim4 -bV in the root says %q, want 4.98", b.name, ver)
		}
	}
	for _, b := range builds {
		bstart := time.Now()
		stock := b.newSender(t, ns, "exim-stock"+b.suffix(), false, "")
		record("stock", b, stock.send(t, "stock"+b.suffix(), sendOptions{}, rcpts...), all)
		confd := b.newSender(t, ns, "exim-tlsprobed"+b.suffix(), true, "")
		record("confd", b, confd.send(t, "confd"+b.suffix(), sendOptions{socket: d.socket}, rcpts...), all)
		if out := confd.test(t, confd.config, d.socket, rcpt(dh768)); !strings.Contains(out, "router = tlsprobed_smallprime, transport = "+smallTransport) {
			t.Errorf("%s: exim -bt %s: want router tlsprobed_smallprime, transport %s:\n%s", b.name, rcpt(dh768), smallTransport, out)
		}
		record("confd-dsa", b, confd.send(t, "dsa"+b.suffix(), sendOptions{socket: d.socket, lines: []string{"TLSPROBED_TLS_REQUIRE_CIPHERS = " + dsaCiphers}}, rcpt(dsa1024), rcpt(dh768)), []mxDomain{dsa1024, dh768})
		frag := b.newFragmentSender(t, ns)
		record("fragment", b, frag.send(t, "fragment"+b.suffix(), sendOptions{socket: d.socket}, rcpts...), all)
		t.Logf("figure: %s: four sends and one exim -bt took %v", b.name, time.Since(bstart).Round(time.Millisecond))
	}
	d.stop(t)
	for _, b := range builds {
		confd := &sender{ns: ns, config: filepath.Join(ns.dir, "exim-tlsprobed"+b.suffix(), "exim4.conf.generated"), build: b}
		record("stopped", b, confd.send(t, "stopped"+b.suffix(), sendOptions{socket: d.socket}, rcpts...), all)
	}

	// The same route and TLS result from both Exims, phase by phase.
	for _, phase := range phases {
		base := results[phase][builds[0].name]
		for _, b := range builds[1:] {
			for dom, want := range base {
				got := results[phase][b.name][dom]
				if got.transport != want.transport || got.tls != want.tls {
					t.Errorf("%s: %s: %s gives T=%s X=%s, %s gives T=%s X=%s", phase, dom, builds[0].name, want.transport, want.tls, b.name, got.transport, got.tls)
				}
			}
		}
	}
	// And the routes the snippets promise (the learnt phase of e2e_test.go).
	for _, c := range []struct {
		phase, domain, transport, tls string
	}{
		{"stock", dh768.domain, plainTransport, ""},
		{"confd", dh768.domain, smallTransport, "TLS1.2:DHE_CUSTOM768"},
		{"confd", modern.domain, plainTransport, "TLS1.3:"},
		{"confd", rsa1024.domain, smallTransport, "TLS1."},
		{"confd", notls.domain, plainTransport, ""},
		{"confd-dsa", dsa1024.domain, smallTransport, "TLS1.2:"},
		{"fragment", dh768.domain, smallTransport, "TLS1.2:DHE_CUSTOM768"},
		{"stopped", dh768.domain, plainTransport, ""},
	} {
		for _, b := range builds {
			got := results[c.phase][b.name][c.domain]
			if got.transport != c.transport || !tlsMatches(got.tls, c.tls) {
				t.Errorf("%s %s: %s: want T=%s X=%s..., got %s", b.name, c.phase, c.domain, c.transport, c.tls, got.line)
			}
		}
	}
}

// lineWith returns the first line of text containing sub ("" if none).
func lineWith(text, sub string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
