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

// f2bPostfixFilters are fail2ban's stock postfix filter in each of its modes
// (the bare name is mode "more").
var f2bPostfixFilters = []string{"postfix", "postfix[mode=normal]", "postfix[mode=more]", "postfix[mode=aggressive]", "postfix[mode=ddos]"}

// postscreenTells are what postscreen logs about a client it judges.
var postscreenTells = []string{"PREGREET", "COMMAND PIPELINING", "NON-SMTP COMMAND", "BARE NEWLINE", "DISCONNECT", "reject:", "HANGUP"}

// TestRemotePostfix: Debian 13's Postfix, plain and behind postscreen
// (pregreet test enforced), judges 20 probes: each is one clean TLS session
// ended by QUIT, fail2ban's stock postfix filter in every mode matches none
// of their log lines, postscreen logs no PREGREET and no rejection, and each
// probe is one connection. At a server whose handshakes all fail, 20 probes
// leave no more connections and no more fail2ban matches than 20 Exim
// deliveries. Beside them,
// the lines of one real Exim delivery; positive controls prove the
// matchers (an aborted STARTTLS, a client talking early).
func TestRemotePostfix(t *testing.T) {
	requireE2E(t)
	lab.Require(t, "fail2ban-regex")
	start := time.Now()
	defer func() { t.Logf("remote Postfix test took %v", time.Since(start).Round(time.Millisecond)) }()

	plainD := mxDomain{domain: "postfix.test", addr: "192.0.2.25"}
	screenD := mxDomain{domain: "postscreen.test", addr: "192.0.2.26"}
	weakD := mxDomain{domain: "nocipher.test", addr: "192.0.2.28"}
	dheD := mxDomain{domain: "dhe.test", addr: "192.0.2.30"}
	tls12D := mxDomain{domain: "tls12.test", addr: "192.0.2.31"}
	ns := newNetns(t, dnsAddr, senderAddr, dnsAddr, probeAddr, controlAddr, plainD.addr, screenD.addr, weakD.addr, dheD.addr, tls12D.addr)
	startDNS(t, ns, dnsAddr, plainD, screenD, weakD, dheD, tls12D)
	pr := newProber(t, ns)
	snd := newSender(t, ns, "exim-stock", false, "")

	for _, c := range []struct {
		d          mxDomain
		postscreen bool
		// weak: main.cf lines of a server that fails every handshake,
		// Exim's too: TLS 1.2 at most, DHE only, with a 768-bit group
		// that OpenSSL 3.5 refuses to load ("dh key too small"; the
		// security level 0 of the OpenSSL file below does not reach
		// it), so no cipher is shared ("no shared cipher"). Exim then
		// delivers in clear on a second connection; the probe may
		// leave no more than that.
		weak []string
		// tls12: main.cf lines of a TLS 1.2 server Exim (GnuTLS) gets
		// TLS with at once, and perProbe what each probe must leave:
		// connections, TLS sessions established and ended with QUIT,
		// failed handshakes. With DHE only (a 2048-bit group),
		// crypto/tls's hello is refused and the modelled hello's
		// handshake is completed by the probe (tlswire.Complete); with
		// ECDHE, both sessions are complete.
		tls12    []string
		perProbe [3]int
	}{{plainD, false, nil, nil, [3]int{}}, {screenD, true, nil, nil, [3]int{}}, {dheD, false, nil, dheOnlyMain(t), [3]int{2, 1, 1}}, {tls12D, false, nil, []string{
		"smtpd_tls_protocols=>=TLSv1,<=TLSv1.2",
	}, [3]int{2, 2, 0}}, {weakD, false, noCipherMain(t, filepath.Join(ns.dir, "postfix-"+weakD.domain)), nil, [3]int{}}} {
		t.Run(c.d.domain, func(t *testing.T) {
			srv := lab.StartPostfix(t, lab.PostfixOptions{
				Netns: ns.name, Dir: filepath.Join(ns.dir, "postfix-"+c.d.domain), Hostname: c.d.mx(),
				Listen: c.d.addr, Cert: "rsa2048", Postscreen: c.postscreen, Main: append(c.weak, c.tls12...),
			})
			// Real deliveries by Debian's Exim: one at a modern server, 20
			// at a weak-DH one (what the probe may not exceed there).
			deliveries := 1
			if c.weak != nil {
				deliveries = probesPerServer
			}
			delivery := eximDeliveries(t, snd, srv, c.d, deliveries)

			// 20 probes, the first shown.
			before := len(srv.Log())
			var first string
			for i := range probesPerServer {
				b := len(srv.Log())
				out := pr.probe(t, c.d.domain)
				waitSettled(t, srv, probeAddr, b)
				if i == 0 {
					first = srv.Log()[b:]
					t.Logf("%s: tlsprobe probe:\n%s", srv, out)
					t.Logf("%s: Postfix's log of one probe:\n%s", srv, first)
				}
			}
			probes := srv.Log()[before:]

			// Connections per probe.
			conns := countConnects(probes, probeAddr, c.postscreen)
			dconns := countConnects(delivery, senderAddr, c.postscreen)
			t.Logf("%s: %d connections for %d probes (%.2f per probe); %d deliveries: %d",
				srv, conns, probesPerServer, float64(conns)/probesPerServer, deliveries, dconns)
			if c.weak != nil {
				// Issue 18: no more than Exim's footprint. crypto/tls's
				// session, then one mixed hello (the modelled offer and
				// every other suite), both refused; Exim: one refused
				// handshake, then a session in clear.
				if conns > dconns {
					t.Errorf("%s: %d connections for 20 probes, more than the %d of 20 Exim deliveries", srv, conns, dconns)
				}
				pf, df := failedHandshakes(probes, probeAddr), failedHandshakes(delivery, senderAddr)
				t.Logf("%s: failed handshakes: %d for 20 probes, %d for 20 Exim deliveries", srv, pf, df)
				if pf > 2*df {
					t.Errorf("%s: %d failed handshakes for 20 probes, more than twice the %d of 20 Exim deliveries", srv, pf, df)
				}
			} else if c.tls12 != nil {
				// crypto/tls's session (refused at the DHE-only server; a
				// daemon's next probe, ordered by these facts, skips it:
				// lookupd/probe TestOrder) and the modelled hello's.
				clean := lab.CountLines(probes, "TLS connection established from", "["+probeAddr+"]")
				quit := lab.CountLines(probes, " disconnect from ", "["+probeAddr+"]", " quit=1 ")
				pf := failedHandshakes(probes, probeAddr)
				t.Logf("%s: 20 probes: %d connections, %d TLS sessions established, %d ended with QUIT, %d failed handshakes", srv, conns, clean, quit, pf)
				want := c.perProbe
				if conns != want[0]*probesPerServer || clean != want[1]*probesPerServer || quit != want[1]*probesPerServer || pf != want[2]*probesPerServer {
					t.Errorf("%s: 20 probes: %d connections, %d TLS sessions established, %d ended with QUIT, %d failed handshakes; want %d, %d, %d, %d",
						srv, conns, clean, quit, pf, want[0]*probesPerServer, want[1]*probesPerServer, want[1]*probesPerServer, want[2]*probesPerServer)
				}
			} else if conns != probesPerServer {
				t.Errorf("%s: %d connections for %d probes, want 1 per probe", srv, conns, probesPerServer)
			}

			// At a modern server: one clean session per probe.
			if c.weak == nil && c.tls12 == nil {
				// One clean session: TLS established, QUIT answered, nothing
				// aborted (Postfix 3.10 logs an abort as "NOQUEUE: lost
				// connection after STARTTLS", which Debian 12's fail2ban
				// filter misses, so it is checked here directly).
				for _, bad := range []string{"lost connection", "SSL_accept error", "TLS library problem", "improper command pipelining", "timeout after"} {
					if got := filterAddr(linesWith(probes, bad), probeAddr); len(got) > 0 {
						t.Errorf("%s: %d lines with %q for 20 probes, e.g. %s", srv, len(got), bad, got[0])
					}
				}
				clean := lab.CountLines(probes, "TLS connection established from", "["+probeAddr+"]")
				quit := lab.CountLines(probes, " disconnect from ", "["+probeAddr+"]", " quit=1 ")
				t.Logf("%s: 20 probes: %d TLS sessions established, %d sessions ended with QUIT", srv, clean, quit)
				if clean != probesPerServer || quit != probesPerServer {
					t.Errorf("%s: 20 probes: %d TLS sessions established, %d ended with QUIT; want 20 and 20", srv, clean, quit)
				}
			}

			// fail2ban's stock filters.
			for _, f := range f2bPostfixFilters {
				n, lines := fail2banMatches(t, ns.dir, c.d.domain+"-probes", f, probes)
				nd, _ := fail2banMatches(t, ns.dir, c.d.domain+"-delivery", f, delivery)
				t.Logf("%s: fail2ban-regex %-26s 20 probes: %d of %d lines matched; %d deliveries: %d", srv, f, n, lines, deliveries, nd)
				if c.weak != nil {
					if n > nd {
						t.Errorf("%s: fail2ban filter %s matched %d lines of 20 probes, more than the %d of 20 Exim deliveries", srv, f, n, nd)
					}
				} else if n != 0 {
					t.Errorf("%s: fail2ban filter %s matched %d lines of 20 probes", srv, f, n)
				}
			}

			// postscreen's judgement of the probe's address.
			if c.postscreen {
				for _, tell := range postscreenTells {
					if got := linesWith(probes, tell); len(filterAddr(got, probeAddr)) > 0 {
						t.Errorf("%s: postscreen logged %q for the probe:\n%s", srv, tell, strings.Join(filterAddr(got, probeAddr), "\n"))
					}
				}
			}

			// Positive controls: the matchers see what they must.
			before = len(srv.Log())
			// smtpd: commands sent in one go before the greeting
			// (smtpd_forbid_unauth_pipelining, fail2ban's normal mode);
			// postscreen: one EHLO before the greeting (PREGREET, ddos).
			tell, talk, must := "improper command pipelining", "EHLO early.control.test\r\nNOOP\r\nNOOP\r\n", "postfix[mode=normal]"
			if c.postscreen {
				tell, talk, must = "PREGREET", "EHLO early.control.test\r\n", "postfix[mode=ddos]"
			}
			earlyTalker(t, ns, c.d.addr+":25", talk, func() bool {
				return lab.CountLines(srv.Log()[before:], tell, "["+controlAddr+"]") > 0
			})
			waitSettled(t, srv, controlAddr, before)
			control := srv.Log()[before:]
			t.Logf("%s: positive control's log:\n%s", srv, control)
			for _, f := range f2bPostfixFilters {
				n, _ := fail2banMatches(t, ns.dir, c.d.domain+"-control", f, control)
				t.Logf("%s: fail2ban-regex %-26s positive control: %d matched", srv, f, n)
				if n == 0 && (f == must || f == "postfix[mode=aggressive]") {
					t.Errorf("%s: fail2ban's %s matched nothing of the positive control: the pipeline is broken", srv, f)
				}
			}
		})
	}
}

