package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"fmt"
	"path/filepath"
	"testing"
)

// gnutlsLab is the lab of the GnuTLS Exims' end-to-end tests
// (TestEximRoutesAroundWeakTLS, TestGnuTLSEximsRouteAlike): one namespace
// with the sender's, dnsmasq's and the daemon's addresses, dnsmasq
// answering for every domain of all, and a server for each.
type gnutlsLab struct {
	ns     *netns
	bin    string     // the daemon built into the namespace's directory
	all    []mxDomain // dh768, rsa1024, modern, notls, override, dsa1024
	rcpts  []string   // a recipient at each domain of all
	modern *eximServer
	// override is the server of the domain the daemon's configuration
	// (daemonConfig) lists in [overrides] tlsexport.
	override *eximServer
}

// startGnuTLSLab starts the lab: the OpenSSL fixture for the DHE-768
// (TLS 1.2, DHE only) and the DSA-1024-only servers, Debian's Exim for the
// RSA-1024, modern, STARTTLS-less and override servers.
func startGnuTLSLab(t *testing.T) *gnutlsLab {
	t.Helper()
	l := &gnutlsLab{all: []mxDomain{dh768, rsa1024, modern, notls, override, dsa1024}}
	addrs := []string{senderAddr, dnsAddr, probeAddr}
	for _, d := range l.all {
		addrs = append(addrs, d.addr)
		l.rcpts = append(l.rcpts, rcpt(d))
	}
	l.ns = newNetns(t, dnsAddr, addrs...)
	l.bin = buildDaemon(t, l.ns.dir)
	startDNS(t, l.ns, dnsAddr, l.all...)
	fixture := lab.FixtureBinary(t)
	startFixture(t, l.ns, fixture, dh768, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"})
	startFixture(t, l.ns, fixture, dsa1024, fixtureOptions{Cert: "dsa1024", Ciphers: "ALL:!aNULL:!eNULL"})
	startEximServer(t, l.ns, rsa1024, eximServerOptions{Cert: "rsa1024"})
	l.modern = startEximServer(t, l.ns, modern, eximServerOptions{Cert: "rsa2048"})
	startEximServer(t, l.ns, notls, eximServerOptions{NoSTARTTLS: true})
	l.override = startEximServer(t, l.ns, override, eximServerOptions{Cert: "rsa2048"})
	return l
}

// daemonConfig is the daemon's configuration after [probe]: answers within
// 1s, a cache file in the namespace's directory, the override domain in
// [overrides] tlsexport.
func (l *gnutlsLab) daemonConfig() string {
	return fmt.Sprintf(`
[answer]
wait = "1s"

[cache]
file = %q

[overrides]
tlsexport = ["%s"]
`, filepath.Join(l.ns.dir, "tlsprobed-cache.json"), override.domain)
}
