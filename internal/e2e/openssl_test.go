package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"

	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The servers of the OpenSSL-built Exim's test, each the OpenSSL fixture on
// an address of its own.
var (
	// DHE only, TLS 1.2 only, 1024-bit prime: OpenSSL's default security
	// level (2) refuses it, level 1 admits it.
	sslDHE1024 = mxDomain{domain: "dhe1024.test", addr: "192.0.2.30"}
	// TLS 1.2 only; prefers DHE with a 768-bit prime (server preference)
	// but also has ECDHE.
	sslPreferDHE = mxDomain{domain: "preferdhe.test", addr: "192.0.2.31"}
	// Modern: TLS 1.3, RSA-2048.
	sslModern = mxDomain{domain: "modern.test", addr: "192.0.2.32"}
	// DHE only, TLS 1.2 only, 768-bit prime: OpenSSL refuses it at every
	// security level, so this Exim cannot reach it over TLS at all.
	sslDHE768 = mxDomain{domain: "dhe768.test", addr: "192.0.2.33"}
	// Listed in [overrides] tlsexport (answered from there), MX on the
	// modern server: sent to remote_smtp_openssl_seclevel1, which still
	// gets TLS 1.3.
	sslOverride = mxDomain{domain: "override.test", addr: sslModern.addr}
	// DSA-1024 certificate only (issue 19): OpenSSL 3 gets TLS there only
	// at security level 0 ("seclevel0", ALL:@SECLEVEL=0).
	sslDSA = mxDomain{domain: "dsa1024.test", addr: "192.0.2.34"}
)

const (
	nodheTransport     = "remote_smtp_openssl_nodhe"
	seclevel1Transport = "remote_smtp_openssl_seclevel1"
	seclevel0Transport = "remote_smtp_openssl_seclevel0"
	// What the OpenSSL Exim logs when the server's prime is under its
	// security level's floor, before it delivers in clear.
	dhTooSmall = "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small: delivering unencrypted"
	// noTLSReason is what explain says of an address that no transport of
	// the modelled client gets TLS from.
	noTLSReason = "no TLS possible from this client"
	// stoppedTimeout is TLSPROBED_TIMEOUT with the daemon stopped: a send
	// that takes less did not wait for any readsocket to time out.
	stoppedTimeout = 20 * time.Second
)

