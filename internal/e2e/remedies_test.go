package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The servers of TestRemediesEverySender besides weakServers': TLS 1.0
// only, from the OpenSSL fixture at security level 0 (OpenSSL 3 serves TLS
// 1.0 nowhere else), one with ECDHE and one with RSA key exchange.
var (
	tls10ECDHE = mxDomain{domain: "tls10ecdhe.test", addr: "192.0.2.16"}
	tls10RSA   = mxDomain{domain: "tls10rsa.test", addr: "192.0.2.17"}
)

// remedyServers are the lab servers of TestRemediesEverySender, one of each
// case of issue 19 and the ordinary ones.
var remedyServers = []labServer{
	{d: dsa1024, fixture: &fixtureOptions{Cert: "dsa1024", Ciphers: "ALL:!aNULL:!eNULL"}},
	{d: tls10ECDHE, fixture: &fixtureOptions{Cert: "rsa2048", Ciphers: "kECDHE", Max: "1.0"}},
	{d: tls10RSA, fixture: &fixtureOptions{Cert: "rsa2048", Ciphers: "kRSA", Max: "1.0"}},
	{d: dh768, fixture: &fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"}},
	{d: rsa1024, exim: eximServerOptions{Cert: "rsa1024"}},
	{d: modern, exim: eximServerOptions{Cert: "rsa2048"}},
	{d: notls, exim: eximServerOptions{NoSTARTTLS: true}},
}

// contribTransports are the transports of contrib/exim that a client's
// routers send mail through, remote_smtp (the administrator's) first; for
// the openssl client in the order an answer prefers them (the strongest
// settings first: docs/design.md section 7).
var contribTransports = map[string][]string{
	"gnutls":  {plainTransport, smallTransport},
	"openssl": {plainTransport, nodheTransport, seclevel1Transport, seclevel0Transport},
}

// answerTransport is the transport contrib/exim routes an answer of the
// daemon to (its default TLSPROBED_*_ANSWERS lists).
func answerTransport(client, answer string) string {
	switch {
	case answer == "":
		return plainTransport
	case client == "gnutls" && (answer == "tlsexport" || answer == "smallkey"):
		return smallTransport
	case client == "openssl" && answer == "nodhe":
		return nodheTransport
	case client == "openssl" && (answer == "seclevel1" || answer == "tlsexport" || answer == "smallkey"):
		return seclevel1Transport
	case client == "openssl" && answer == "seclevel0":
		return seclevel0Transport
	}
	return "(no transport for " + answer + ")"
}

// forceRouter sends every remote address through the transport named by
// the macro E2E_FORCE_TRANSPORT, when it is defined, before contrib/exim's
// routers ask the daemon: what each transport gets from each server.
const forceRouter = `.ifdef E2E_FORCE_TRANSPORT
e2e_force:
  driver = dnslookup
  domains = ! +local_domains
  transport = E2E_FORCE_TRANSPORT
  ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
  same_domain_copy_routing = yes
  no_more
.endif
`

// addForceRouter puts forceRouter first in the routers of m's configuration.
func addForceRouter(t *testing.T, m mta) {
	t.Helper()
	var path string
	switch s := m.(type) {
	case *sender:
		path = s.config
	case *opensslSender:
		path = s.config
	default:
		t.Fatalf("addForceRouter: unknown sender %T", m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	if strings.Contains(conf, "\ne2e_force:\n") {
		return
	}
	const routers = "\nbegin routers\n"
	if strings.Count(conf, routers) != 1 {
		t.Fatalf("%s: want one %q line", path, strings.TrimSpace(routers))
	}
	writeFile(t, path, strings.Replace(conf, routers, routers+forceRouter, 1), 0o644)
}

// reasonGetsTLS finds the transports explain says get TLS.
var reasonGetsTLS = regexp.MustCompile(`(remote_smtp\w*)(?: \([^)]*\))? gets TLS`)

// reasonNoTLS are what explain says where it says no transport gets TLS.
var reasonNoTLS = []string{"no TLS possible", "Exim delivers in clear"}

// reasonRefused is what explain says where the openssl client's transports
// at security level 1 and above (this test's daemon models level 2) get no
// TLS.
const reasonRefused = "OpenSSL 3 refuses at security level 1 and above"

// TestRemediesEverySender delivers, with each sending Exim of allSenders,
// one message to each lab server of remedyServers (a DSA-1024-only server,
// TLS 1.0-only servers with ECDHE and with RSA key exchange, a DHE-768
// server, an RSA-1024 certificate, a modern server, no STARTTLS), in one
// namespace with the servers started once:
//   - through each transport of contrib/exim that the build's routers use,
//     forced by a router of the test: which transports get TLS (X=) from
//     which server, measured;
//   - through contrib/exim and the daemon that models the build's client
//     (one daemon per client: both GnuTLS Exims share one), as the
//     single-file fragment and as Debian's conf.d snippets (the same T= and
//     X= from both).
//
// Wherever some transport got TLS, the daemon's delivery must have it too,
// through the transport its answer names (for the OpenSSL Exim, the
// strongest that got TLS); where none did, it must stay on remote_smtp in
// clear. And explain must not say "gets TLS" of a transport
// that did not get it, nor "no TLS possible" where one did.
func TestRemediesEverySender(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("remedies test took %v", time.Since(start).Round(time.Millisecond)) }()

	lnet := startLab(t, remedyServers)
	ns, rcpts := lnet.ns, lnet.rcpts()
	senders := allSenders(t)
	daemons := remedyDaemons(t, lnet, senders)
	mtas := make([]mta, len(senders))
	for i, sb := range senders {
		mtas[i] = sb.fragment(t, ns)
	}
	for _, m := range mtas { // after all: the OpenSSL sender copies bookworm's file
		addForceRouter(t, m)
	}

	for i, sb := range senders {
		bstart := time.Now()
		m, d := mtas[i], daemons[sb.client]
		results := map[string]*remedy{}
		for _, dom := range lnet.doms {
			results[dom.domain] = &remedy{build: sb.name, client: sb.client, domain: dom.domain, forced: map[string]delivery{}}
		}
		for _, tr := range contribTransports[sb.client] {
			l := m.send(t, "remedies-"+sb.name+"-"+tr, sendOptions{socket: d.socket, lines: []string{"E2E_FORCE_TRANSPORT = " + tr}}, rcpts...)
			l.noDefers(t)
			for _, dom := range lnet.doms {
				got := l.delivered(t, rcpt(dom))
				if got.transport != tr {
					t.Errorf("%s: forced %s: %s went through %s: %s", sb.name, tr, dom.domain, got.transport, got.line)
				}
				results[dom.domain].forced[tr] = got
			}
		}
		for _, dom := range lnet.doms {
			r := results[dom.domain]
			r.reasons = waitProbed(t, d, dom.domain, 60*time.Second).reasons()
			a, err := query(d.socket, dom.domain, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: ask %s: %v", sb.name, dom.domain, err)
			}
			r.answer = strings.TrimSpace(a)
		}
		l := m.send(t, "remedies-"+sb.name+"-daemon", sendOptions{socket: d.socket}, rcpts...)
		l.noDefers(t)
		// Debian's conf.d snippets route and deliver alike.
		lc := sb.confd(t, ns, "").send(t, "remedies-"+sb.name+"-confd", sendOptions{socket: d.socket}, rcpts...)
		lc.noDefers(t)

		var gets, can, none int
		for _, dom := range lnet.doms {
			r := results[dom.domain]
			r.daemon = l.delivered(t, rcpt(dom))
			if c := lc.delivered(t, rcpt(dom)); c.transport != r.daemon.transport || c.tls != r.daemon.tls {
				t.Errorf("%s: %s: the fragment gives T=%s X=%s, conf.d T=%s X=%s", sb.name, dom.domain, r.daemon.transport, r.daemon.tls, c.transport, c.tls)
			}
			t.Logf("figure: %s", r)
			r.checkRoute(t, d)
			r.checkExplain(t)
			switch {
			case len(r.getsTLS()) == 0:
				none++
			case r.daemon.tls != "":
				gets, can = gets+1, can+1
			default:
				can++
			}
		}
		t.Logf("figure: %s: %d of %d lab servers get TLS through the daemon; %d = servers where some transport gets TLS; %d servers where none can (%d deliveries, %v)",
			sb.name, gets, can, can, none, len(lnet.doms)*(len(contribTransports[sb.client])+2), time.Since(bstart).Round(time.Millisecond))
	}
}

// remedyDaemons starts one daemon per client of senders, each in a
// directory of its own in the one namespace (its socket, configuration and
// log), and asks each about every domain so that the probes start.
func remedyDaemons(t *testing.T, lnet *labNet, senders []senderBuild) map[string]*daemon {
	t.Helper()
	daemons := map[string]*daemon{}
	for _, sb := range senders {
		if daemons[sb.client] != nil {
			continue
		}
		sub := &netns{name: lnet.ns.name, dir: filepath.Join(lnet.ns.dir, "daemon-"+sb.client)}
		if err := os.MkdirAll(sub.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		probe := "rate_per_address = 0"
		if sb.client == "openssl" {
			probe = "client = \"openssl\"\nopenssl_seclevel = 2\n" + probe
		}
		d := newDaemon(t, sub, lnet.daemon, "the remedies test ("+sb.client+")", probe, "\n[answer]\nwait = \"1s\"\n")
		d.start(t)
		// The answers do not matter yet (waitProbed waits for the facts).
		for _, dom := range lnet.doms {
			query(d.socket, dom.domain, 5*time.Second)
		}
		daemons[sb.client] = d
	}
	return daemons
}

// remedy is what one sending Exim got from one lab server.
type remedy struct {
	build, client, domain string
	forced                map[string]delivery // by transport, forced by e2e_force
	answer                string              // the daemon's
	daemon                delivery            // through contrib/exim and the daemon
	reasons               string              // explain's
}

// getsTLS are the transports that got TLS when forced, strongest first.
func (r *remedy) getsTLS() []string {
	var got []string
	for _, tr := range contribTransports[r.client] {
		if r.forced[tr].tls != "" {
			got = append(got, tr)
		}
	}
	return got
}

// String is the figure line of r.
func (r *remedy) String() string {
	var forced []string
	for _, tr := range contribTransports[r.client] {
		forced = append(forced, fmt.Sprintf("%s X=%s", tr, orClear(r.forced[tr].tls)))
	}
	return fmt.Sprintf("%s: %s: answer %q, T=%s X=%s; forced: %s; explain: %s", r.build, r.domain, r.answer, r.daemon.transport, orClear(r.daemon.tls), strings.Join(forced, ", "), r.reasons)
}

// checkRoute: the delivery went through the answer's transport; it got TLS
// wherever some transport did (for the openssl client the answer is the
// strongest that did), and stayed on remote_smtp in clear where none did.
func (r *remedy) checkRoute(t *testing.T, d *daemon) {
	t.Helper()
	want, got := answerTransport(r.client, r.answer), r.getsTLS()
	if r.daemon.transport != want {
		t.Errorf("%s: %s: answer %q routes to %s, the delivery went through %s: %s", r.build, r.domain, r.answer, want, r.daemon.transport, r.daemon.line)
	}
	switch {
	case len(got) == 0:
		if r.daemon.transport != plainTransport || r.daemon.tls != "" {
			t.Errorf("%s: %s: no transport gets TLS; want T=%s in clear, got %s", r.build, r.domain, plainTransport, r.daemon.line)
		}
	case r.daemon.tls == "":
		t.Errorf("%s: %s: %v got TLS, the daemon's route (answer %q, T=%s) did not: %s\nexplain: %s", r.build, r.domain, got, r.answer, r.daemon.transport, r.daemon.line, d.explain(r.domain))
	case r.client == "openssl" && want != got[0]:
		t.Errorf("%s: %s: answer %q routes to %s, yet the stronger %s gets TLS there\nexplain: %s", r.build, r.domain, r.answer, want, got[0], d.explain(r.domain))
	}
}

// checkExplain: explain says no transport "gets TLS" that did not get it
// when forced, nor "no TLS possible" (or "refuses at security level 1 and
// above") where one did (one at those levels).
func (r *remedy) checkExplain(t *testing.T) {
	t.Helper()
	for _, m := range reasonGetsTLS.FindAllStringSubmatch(r.reasons, -1) {
		if del, ok := r.forced[m[1]]; !ok || del.tls == "" {
			t.Errorf("%s: %s: explain says %q, the delivery through %s: %s\nexplain: %s", r.build, r.domain, m[0], m[1], del.line, r.reasons)
		}
	}
	if strings.Contains(r.reasons, reasonRefused) {
		for _, tr := range []string{plainTransport, nodheTransport, seclevel1Transport} {
			if del := r.forced[tr]; del.tls != "" {
				t.Errorf("%s: %s: explain says %q, yet %s got TLS: %s\nexplain: %s", r.build, r.domain, reasonRefused, tr, del.line, r.reasons)
			}
		}
	}
	for _, no := range reasonNoTLS {
		if got := r.getsTLS(); strings.Contains(r.reasons, no) && len(got) > 0 {
			t.Errorf("%s: %s: explain says %q, yet %v got TLS\nexplain: %s", r.build, r.domain, no, got, r.reasons)
		}
	}
}

// orClear is an X= value for a figure line: "-" for a delivery in clear.
func orClear(tls string) string {
	if tls == "" {
		return "-"
	}
	return tls
}