// noCipherMain are the main.cf lines of the Postfix that shares no cipher
// with anyone (TestRemotePostfix's nocipher.test): TLS 1.2 at most, DHE
// only, with a 768-bit group that OpenSSL 3.5 refuses to load; dir is the
// Postfix's own directory (its OpenSSL file goes there).
func noCipherMain(t *testing.T, dir string) []string {
	t.Helper()
	return []string{
		"smtpd_tls_protocols=>=TLSv1,<=TLSv1.2",
		"smtpd_tls_ciphers=high",
		"tls_high_cipherlist=kDHE:!aNULL:!eNULL:@SECLEVEL=0",
		"smtpd_tls_dh1024_param_file=" + lab.Testdata(t, "certs/dh768.pem"),
		// OpenSSL 3.5 refuses a 768-bit group at Debian's security
		// level 2 ("dh key too small") before the cipher list's
		// @SECLEVEL=0 applies: level 0 from Postfix's own OpenSSL file.
		"tls_config_file=" + writeSecLevel0(t, dir),
		"tls_config_name=postfix",
	}
}

// dheOnlyMain are the main.cf lines of the TLS 1.2, DHE-only Postfix with a
// 2048-bit group (TestRemotePostfix's dhe.test).
func dheOnlyMain(t *testing.T) []string {
	t.Helper()
	return []string{
		"smtpd_tls_protocols=>=TLSv1,<=TLSv1.2",
		"smtpd_tls_ciphers=high",
		"tls_high_cipherlist=kDHE:!aNULL:!eNULL",
		"smtpd_tls_dh1024_param_file=" + lab.Testdata(t, "certs/dh2048.pem"),
	}
}

