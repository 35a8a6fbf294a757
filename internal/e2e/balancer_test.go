package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// The balancer lab: the two backends, which are in no DNS record, and the
// first address of the balancers (lab.Proxy), one per sending Exim and
// balancing mode, each in front of both backends.
var (
	lbModern = mxDomain{domain: "lb-modern.test", addr: "192.0.2.30"} // Exim, RSA-2048, TLS 1.3
	lbWeak   = mxDomain{domain: "lb-weak.test", addr: "192.0.2.31"}   // OpenSSL fixture: TLS 1.2 only, DHE only, 768-bit prime
)

const (
	// lbFirst is the last octet of the first balancer's address (192.0.2.40).
	lbFirst = 40
	// lbFollowing is how many deliveries after the first failure report
	// must all get TLS (issue 19).
	lbFollowing = 10
	// lbBefore bounds the deliveries made waiting for the first failure.
	lbBefore = 10
	// The X= of each backend through the GnuTLS Exims.
	lbWeakTLS   = "TLS1.2:DHE_CUSTOM768"
	lbModernTLS = "TLS1.3:"
)

// lbCase is one balancer: its domain and address, the balancing, and the
// Exim that delivers through it (its name, and whether it is the OpenSSL
// build, which no transport gets TLS with at the DHE-768 backend).
type lbCase struct {
	dom     mxDomain
	balance lab.Balance
	exim    string
	openssl bool
	sender  func(t *testing.T, ns *netns) mta
}

func (c lbCase) name() string { return c.exim + "-" + strings.ReplaceAll(c.balance.String(), " ", "") }

// lbCasesFor are a case per balancing mode for each sending Exim, each its
// own domain and address (from 192.0.2.lbFirst on), so that one Exim's
// report teaches the daemon nothing about another's balancer.
func lbCasesFor(builds ...lbCase) []lbCase {
	var cs []lbCase
	for _, b := range builds {
		for _, bal := range []lab.Balance{lab.RoundRobin, lab.Random} {
			c := b
			c.balance = bal
			c.dom = mxDomain{addr: fmt.Sprintf("192.0.2.%d", lbFirst+len(cs))}
			c.dom.domain = "lb-" + c.name() + ".test"
			cs = append(cs, c)
		}
	}
	return cs
}

// fragmentWithReports is the single-file fragment in Exim's default
// configuration with the reports on (withEventAction), for the Exim of b.
func fragmentWithReports(b *eximBuild) func(t *testing.T, ns *netns) mta {
	return func(t *testing.T, ns *netns) mta {
		s := b.newFragmentSender(t, ns)
		writeFile(t, s.config, withEventAction(t, s.config), 0o644)
		return s
	}
}

// TestBalancer proves the load-balancer case end to end (issue 19: one
// address in front of a modern and a DHE-768 backend): the real daemon
// with its default rate limit, each GnuTLS Exim (Debian 12's, Debian 13's)
// with the single-file fragment and its reports (withEventAction), a
// lab.Proxy on the MX address, round robin and seeded random. Each Exim
// keeps one spool for all its deliveries to a balancer (its hints: TLS
// resumption across the backends, as in production). It delivers until its
// first TLS failure there (a DH prime refused on the weak backend, the
// delivery then made in clear) is reported; from then on, without waiting
// for anything, the answer is tlsexport and the next 10 deliveries all get
// TLS (X=), on both backends.
func TestBalancer(t *testing.T) {
	requireE2E(t)
	var builds []lbCase
	for _, b := range gnutlsBuilds(t) {
		builds = append(builds, lbCase{exim: b.name, sender: fragmentWithReports(b)})
	}
	runBalancers(t, "gnutls", `# The defaults: 2 probes at once per address, then one per 10s.
rate_per_address = "1/10s"
rate_burst = 2`, lbCasesFor(builds...))
}

