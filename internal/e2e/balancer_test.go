package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// lbFirst is the last octet of the first balancer's address (192.0.2.40).
const lbFirst = 40

// lbCase is one balancer: its domain and address, the balancing, and the
// Exim that delivers through it.
type lbCase struct {
	dom     mxDomain
	balance lab.Balance
	build   *eximBuild
}

// lbCases are the balancers: for each GnuTLS Exim (Debian 12's, Debian
// 13's), round robin and random, each its own domain, so one Exim's report
// teaches the daemon nothing about another's address.
func lbCases(t *testing.T) []lbCase {
	t.Helper()
	var cs []lbCase
	for _, b := range gnutlsBuilds(t) {
		for _, bal := range []lab.Balance{lab.RoundRobin, lab.Random} {
			name := map[lab.Balance]string{lab.RoundRobin: "rr", lab.Random: "random"}[bal] + "-" + b.name
			cs = append(cs, lbCase{
				dom:     mxDomain{domain: "lb-" + name + ".test", addr: fmt.Sprintf("192.0.2.%d", lbFirst+len(cs))},
				balance: bal, build: b,
			})
		}
	}
	return cs
}

func (c lbCase) name() string {
	return c.build.name + "-" + strings.ReplaceAll(c.balance.String(), " ", "")
}

const (
	// lbFollowing is how many deliveries after the first failure report
	// must all get TLS (issue 19).
	lbFollowing = 10
	// lbBefore bounds the deliveries made waiting for the first failure.
	lbBefore = 10
	// The X= of each backend through the GnuTLS Exim.
	lbWeakTLS   = "TLS1.2:DHE_CUSTOM768"
	lbModernTLS = "TLS1.3:"
)

// TestBalancer proves the load-balancer case end to end (issue 19: one
// address in front of a modern and a DHE-768 backend): the real daemon
// with its default rate limit, each GnuTLS Exim (Debian 12's, Debian 13's)
// with the single-file fragment and its reports (withEventAction), a
// lab.Proxy on the MX address, round robin and seeded random. Exim delivers until its first
// TLS failure there (a DH prime refused on the weak backend, the delivery
// then made in clear) is reported; from then on, without waiting for
// anything, the answer is tlsexport and the next 10 deliveries all get TLS
// (X=), on both backends.
func TestBalancer(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond)) }()

	cases := lbCases(t)
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

	d := newDaemon(t, ns, bin, "the balancer test", `# The defaults: 2 probes at once per address, then one per 10s.
rate_per_address = "1/10s"
rate_burst = 2`, fmt.Sprintf(`
[answer]
wait = "1s"

[cache]
file = %q
`, filepath.Join(ns.dir, "tlsprobed-cache.json")))
	d.start(t)
	openSocket(t, d)

	senders := map[*eximBuild]*sender{}
	for _, c := range cases {
		s := senders[c.build]
		if s == nil {
			s = c.build.newFragmentSender(t, ns)
			writeFile(t, s.config, withEventAction(t, s.config), 0o644)
			senders[c.build] = s
		}
		p := ns.startProxy(t, c.dom.addr+":25", lab.ProxyOptions{Backends: backends, Balance: c.balance, Seed: 1})
		t.Run(c.name(), func(t *testing.T) { balancerDeliveries(t, d, s, p, c) })
	}
	if n := modernSrv.connectionsFrom(senderAddr); n == 0 {
		t.Errorf("control: the modern backend logged no connection through the balancers:\n%s", modernSrv.mainlog())
	}
}

