package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

// labServer is one lab server: the OpenSSL fixture (testdata/fixtures/
// smtptls.c) when fixture is set, Debian's Exim (eximServerOptions)
// otherwise.
type labServer struct {
	d       mxDomain
	fixture *fixtureOptions
	exim    eximServerOptions
}

// labNet is one namespace with the sender's, dnsmasq's and the daemon's
// addresses, dnsmasq answering for the servers' domains, the servers
// running, and tlsprobed built from this tree (not started).
type labNet struct {
	ns     *netns
	daemon string                 // the built tlsprobed
	doms   []mxDomain             // the servers' domains, in the order given
	exims  map[string]*eximServer // the Exim servers, by domain
}

// weakServers are the lab servers of the GnuTLS Exims' tests: a DHE-768
// server, an RSA-1024 certificate, a modern server, no STARTTLS, a domain
// for [overrides] (modern), a DSA-1024 certificate only.
var weakServers = []labServer{
	{d: dh768, fixture: &fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"}},
	{d: rsa1024, exim: eximServerOptions{Cert: "rsa1024"}},
	{d: modern, exim: eximServerOptions{Cert: "rsa2048"}},
	{d: notls, exim: eximServerOptions{NoSTARTTLS: true}},
	{d: override, exim: eximServerOptions{Cert: "rsa2048"}},
	{d: dsa1024, fixture: &fixtureOptions{Cert: "dsa1024", Ciphers: "ALL:!aNULL:!eNULL"}},
}

// startLab makes the namespace, starts dnsmasq and the servers, and builds
// the daemon.
func startLab(t *testing.T, servers []labServer) *labNet {
	t.Helper()
	addrs := []string{senderAddr, dnsAddr, probeAddr}
	l := &labNet{exims: map[string]*eximServer{}}
	for _, s := range servers {
		l.doms = append(l.doms, s.d)
		if !slices.Contains(addrs, s.d.addr) {
			addrs = append(addrs, s.d.addr)
		}
	}
	l.ns = newNetns(t, dnsAddr, addrs...)
	l.daemon = buildDaemon(t, l.ns.dir)
	startDNS(t, l.ns, dnsAddr, l.doms...)
	var fixture string
	for _, s := range servers {
		if s.fixture == nil {
			l.exims[s.d.domain] = startEximServer(t, l.ns, s.d, s.exim)
			continue
		}
		if fixture == "" {
			fixture = lab.FixtureBinary(t)
		}
		startFixture(t, l.ns, fixture, s.d, *s.fixture)
	}
	return l
}

// rcpts is one recipient per domain, in the servers' order.
func (l *labNet) rcpts() []string {
	r := make([]string, 0, len(l.doms))
	for _, d := range l.doms {
		r = append(r, rcpt(d))
	}
	return r
}

// weakDaemon is the daemon of the weakServers' tests, not started: no rate
// limit per address (the lab servers are probed several times within
// seconds), answers within 1s, a cache file, and override.test in
// [overrides] tlsexport.
func (l *labNet) weakDaemon(t *testing.T, what string) *daemon {
	t.Helper()
	return newDaemon(t, l.ns, l.daemon, what, "rate_per_address = 0", fmt.Sprintf(`
[answer]
wait = "1s"

[cache]
file = %q

[overrides]
tlsexport = ["%s"]
`, filepath.Join(l.ns.dir, "tlsprobed-cache.json"), override.domain))
}