// eximDeliveries makes n real deliveries by snd to d's Postfix srv, one at
// a time, each waited for until its connections have ended, and returns
// what they added to Postfix's log (the first one's is shown).
func eximDeliveries(t *testing.T, snd *sender, srv *lab.Postfix, d mxDomain, n int) string {
	t.Helper()
	before := len(srv.Log())
	for i := range n {
		b := len(srv.Log())
		snd.send(t, fmt.Sprintf("to-%s-%d", d.domain, i), sendOptions{}, rcpt(d)).delivered(t, rcpt(d))
		waitSettled(t, srv, senderAddr, b)
		if i == 0 {
			t.Logf("%s: Postfix's log of one Exim delivery:\n%s", srv, srv.Log()[b:])
		}
	}
	return srv.Log()[before:]
}

// failedHandshakes counts the TLS handshakes from addr Postfix logged as
// failed ("SSL_accept error from NAME[addr]").
func failedHandshakes(log, addr string) int {
	return lab.CountLines(log, "SSL_accept error from ", "["+addr+"]")
}

// filterAddr keeps the lines naming addr in brackets.
func filterAddr(lines []string, addr string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "["+addr+"]") {
			out = append(out, l)
		}
	}
	return out
}

// countConnects counts the connections from addr in a Postfix log:
// postscreen's "CONNECT from [addr]" behind postscreen, else smtpd's
// "connect from NAME[addr]".
func countConnects(log, addr string, postscreen bool) int {
	if postscreen {
		return lab.CountLines(log, "postfix/postscreen[", "CONNECT from ["+addr+"]")
	}
	return lab.CountLines(log, "postfix/smtpd[", " connect from ", "["+addr+"]")
}