// TestEximOpenSSLRoutesAroundWeakTLS proves the OpenSSL routers and
// transports of contrib/exim end to end: an Exim built with OpenSSL 3
// (lab.EximOpenSSLBinary), configured with Exim's default configuration and
// the single-file fragment with TLSPROBED_OPENSSL, asks the real tlsprobed
// (probe.client = "openssl") and, once it knows the servers:
//   - a DHE-only TLS 1.2 server with a 1024-bit prime ("seclevel1") gets its
//     mail over TLS through remote_smtp_openssl_seclevel1;
//   - a TLS 1.2 server that prefers a 768-bit DHE but has ECDHE ("nodhe")
//     gets it over TLS with ECDHE through remote_smtp_openssl_nodhe;
//   - a modern server ("") gets it through remote_smtp over TLS 1.3;
//   - a DHE-only server with a 768-bit prime ("") gets it through
//     remote_smtp in clear: nothing this Exim can do gets TLS there, and
//     explain says so;
//   - a domain in [overrides] tlsexport goes through
//     remote_smtp_openssl_seclevel1, over TLS 1.3 to a modern server.
//
// Debian's split configuration with the conf.d files and TLSPROBED_OPENSSL
// routes and delivers the same way with that Exim. With a daemon that never
// answers, and with the daemon stopped, every domain goes through
// remote_smtp and nothing defers; stopped, no readsocket waits for its
// timeout.
func TestEximOpenSSLRoutesAroundWeakTLS(t *testing.T) {
	requireE2E(t)
	bin := lab.EximOpenSSLBinary(t)
	start := time.Now()
	defer func() { t.Logf("OpenSSL end-to-end test took %v", time.Since(start).Round(time.Millisecond)) }()

	all := []mxDomain{sslDHE1024, sslPreferDHE, sslModern, sslDHE768, sslOverride, sslDSA}
	addrs := []string{senderAddr, dnsAddr, probeAddr}
	for _, d := range all {
		if !slices.Contains(addrs, d.addr) {
			addrs = append(addrs, d.addr)
		}
	}
	ns := newNetns(t, dnsAddr, addrs...)
	daemonBin := buildDaemon(t, ns.dir)
	startDNS(t, ns, dnsAddr, all...)
	fixture := lab.FixtureBinary(t)
	startFixture(t, ns, fixture, sslDHE1024, fixtureOptions{Cert: "rsa2048", DH: "dh1024", Ciphers: "kDHE", Max: "1.2"})
	startFixture(t, ns, fixture, sslPreferDHE, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE:kECDHE", Max: "1.2", ServerPref: true})
	startFixture(t, ns, fixture, sslModern, fixtureOptions{Cert: "rsa2048"})
	startFixture(t, ns, fixture, sslDHE768, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"})
	startFixture(t, ns, fixture, sslDSA, fixtureOptions{Cert: "dsa1024", Ciphers: "ALL:!aNULL:!eNULL"})

	rcpts := make([]string, 0, len(all))
	for _, d := range all {
		rcpts = append(rcpts, rcpt(d))
	}

	frag := newOpenSSLSender(t, ns, bin, newFragmentSender(t, ns).config, "exim-openssl-fragment.conf", "TLSPROBED_OPENSSL = yes")
	checkTransports(t, frag)
	checkRouters(t, frag)

	// The daemon, modelling this Exim.
	d := newDaemon(t, ns, daemonBin, "the OpenSSL end-to-end test", `client = "openssl"
openssl_seclevel = 2
rate_per_address = 0`, fmt.Sprintf(`
[answer]
wait = "1s"

[overrides]
tlsexport = ["%s"]
`, sslOverride.domain))
	d.start(t)

	// First message: the daemon may not know the servers yet; nothing may
	// defer either way.
	l := frag.send(t, "openssl-learning", sendOptions{socket: d.socket}, rcpts...)
	l.noDefers(t)
	for _, dom := range all {
		l.delivered(t, rcpt(dom))
	}

	d.waitAnswer(t, sslDHE1024.domain, "seclevel1", 60*time.Second)
	d.waitAnswer(t, sslPreferDHE.domain, "nodhe", 60*time.Second)
	d.waitAnswer(t, sslDSA.domain, "seclevel0", 60*time.Second)
	for _, dom := range []mxDomain{sslModern, sslDHE768} {
		e := waitProbed(t, d, dom.domain, 60*time.Second)
		if e.Verdict != "" {
			t.Errorf("%s: verdict %q, want \"\"\nexplain: %s", dom.domain, e.Verdict, d.explain(dom.domain))
		}
	}
	e := waitProbed(t, d, sslDHE768.domain, 0)
	if r := e.reasons(); !strings.Contains(r, noTLSReason) {
		t.Errorf("explain %s: want the reason %q, got %q\nexplain: %s", sslDHE768.domain, noTLSReason, r, d.explain(sslDHE768.domain))
	} else {
		t.Logf("README: explain %s: reason %q", sslDHE768.domain, r)
	}
	for _, dom := range all {
		t.Logf("README: explain %s: %s", dom.domain, d.explain(dom.domain))
	}
	if a, err := query(d.socket, sslOverride.domain, 5*time.Second); err != nil || a != "tlsexport" {
		t.Errorf("%s is in [overrides] tlsexport: answer %q, %v; want tlsexport", sslOverride.domain, a, err)
	}
	var over explained
	if err := json.Unmarshal([]byte(d.explain(sslOverride.domain)), &over); err != nil || over.Source != "override" {
		t.Errorf("explain %s: source %q, %v; want override", sslOverride.domain, over.Source, err)
	}

	type check struct {
		dom       mxDomain
		transport string
		tls       string // prefix of X=, "" = in clear
	}
	learnt := []check{
		{sslDHE1024, seclevel1Transport, "TLS1.2:DHE-RSA-"},
		{sslPreferDHE, nodheTransport, "TLS1.2:ECDHE-RSA-"},
		{sslModern, plainTransport, "TLS1.3:"},
		{sslDHE768, plainTransport, ""},
		{sslOverride, seclevel1Transport, "TLS1.3:"},
		{sslDSA, seclevel0Transport, "TLS1.2:DHE-DSS-"},
	}
	checkLearnt := func(phase string, l *eximLog) {
		t.Helper()
		l.noDefers(t)
		for _, c := range learnt {
			got := l.delivered(t, rcpt(c.dom))
			if got.transport != c.transport || !tlsMatches(got.tls, c.tls) {
				t.Errorf("%s: %s: want T=%s X=%s..., got %s\nexplain: %s", phase, c.dom.domain, c.transport, c.tls, got.line, d.explain(c.dom.domain))
			} else {
				t.Logf("README: %s", got.line)
			}
		}
		// The only TLS failure left is the one nothing can help.
		tooSmall := l.lines(dhTooSmall)
		if len(tooSmall) != 1 || !strings.Contains(tooSmall[0], "H="+sslDHE768.mx()+" ") {
			t.Errorf("%s: want one %q line, for %s; got %q", phase, dhTooSmall, sslDHE768.mx(), tooSmall)
		} else {
			t.Logf("README: %s", tooSmall[0])
		}
	}
	checkLearnt("openssl-learnt", frag.send(t, "openssl-learnt", sendOptions{socket: d.socket}, rcpts...))
	for _, c := range learnt[:2] {
		router := strings.Replace(c.transport, "remote_smtp_", "tlsprobed_", 1)
		if out := frag.test(t, d.socket, rcpt(c.dom)); !strings.Contains(out, "router = "+router+", transport = "+c.transport) {
			t.Errorf("exim -bt %s: want router %s, transport %s:\n%s", rcpt(c.dom), router, c.transport, out)
		} else {
			t.Logf("README: exim -bt %s:\n%s", rcpt(c.dom), out)
		}
	}

	// Debian's split configuration with the conf.d files, generated by
	// update-exim4.conf, does the same with this Exim.
	confd := newSender(t, ns, "exim-openssl-confd", true, "TLSPROBED_OPENSSL = yes\n")
	split := newOpenSSLSender(t, ns, bin, confd.config, "exim-openssl-confd.conf")
	checkTransports(t, split)
	checkRouters(t, split)
	checkLearnt("openssl-confd", split.send(t, "openssl-confd", sendOptions{socket: d.socket}, rcpts...))
	if out := split.test(t, d.socket, rcpt(sslPreferDHE)); !strings.Contains(out, "router = tlsprobed_openssl_nodhe, transport = "+nodheTransport) {
		t.Errorf("conf.d: exim -bt %s: want router tlsprobed_openssl_nodhe:\n%s", rcpt(sslPreferDHE), out)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Reports from the OpenSSL Exim (TLSPROBED_REPORT, the event_action in
	// the admin's remote_smtp and in the OpenSSL transports): the one TLS
	// failure left, OpenSSL's "dh key too small" at the DHE-only 768-bit
	// server, is one the facts predicted (confirmed); no miss, and the
	// routes stay those learnt.
	if st := d.stats(t); st.Reports != (lookupd.ReportStats{}) {
		t.Fatalf("before any event_action: reports %+v, want none", st.Reports)
	}
	fragConf := filepath.Join(ns.dir, "exim-fragment-report.conf")
	writeFile(t, fragConf, withEventAction(t, newFragmentSender(t, ns).config), 0o644)
	reporting := newOpenSSLSender(t, ns, bin, fragConf, "exim-openssl-report.conf", "TLSPROBED_OPENSSL = yes")
	probes := d.stats(t).Probes
	checkLearnt("openssl-report", reporting.send(t, "openssl-report", sendOptions{socket: d.socket}, rcpts...))
	st := d.stats(t)
	if st.Reports != (lookupd.ReportStats{Confirmed: 1}) || st.Probes != probes {
		t.Errorf("openssl-report: reports %+v, probes %d (were %d); want 1 confirmed (the DHE-only 768-bit server), no miss, no probe", st.Reports, st.Probes, probes)
	}
	t.Logf("figure: OpenSSL Exim with reports: stats reports %+v", st.Reports)

	// A daemon that accepts and never answers: each readsocket gives up
	// after TLSPROBED_TIMEOUT and the domain routes normally (the OpenSSL
	// Exim routes as the Exim user here, see opensslSender).
	slow, hits := hangingSocket(t, filepath.Join(ns.dir, "hang"))
	l = frag.send(t, "openssl-hanging", sendOptions{socket: slow, lines: []string{"TLSPROBED_TIMEOUT = 1s"}}, rcpt(sslDHE1024), rcpt(sslPreferDHE))
	l.noDefers(t)
	for _, dom := range []mxDomain{sslDHE1024, sslPreferDHE} {
		if got := l.delivered(t, rcpt(dom)); got.transport != plainTransport {
			t.Errorf("hanging: %s: want T=%s, got %s", dom.domain, plainTransport, got.line)
		}
	}
	if n := hits.Load(); n < 2 {
		t.Errorf("control: the hanging socket was asked %d times, want at least 2 (one per domain)", n)
	}

	// The daemon stopped: every domain through remote_smtp, none deferred,
	// the two that the OpenSSL transports got TLS for now in clear after
	// OpenSSL's "dh key too small", and no readsocket waited for its
	// (here long) timeout.
	d.stop(t)
	for _, s := range []*opensslSender{frag, split} {
		began := time.Now()
		l := s.send(t, "openssl-stopped-"+s.name, sendOptions{socket: d.socket, lines: []string{"TLSPROBED_TIMEOUT = " + stoppedTimeout.String()}}, rcpts...)
		took := time.Since(began)
		t.Logf("figure: %s, daemon stopped: exim -odi for %d domains took %v (TLSPROBED_TIMEOUT %v)", s.name, len(rcpts), took.Round(time.Millisecond), stoppedTimeout)
		if took >= stoppedTimeout {
			t.Errorf("%s, daemon stopped: the send took %v, at least TLSPROBED_TIMEOUT (%v): something waited for the daemon", s.name, took, stoppedTimeout)
		}
		l.noDefers(t)
		for _, c := range []check{
			{sslDHE1024, plainTransport, ""},
			{sslPreferDHE, plainTransport, ""},
			{sslModern, plainTransport, "TLS1.3:"},
			{sslDHE768, plainTransport, ""},
			{sslOverride, plainTransport, "TLS1.3:"},
		} {
			got := l.delivered(t, rcpt(c.dom))
			if got.transport != c.transport || !tlsMatches(got.tls, c.tls) {
				t.Errorf("%s, daemon stopped: %s: want T=%s X=%s..., got %s", s.name, c.dom.domain, c.transport, c.tls, got.line)
			} else if s == frag {
				t.Logf("README: %s", got.line)
			}
		}
		for _, dom := range []mxDomain{sslDHE1024, sslPreferDHE, sslDHE768} {
			if line := l.line(dhTooSmall + " to H=" + dom.mx() + " "); line == "" {
				t.Errorf("%s, daemon stopped: no %q line for %s", s.name, dhTooSmall, dom.mx())
			} else if s == frag {
				t.Logf("README: %s", line)
			}
		}
		if out := s.test(t, d.socket, rcpt(sslDHE1024)); !strings.Contains(out, "router = dnslookup, transport = "+plainTransport) {
			t.Errorf("%s, daemon stopped: exim -bt %s: want router dnslookup, transport %s:\n%s", s.name, rcpt(sslDHE1024), plainTransport, out)
		}
	}
}

// opensslRouters is the order of the routers of an OpenSSL Exim with the
// snippets, up to the administrator's own dnslookup router.
var opensslRouters = []string{"tlsprobed_ask", "tlsprobed_openssl_nodhe", "tlsprobed_openssl_seclevel1"}

// checkRouters checks `exim -bP router_list` (one name a line): the
// OpenSSL routers in order, right after tlsprobed_ask and before dnslookup,
// and no tlsprobed_smallprime.
func checkRouters(t *testing.T, s *opensslSender) {
	t.Helper()
	variant := s.name
	out := s.run(t, "bP-routers-"+s.name, nil, "-bP", "router_list")
	names := strings.Fields(out)
	at := slices.Index(names, opensslRouters[0])
	dns := slices.Index(names, "dnslookup")
	if at < 0 || at+len(opensslRouters) > len(names) || !slices.Equal(names[at:at+len(opensslRouters)], opensslRouters) ||
		dns < at || slices.Contains(names, "tlsprobed_smallprime") {
		t.Errorf("%s: exim -bP router_list: want %v in that order before dnslookup, and no tlsprobed_smallprime:\n%s", variant, opensslRouters, out)
	}
}

// checkTransports checks with `exim -bP transport NAME` that the OpenSSL
// transports' ciphers arrive intact (a macro whose name began with
// TLSPROBED_OPENSSL would have that prefix replaced by its value) and that
// this Exim accepts the GnuTLS transport, with its tls_dh_min_bits, in the
// same configuration.
func checkTransports(t *testing.T, s *opensslSender) {
	t.Helper()
	for _, c := range []struct{ transport, want string }{
		{nodheTransport, "tls_require_ciphers = DEFAULT:!kDHE"},
		{seclevel1Transport, "tls_require_ciphers = DEFAULT:@SECLEVEL=1"},
		{smallTransport, "tls_dh_min_bits = 512"},
	} {
		if out := s.run(t, "bP-"+c.transport+"-"+s.name, nil, "-bP", "transport", c.transport); !strings.Contains(out, "\n"+c.want+"\n") {
			t.Errorf("%s: exim -bP transport %s: want %q:\n%s", s.name, c.transport, c.want, out)
		}
	}
}

// opensslSender is the OpenSSL-built Exim as the sending MTA, run with
// -C CONFIG inside the namespace. With -C it gives up root before it
// delivers ("exim user lost privilege for using -C option") and routes as
// the Exim user, like an Exim with deliver_drop_privilege: the daemon's
// socket must be reachable for that user, as in production.
type opensslSender struct {
	ns     *netns
	name   string
	bin    string
	config string // configuration without the per-run macros
}

// eximPath matches a configuration's exim_path line.
var eximPath = regexp.MustCompile(`(?m)^exim_path = .*$`)

// newOpenSSLSender takes the configuration in base (as built for Debian's
// Exim), sets exim_path to bin (Exim runs itself again to deliver; the
// build's own path does not exist; Debian's configuration names
// /usr/sbin/exim4, the GnuTLS one) and the macros, and writes it to
// DIR/name.
func newOpenSSLSender(t *testing.T, ns *netns, bin, base, name string, macros ...string) *opensslSender {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	exim := "exim_path = " + bin
	if eximPath.MatchString(conf) { // Debian's: exim_path = /usr/sbin/exim4
		conf = eximPath.ReplaceAllLiteralString(conf, exim)
	} else {
		conf = exim + "\n" + conf
	}
	head := "# the OpenSSL-built Exim\n" + strings.Join(macros, "\n") + "\n"
	s := &opensslSender{ns: ns, name: strings.TrimSuffix(name, ".conf"), bin: bin, config: filepath.Join(ns.dir, name)}
	writeFile(t, s.config, head+conf, 0o644)
	return s
}

// prepare writes the configuration of one run, with a fresh spool named
// after phase, and returns its path and the spool.
func (s *opensslSender) prepare(t *testing.T, phase string, lines []string) (string, string) {
	t.Helper()
	spool := filepath.Join(s.ns.dir, "spool-"+phase)
	mkdirExim(t, spool)
	mkdirExim(t, filepath.Join(spool, "log"))
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(s.ns.dir, phase+".conf")
	head := "# set by the end-to-end test\nSPOOLDIR = " + spool + "\n" + strings.Join(lines, "\n") + "\n"
	writeFile(t, cfg, head+string(b), 0o644)
	return cfg, spool
}

// run runs the Exim with the configuration of phase and args, and returns
// its output (whatever its exit status: -bt exits 2 for unroutable).
func (s *opensslSender) run(t *testing.T, phase string, lines []string, args ...string) string {
	t.Helper()
	cfg, _ := s.prepare(t, phase, lines)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := s.ns.command(ctx, append([]string{s.bin, "-C", cfg}, args...)...).CombinedOutput()
	return string(out)
}

// test runs `exim -bt ADDRESS` with TLSPROBED_SOCKET set to socket.
func (s *opensslSender) test(t *testing.T, socket, addr string) string {
	t.Helper()
	return s.run(t, "bt-"+s.name, []string{"TLSPROBED_SOCKET = " + socket}, "-bt", addr)
}

// send delivers one message to rcpts with `exim -odi`, with a fresh spool
// (no retry hints) named after phase, and returns its main log. A panic
// log other than the -C privilege line fails the test.
func (s *opensslSender) send(t *testing.T, phase string, o sendOptions, rcpts ...string) *eximLog {
	t.Helper()
	lines := o.lines
	if o.socket != "" {
		lines = append([]string{"TLSPROBED_SOCKET = " + o.socket}, lines...)
	}
	cfg, spool := s.prepare(t, phase, lines)
	args := append([]string{s.bin, "-C", cfg, "-odi", "-f", "sender@sender.test", "--"}, rcpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.ns.command(ctx, args...)
	cmd.Stdin = strings.NewReader("From: sender@sender.test\nSubject: exim-tlsprobe e2e (OpenSSL Exim): " + phase + "\n\nhello\n")
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(filepath.Join(spool, "log", "mainlog"))
	if rerr != nil {
		t.Fatalf("%s: exim -odi: %v %s; no main log: %v", phase, err, out, rerr)
	}
	l := &eximLog{phase: phase, text: string(b)}
	if p, _ := os.ReadFile(filepath.Join(spool, "log", "paniclog")); len(p) > 0 {
		for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
			if !strings.HasSuffix(line, " exim user lost privilege for using -C option") {
				t.Errorf("%s: Exim panic log: %s", phase, line)
			}
		}
	}
	if err != nil || len(out) > 0 {
		t.Logf("%s: exim -odi: %v %s", phase, err, out)
	}
	t.Logf("%s: sending Exim's main log:\n%s", phase, l.text)
	return l
}

// lines returns every log line containing sub.
func (l *eximLog) lines(sub string) []string {
	var found []string
	for _, line := range strings.Split(l.text, "\n") {
		if strings.Contains(line, sub) {
			found = append(found, line)
		}
	}
	return found
}

// explained is the part of the daemon's `explain DOMAIN` answer this test
// reads.
type explained struct {
	Verdict string `json:"verdict"`
	Source  string `json:"source"`
	MX      []struct {
		Name  string `json:"name"`
		Addrs []struct {
			Addr    string          `json:"addr"`
			Source  string          `json:"source"`
			Verdict string          `json:"verdict"`
			Reason  string          `json:"reason"`
			Facts   json.RawMessage `json:"facts"`
		} `json:"addrs"`
	} `json:"mx"`
}

// probed reports whether every address of every MX host has facts.
func (e *explained) probed() bool {
	n := 0
	for _, h := range e.MX {
		for _, a := range h.Addrs {
			if len(a.Facts) == 0 || a.Source == "pending" {
				return false
			}
			n++
		}
	}
	return n > 0
}

// reasons joins the addresses' reasons.
func (e *explained) reasons() string {
	var r []string
	for _, h := range e.MX {
		for _, a := range h.Addrs {
			r = append(r, a.Reason)
		}
	}
	return strings.Join(r, "; ")
}

// waitProbed polls explain until every address of domain has facts, and
// returns that explanation (timeout 0: ask once).
func waitProbed(t *testing.T, d *daemon, domain string, timeout time.Duration) *explained {
	t.Helper()
	var e explained
	d.p.waitFor(t, "facts for every address of "+domain, timeout, func() bool {
		a, err := query(d.socket, "explain "+domain, 5*time.Second)
		if err != nil {
			return false
		}
		e = explained{}
		if err := json.Unmarshal([]byte(a), &e); err != nil {
			t.Fatalf("explain %s: %v\n%s", domain, err, a)
		}
		return e.probed()
	})
	return &e
}