// balancerDeliveries delivers to dom, behind p, until the first TLS
// failure is reported, then lbFollowing more, which must all get TLS.
func balancerDeliveries(t *testing.T, d *daemon, s *sender, p *lab.Proxy, c lbCase) {
	opts := sendOptions{socket: d.socket}
	before := d.stats(t)
	dom, balance, name := c.dom, c.balance, c.name()

	// 1. Until Exim's first TLS failure at the address, which its
	// event_action reports before the delivery (in clear) ends.
	var inClear, failedAt int
	for i := 1; failedAt == 0; i++ {
		if i > lbBefore {
			t.Fatalf("%s: no TLS failure in %d deliveries; balancer connections per backend (modern, weak) %v\nexplain: %s", balance, lbBefore, p.Counts(), d.explain(dom.domain))
		}
		l := s.send(t, fmt.Sprintf("%s-%d", name, i), opts, rcpt(dom))
		l.noDefers(t)
		got := l.delivered(t, rcpt(dom))
		if got.tls == "" {
			inClear++
		}
		if line := l.line(dhError); line != "" {
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
	// The report already changed the answer: no waiting here.
	a, err := query(d.socket, dom.domain, 5*time.Second)
	if err != nil || a != "tlsexport" {
		t.Errorf("%s: the answer right after the first report: %q, %v; want tlsexport\nexplain: %s", balance, a, err, d.explain(dom.domain))
	}

	// 2. The following deliveries: every one over TLS, whichever backend
	// it lands on.
	var withTLS, onWeak, onModern int
	for i := 1; i <= lbFollowing; i++ {
		l := s.send(t, fmt.Sprintf("%s-after-%d", name, i), opts, rcpt(dom))
		l.noDefers(t)
		got := l.delivered(t, rcpt(dom))
		switch {
		case got.tls == "":
			t.Errorf("%s: delivery %d after the first report went in clear: %s\nexplain: %s", balance, i, got.line, d.explain(dom.domain))
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
		if got.transport != smallTransport {
			t.Errorf("%s: delivery %d after the first report: want T=%s, got %s", balance, i, smallTransport, got.line)
		}
		if line := l.line(dhError); line != "" {
			t.Errorf("%s: delivery %d after the first report: %s", balance, i, line)
		}
	}
	// Both backends must have been tried, or the deliveries proved nothing.
	if onWeak == 0 || onModern == 0 {
		t.Errorf("%s: of %d deliveries after the report, %d on the DHE-768 backend and %d on the modern one: want both", balance, lbFollowing, onWeak, onModern)
	}
	after := d.stats(t)
	rep := lookupd.ReportStats{
		Miss: after.Reports.Miss - before.Reports.Miss, Confirmed: after.Reports.Confirmed - before.Reports.Confirmed,
		Unrelated: after.Reports.Unrelated - before.Reports.Unrelated, Reprobes: after.Reports.Reprobes - before.Reports.Reprobes,
	}
	t.Logf("%s: explain %s: %s", balance, dom.domain, d.explain(dom.domain))
	t.Logf("figure: balancer %s, %s GnuTLS Exim (backends modern TLS 1.3 and DHE-768): %d deliveries in clear before the answer flipped (first TLS failure at delivery %d); reports sent %d (miss %d, confirmed %d, unrelated %d), re-probes %d, probes made %d; then %d/%d deliveries over TLS (%d on the DHE-768 backend, %d on the modern one); balancer connections (modern, weak) %v",
		balance, c.build.name, inClear, failedAt, rep.Miss+rep.Confirmed+rep.Unrelated, rep.Miss, rep.Confirmed, rep.Unrelated, rep.Reprobes,
		after.Probes-before.Probes, withTLS, lbFollowing, onWeak, onModern, p.Counts())
	if withTLS != lbFollowing {
		t.Errorf("%s: %d/%d deliveries over TLS after the first report", balance, withTLS, lbFollowing)
	}
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

// dialTCP connects to addr from inside the namespace: the socket is made
// by a thread of this process that joins the namespace and then ends, as
// in listenTCP (the connection stays in the namespace it was made in).
func (ns *netns) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: Go ends this thread with the goroutine.
		runtime.LockOSThread()
		h, err := os.Open(filepath.Join("/run/netns", ns.name))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", ns.name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch // the dial ends with ctx
	return r.c, r.err
}