// waitSettled waits until the log from byte since on holds at least one
// connection from addr and every one of them has ended: each smtpd
// "connect from" has its "disconnect from", and (behind postscreen) each
// postscreen CONNECT was passed on to smtpd or ended (DISCONNECT).
// Postfix logs through postlogd, after the client has moved on: a line
// of the connection just made may not be in the file yet, so a
// connection seen earlier in the log does not count.
func waitSettled(t *testing.T, srv *lab.Postfix, addr string, since int) {
	t.Helper()
	a := "[" + addr + "]"
	settled := func() (bool, string) {
		log := srv.Log()[since:]
		conn := lab.CountLines(log, "postfix/smtpd[", " connect from ", a)
		disc := lab.CountLines(log, "postfix/smtpd[", " disconnect from ", a)
		psConn := lab.CountLines(log, "postfix/postscreen[", "CONNECT from "+a)
		psEnd := lab.CountLines(log, "postfix/postscreen[", "PASS ", a) + lab.CountLines(log, "postfix/postscreen[", "DISCONNECT "+a)
		state := fmt.Sprintf("smtpd connect %d disconnect %d, postscreen CONNECT %d passed or ended %d", conn, disc, psConn, psEnd)
		return conn+psConn > 0 && conn == disc && psConn == psEnd, state
	}
	var state string
	done := false
	defer func() {
		if !done { // lab.WaitFor failed the test
			t.Logf("%s: connections from %s: %s; log:\n%s", srv, addr, state, srv.Log())
		}
	}()
	lab.WaitFor(t, "the end of every connection from "+addr, func() bool {
		ok, s := settled()
		state = s
		return ok
	})
	done = true
}

// writeSecLevel0 writes an OpenSSL configuration whose application section
// "postfix" sets security level 0 into dir (the Postfix's own directory,
// bound into its root), and returns its path.
func writeSecLevel0(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "openssl-seclevel0.cnf")
	writeFile(t, p, `# OpenSSL configuration of the weak-DH lab Postfix (tls_config_name = postfix)
postfix = postfix_init

[postfix_init]
ssl_conf = postfix_ssl

[postfix_ssl]
system_default = postfix_ssl_default

[postfix_ssl_default]
CipherString = DEFAULT:@SECLEVEL=0
`, 0o644)
	return p
}