// TestBalancerOpenSSL is TestBalancer for Exim 4.96 built with OpenSSL 3
// and a daemon modelling it (security level 2). OpenSSL refuses a 768-bit
// prime at every security level, so no transport gets TLS at the weak
// backend: after the first report, every delivery whose connection reaches
// the modern backend must get TLS, and every one in clear must show the
// weak backend's TLS failure.
func TestBalancerOpenSSL(t *testing.T) {
	requireE2E(t)
	bin := lab.EximOpenSSLBinary(t)
	c := lbCase{exim: "openssl", openssl: true, sender: func(t *testing.T, ns *netns) mta {
		return newOpenSSLSender(t, ns, bin, fragmentWithReports(bookworm)(t, ns).(*sender).config, "exim-fragment-openssl.conf", "TLSPROBED_OPENSSL = yes")
	}}
	runBalancers(t, "openssl", `client = "openssl"
openssl_seclevel = 2
rate_per_address = "1/10s"
rate_burst = 2`, lbCasesFor(c))
}

// runBalancers starts the lab (both backends, a balancer per case, the
// daemon with probeLines) and runs each case.
func runBalancers(t *testing.T, client, probeLines string, cases []lbCase) {
	start := time.Now()
	defer func() { t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond)) }()

	addrs := []string{senderAddr, lbModern.addr, lbWeak.addr}
	doms := make([]mxDomain, 0, len(cases))
	for _, c := range cases {
		addrs = append(addrs, c.dom.addr)
		doms = append(doms, c.dom)
	}
	ns := newNetns(t, dnsAddr, append(addrs, dnsAddr, probeAddr)...)
	bin := buildDaemon(t, ns.dir)
	startDNS(t, ns, dnsAddr, doms...)
	modernSrv := startEximServer(t, ns, lbModern, eximServerOptions{Cert: "rsa2048"})
	startFixture(t, ns, lab.FixtureBinary(t), lbWeak, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"})
	backends := []string{net.JoinHostPort(lbModern.addr, "25"), net.JoinHostPort(lbWeak.addr, "25")}

	d := newDaemon(t, ns, bin, "the balancer test ("+client+")", probeLines, fmt.Sprintf(`
[answer]
wait = "1s"

[cache]
file = %q
`, filepath.Join(ns.dir, "tlsprobed-cache.json")))
	d.start(t)
	openSocket(t, d)

	senders := map[string]mta{}
	onModern := 0
	for _, c := range cases {
		s := senders[c.exim]
		if s == nil {
			s = c.sender(t, ns)
			senders[c.exim] = s
		}
		p := ns.startProxy(t, c.dom.addr+":25", lab.ProxyOptions{Backends: backends, Balance: c.balance, Seed: 1})
		t.Run(c.name(), func(t *testing.T) { onModern += balancerDeliveries(t, d, &spoolKeeper{mta: s, phase: c.name()}, p, c) })
	}
	if onModern == 0 {
		t.Errorf("no delivery after a first report reached the modern backend over TLS: the deliveries proved nothing there")
	}
	if n := modernSrv.connectionsFrom(senderAddr); n == 0 {
		t.Errorf("control: the modern backend logged no connection through the balancers:\n%s", modernSrv.mainlog())
	}
}

// spoolKeeper sends every message of a case with the same spool (the
// phase names it), and returns only the main log lines each run added.
type spoolKeeper struct {
	mta
	phase string
	seen  int // bytes of the main log already returned
}

func (k *spoolKeeper) next(t *testing.T, what string, o sendOptions, rcpts ...string) *eximLog {
	t.Helper()
	l := k.send(t, k.phase, o, rcpts...)
	if len(l.text) < k.seen {
		t.Fatalf("%s: the main log of spool %s shrank", what, k.phase)
	}
	l.text, k.seen = l.text[k.seen:], len(l.text)
	l.phase = k.phase + " " + what
	return l
}

// tlsFailure starts Exim's log line for a failed TLS handshake as a
// client, with either library ("TLS session: (gnutls_handshake): ...",
// "TLS session: (SSL_connect): ...").
const tlsFailure = "TLS session: ("

// balancerDeliveries delivers to c.dom, behind p, until the first TLS
// failure is reported, then lbFollowing more: all over TLS (GnuTLS), or,
// for the OpenSSL build, over TLS wherever the connection reached the
// modern backend.
// It returns how many of those reached the modern backend over TLS.
func balancerDeliveries(t *testing.T, d *daemon, s *spoolKeeper, p *lab.Proxy, c lbCase) int {
	opts := sendOptions{socket: d.socket}
	before := d.stats(t)
	dom, balance := c.dom, c.balance

	// 1. Until Exim's first TLS failure at the address, which its
	// event_action reports before the delivery (in clear) ends.
	var inClear, failedAt int
	for i := 1; failedAt == 0; i++ {
		if i > lbBefore {
			t.Fatalf("%s: no TLS failure in %d deliveries; balancer connections per backend (modern, weak) %v\nexplain: %s", balance, lbBefore, p.Counts(), d.explain(dom.domain))
		}
		l := s.next(t, fmt.Sprintf("before-%d", i), opts, rcpt(dom))
		l.noDefers(t)
		got := l.delivered(t, rcpt(dom))
		if got.tls == "" {
			inClear++
		}
		if line := l.line(tlsFailure); line != "" {
			failedAt = i
			t.Logf("%s: first TLS failure, delivery %d: %s", balance, i, line)
			t.Logf("%s: %s", balance, got.line)
			if got.tls != "" {
				t.Errorf("%s: delivery %d failed TLS, yet its => line shows X=: %s", balance, i, got.line)
			}
		} else if got.tls == "" {
			t.Errorf("%s: delivery %d went in clear with no TLS failure: %s", balance, i, got.line)
		}
	}
	st := d.stats(t)
	if r := st.Reports.Miss + st.Reports.Confirmed - before.Reports.Miss - before.Reports.Confirmed; r == 0 {
		t.Fatalf("%s: the TLS failure of delivery %d was not reported: reports %+v", balance, failedAt, st.Reports)
	}
	// The report already changed the answer: no waiting here. (For the
	// OpenSSL build every answer gets TLS at the modern backend and none
	// at the weak one: the deliveries below judge it.)
	a, err := query(d.socket, dom.domain, 5*time.Second)
	if err != nil || (!c.openssl && a != "tlsexport") {
		t.Errorf("%s: the answer right after the first report: %q, %v; want tlsexport\nexplain: %s", balance, a, err, d.explain(dom.domain))
	}
	t.Logf("%s: the answer right after the first report: %q", balance, a)

	// 2. The following deliveries.
	var withTLS, onWeak, onModern, weakFailed int
	for i := 1; i <= lbFollowing; i++ {
		l := s.next(t, fmt.Sprintf("after-%d", i), opts, rcpt(dom))
		l.noDefers(t)
		got := l.delivered(t, rcpt(dom))
		failure := l.line(tlsFailure)
		switch {
		case got.tls == "" && c.openssl && failure != "":
			weakFailed++ // OpenSSL: no transport gets TLS at the weak backend
			t.Logf("%s: delivery %d after the first report, in clear after a TLS failure: %s", balance, i, failure)
		case got.tls == "":
			t.Errorf("%s: delivery %d after the first report went in clear: %s\n%s\nexplain: %s", balance, i, got.line, failure, d.explain(dom.domain))
		case tlsMatches(got.tls, lbWeakTLS):
			withTLS++
			onWeak++
		case tlsMatches(got.tls, lbModernTLS):
			withTLS++
			onModern++
		default:
			withTLS++
			t.Logf("%s: delivery %d over TLS, backend not told by X=: %s", balance, i, got.line)
		}
		if !c.openssl {
			if got.transport != smallTransport {
				t.Errorf("%s: delivery %d after the first report: want T=%s, got %s", balance, i, smallTransport, got.line)
			}
			if failure != "" {
				t.Errorf("%s: delivery %d after the first report: %s", balance, i, failure)
			}
		}
		t.Logf("%s: after %d: %s", balance, i, got.line)
	}
	// Both backends must have been reached, or the deliveries proved
	// nothing. (The OpenSSL build with round robin may not reach the
	// modern one first at all: each delivery in clear makes two
	// connections, so the weak backend gets every first one; runBalancers
	// checks its cases together.)
	if onWeak+weakFailed == 0 || (onModern == 0 && !c.openssl) {
		t.Errorf("%s: of %d deliveries after the report, %d on the DHE-768 backend (%d of them in clear) and %d on the modern one: want both", balance, lbFollowing, onWeak+weakFailed, weakFailed, onModern)
	}
	after := d.stats(t)
	rep := lookupd.ReportStats{
		Miss: after.Reports.Miss - before.Reports.Miss, Confirmed: after.Reports.Confirmed - before.Reports.Confirmed,
		Unrelated: after.Reports.Unrelated - before.Reports.Unrelated, Reprobes: after.Reports.Reprobes - before.Reports.Reprobes,
	}
	t.Logf("%s: explain %s: %s", balance, dom.domain, d.explain(dom.domain))
	where := fmt.Sprintf("%d on the DHE-768 backend, %d on the modern one", onWeak, onModern)
	if c.openssl {
		where = fmt.Sprintf("%d on the modern backend; %d in clear after a TLS failure at the DHE-768 backend, where no OpenSSL transport gets TLS", onModern, weakFailed)
	}
	t.Logf("figure: balancer %s, %s Exim (backends modern TLS 1.3 and DHE-768): %d deliveries in clear before the answer flipped (first TLS failure at delivery %d); reports sent %d (miss %d, confirmed %d, unrelated %d), re-probes %d, probes made %d; then %d/%d deliveries over TLS (%s); balancer connections (modern, weak) %v",
		balance, c.exim, inClear, failedAt, rep.Miss+rep.Confirmed+rep.Unrelated, rep.Miss, rep.Confirmed, rep.Unrelated, rep.Reprobes,
		after.Probes-before.Probes, withTLS, lbFollowing, where, p.Counts())
	if !c.openssl && withTLS != lbFollowing {
		t.Errorf("%s: %d/%d deliveries over TLS after the first report", balance, withTLS, lbFollowing)
	}
	return onModern
}

// openSocket lets every user reach the daemon's socket (its directory
// 0755, the socket 0666). The reports are sent by Exim's transport, which
// runs as the Exim user: Debian 13's root has its own Debian-exim (100:101)
// that is not in this machine's Debian-exim group (the socket's group), so
// without this its reports would be refused (readsocket fails quietly),
// while its routing, as root, works. On a Debian 13 system the socket's
// group is that system's Debian-exim.
func openSocket(t *testing.T, d *daemon) {
	t.Helper()
	if err := os.Chmod(filepath.Dir(d.socket), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.socket, 0o666); err != nil {
		t.Fatal(err)
	}
}

// startProxy runs a lab.Proxy on addr ("ip:port") inside the namespace,
// dialling its backends from inside it too (dialTCP); t.Cleanup closes it
// and fails the test if its accept loop ended early.
func (ns *netns) startProxy(t *testing.T, addr string, o lab.ProxyOptions) *lab.Proxy {
	t.Helper()
	f := ns.listenTCP(t, addr)
	ln, err := net.FileListener(f) // a duplicate: f's cleanup closes only f
	if err != nil {
		t.Fatal(err)
	}
	o.Dial = ns.dialTCP
	p, err := lab.StartProxy(context.Background(), ln, o)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("balancer on %s: %v", addr, err)
		}
	})
	return p
}

// dialTCP connects to addr from inside the namespace (inside); the dial
// ends with ctx.
func (ns *netns) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	return inside(ns, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	})
}
