package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The lab: one namespace, one /24 (TEST-NET-1, RFC 5737).
const (
	senderAddr = "192.0.2.1"  // the sending Exim (first address on ifb0: the kernel's source address)
	dnsAddr    = "192.0.2.53" // dnsmasq
	probeAddr  = "192.0.2.99" // tlsprobed's probe.source_address: tells its connections from Exim's
)

var (
	dh768    = mxDomain{domain: "dh768.test", addr: "192.0.2.10"}    // OpenSSL fixture: TLS 1.2 only, DHE only, 768-bit prime
	rsa1024  = mxDomain{domain: "rsa1024.test", addr: "192.0.2.11"}  // Exim, RSA-1024 certificate
	modern   = mxDomain{domain: "modern.test", addr: "192.0.2.12"}   // Exim, RSA-2048, TLS 1.3
	notls    = mxDomain{domain: "notls.test", addr: "192.0.2.13"}    // Exim without STARTTLS
	override = mxDomain{domain: "override.test", addr: "192.0.2.14"} // Exim, listed in [overrides] tlsexport: never probed
	dsa1024  = mxDomain{domain: "dsa1024.test", addr: "192.0.2.15"}  // OpenSSL fixture, DSA-1024 certificate only
)

const (
	plainTransport = "remote_smtp"
	smallTransport = "remote_smtp_tls_smallprime"
	dhError        = "The Diffie-Hellman prime sent by the server is not acceptable"
	// What the README advises for servers with a DSA certificate only.
	dsaCiphers = "NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1"
)

func rcpt(d mxDomain) string { return "user@" + d.domain }

// TestEximRoutesAroundWeakTLS proves contrib/exim end to end: Debian's Exim
// with the contrib snippets asks the real tlsprobed, sends a DHE-768 domain
// over TLS through remote_smtp_tls_smallprime once the daemon knows it, and
// routes every domain normally, deferring nothing, whenever the daemon
// cannot answer.
func TestEximRoutesAroundWeakTLS(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond)) }()

	labNet := startLab(t, weakServers)
	ns, all, rcpts := labNet.ns, labNet.doms, labNet.rcpts()
	modernSrv, overrideSrv := labNet.exims[modern.domain], labNet.exims[override.domain]

	// 1. Stock Debian configuration: the DHE-768 server makes GnuTLS refuse
	// the handshake and Exim falls back to clear text.
	plain := newSender(t, ns, "exim-stock", false, "")
	l := plain.send(t, "stock", sendOptions{}, rcpts...)
	if line := l.line("test server accepts no mail"); line != "" {
		t.Fatalf("the OpenSSL fixture (testdata/fixtures/smtptls.c) refuses mail; this test needs it to accept MAIL, RCPT and DATA:\n%s", line)
	}
	l.noDefers(t)
	if line := l.line(dhError); line == "" {
		t.Errorf("stock: no %q line for %s", dhError, dh768.domain)
	} else {
		t.Logf("README: %s", line)
	}
	if d := l.delivered(t, rcpt(dh768)); d.transport != plainTransport || d.tls != "" {
		t.Errorf("stock: %s: want T=%s in clear, got %s", dh768.domain, plainTransport, d.line)
	} else {
		t.Logf("README: %s", d.line)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 2. The daemon and the contrib snippets.
	d := labNet.weakDaemon(t, "the end-to-end test")
	_, eximGID := eximIDs(t)
	d.start(t)
	if st, err := os.Stat(d.socket); err == nil {
		sys := st.Sys().(*syscall.Stat_t)
		if int(sys.Gid) != eximGID || st.Mode().Perm()&0o060 != 0o060 {
			t.Errorf("socket %s: mode %v gid %d; want group Debian-exim (%d) with rw", d.socket, st.Mode(), sys.Gid, eximGID)
		}
	}

	probed := newSender(t, ns, "exim-tlsprobed", true, "")

	// 2a. First message: the daemon may not know the domains yet (it answers
	// within answer.wait and goes on probing); nothing may wait or defer.
	l = probed.send(t, "learning", sendOptions{socket: d.socket}, rcpts...)
	l.noDefers(t)
	for _, dom := range all {
		l.delivered(t, rcpt(dom))
	}
	if got := l.delivered(t, rcpt(override)); got.transport != smallTransport {
		t.Errorf("learning: %s is in [overrides] tlsexport: want T=%s, got %s", override.domain, smallTransport, got.line)
	}

	d.waitAnswer(t, dh768.domain, "tlsexport", 60*time.Second)
	d.waitAnswer(t, rsa1024.domain, "smallkey", 60*time.Second)
	d.waitAnswer(t, dsa1024.domain, "smallkey", 60*time.Second)

	// 2b. Once learnt: the DHE-768 domain goes out over TLS 1.2 with the
	// 768-bit prime, through the small-prime transport.
	l = probed.send(t, "learnt", sendOptions{socket: d.socket}, rcpts...)
	l.noDefers(t)
	checks := []struct {
		dom       mxDomain
		transport string
		tls       string // prefix of X=, "" = in clear
	}{
		{dh768, smallTransport, "TLS1.2:DHE_CUSTOM768"},
		{rsa1024, smallTransport, "TLS1."},
		{modern, plainTransport, "TLS1.3:"},
		{notls, plainTransport, ""},
		{override, smallTransport, "TLS1."},
		// GnuTLS's NORMAL has no DSA; the small-prime transport adds
		// DHE-DSS and DSA signatures by default (issue 19).
		{dsa1024, smallTransport, "TLS1.2:"},
	}
	for _, c := range checks {
		got := l.delivered(t, rcpt(c.dom))
		if got.transport != c.transport || !tlsMatches(got.tls, c.tls) {
			t.Errorf("learnt: %s: want T=%s X=%s..., got %s\nexplain: %s", c.dom.domain, c.transport, c.tls, got.line, d.explain(c.dom.domain))
		} else {
			t.Logf("README: %s", got.line)
		}
	}
	if line := l.line(dhError); line != "" {
		t.Errorf("learnt: the DH error is still there: %s", line)
	}
	if out := probed.test(t, probed.config, d.socket, rcpt(dh768)); !strings.Contains(out, "router = tlsprobed_smallprime, transport = "+smallTransport) {
		t.Errorf("exim -bt %s: want router tlsprobed_smallprime, transport %s:\n%s", rcpt(dh768), smallTransport, out)
	} else {
		t.Logf("README: exim -bt %s:\n%s", rcpt(dh768), out)
	}

	// DSA-only servers: TLSPROBED_TLS_REQUIRE_CIPHERS adds DSA to the
	// small-prime transport, without harm to the DHE-768 server.
	l = probed.send(t, "dsa", sendOptions{socket: d.socket, lines: []string{"TLSPROBED_TLS_REQUIRE_CIPHERS = " + dsaCiphers}}, rcpt(dsa1024), rcpt(dh768))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(dsa1024)); got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:") || !strings.Contains(got.tls, "__DSA_") {
		t.Errorf("dsa: %s: want T=%s X=TLS1.2:...__DSA_..., got %s", dsa1024.domain, smallTransport, got.line)
	} else {
		t.Logf("README: %s", got.line)
	}
	if got := l.delivered(t, rcpt(dh768)); got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:DHE_CUSTOM768") {
		t.Errorf("dsa: %s: want T=%s X=TLS1.2:DHE_CUSTOM768..., got %s", dh768.domain, smallTransport, got.line)
	}

	// The single-file fragment in Exim's default configuration does the same.
	frag := newFragmentSender(t, ns)
	l = frag.send(t, "fragment", sendOptions{socket: d.socket}, rcpt(dh768), rcpt(modern))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(dh768)); got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:DHE_CUSTOM768") {
		t.Errorf("fragment: %s: want T=%s X=TLS1.2:DHE_CUSTOM768..., got %s", dh768.domain, smallTransport, got.line)
	}
	if got := l.delivered(t, rcpt(modern)); got.transport != plainTransport || !tlsMatches(got.tls, "TLS1.3:") {
		t.Errorf("fragment: %s: want T=%s X=TLS1.3..., got %s", modern.domain, plainTransport, got.line)
	}
	// [overrides] answers without probing: the override server never saw the
	// daemon's source address, while the probed servers did.
	if n := overrideSrv.connectionsFrom(probeAddr); n != 0 {
		t.Errorf("%s is in [overrides], yet its server logged %d connections from the daemon (%s):\n%s", override.domain, n, probeAddr, overrideSrv.mainlog())
	}
	if n := modernSrv.connectionsFrom(probeAddr); n == 0 {
		t.Errorf("control: %s's server logged no probe from %s; cannot tell probes from deliveries:\n%s", modern.domain, probeAddr, modernSrv.mainlog())
	}
	if n := overrideSrv.connectionsFrom(senderAddr); n < 2 {
		t.Errorf("control: %s's server logged %d connections from the sending Exim (%s), want >= 2", override.domain, n, senderAddr)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 3. Whenever the daemon cannot answer, every domain routes as if the
	// snippets were not there: remote_smtp, nothing deferred.
	normal := func(phase string, l *eximLog, doms ...mxDomain) {
		t.Helper()
		l.noDefers(t)
		for _, dom := range doms {
			if got := l.delivered(t, rcpt(dom)); got.transport != plainTransport {
				t.Errorf("%s: %s: want T=%s, got %s", phase, dom.domain, plainTransport, got.line)
			}
		}
	}

	// 3a. Socket not reachable for Debian-exim. A delivery process keeps
	// root while routing (Exim spec, "Security considerations"), so a 0600
	// root socket still answers there; Exim routes as Debian-exim when it
	// verifies recipients during an SMTP session and, with
	// deliver_drop_privilege, throughout delivery. That setting makes the
	// permission matter here.
	dropPriv := "deliver_drop_privilege = true"
	l = probed.send(t, "dropped-privilege", sendOptions{socket: d.socket, lines: []string{dropPriv}}, rcpt(dh768), rcpt(modern))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(dh768)); got.transport != smallTransport {
		t.Errorf("control: routing as Debian-exim with the socket in its group: %s: want T=%s, got %s", dh768.domain, smallTransport, got.line)
	}
	if err := os.Chmod(d.socket, 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := query(d.socket, dh768.domain, 5*time.Second); err != nil || a != "tlsexport" {
		t.Fatalf("control: root's query of the 0600 socket: %q, %v; want tlsexport", a, err)
	}
	normal("socket-0600", probed.send(t, "socket-0600", sendOptions{socket: d.socket, lines: []string{dropPriv}}, rcpts...), all...)
	// The default (root) delivery process still reaches the 0600 socket;
	// nothing waits or defers either way.
	l = probed.send(t, "socket-0600-root", sendOptions{socket: d.socket}, rcpts...)
	l.noDefers(t)
	if got := l.delivered(t, rcpt(dh768)); got.transport != smallTransport {
		t.Errorf("socket-0600-root: %s: want T=%s (the delivery process routes as root), got %s", dh768.domain, smallTransport, got.line)
	}
	if err := os.Chmod(d.socket, 0o660); err != nil {
		t.Fatal(err)
	}

	// 3b. A daemon that accepts and never answers: readsocket times out
	// (TLSPROBED_TIMEOUT, 3s) and the address routes normally.
	slow, hits := hangingSocket(t, filepath.Join(ns.dir, "hang"))
	normal("hanging", probed.send(t, "hanging", sendOptions{socket: slow}, rcpt(dh768), rcpt(override)), dh768, override)
	if hits.Load() == 0 {
		t.Errorf("control: the hanging socket was never asked")
	}

	// 3c. A socket file nobody listens on (connection refused), and no socket.
	normal("refused", probed.send(t, "refused", sendOptions{socket: deadSocket(t, filepath.Join(ns.dir, "dead"))}, rcpts...), all...)
	missing := filepath.Join(ns.dir, "missing", "tlsprobed.sock")
	normal("missing", probed.send(t, "missing", sendOptions{socket: missing}, rcpts...), all...)

	// Control: the naive pattern (readsocket inside the router condition)
	// defers in the same situation, which is why the snippets do not use it.
	unsafe := unsafeConfig(t, probed)
	if out := probed.test(t, unsafe, missing, rcpt(override)); !strings.Contains(out, "cannot be resolved at this time") {
		t.Errorf("control: readsocket in a router condition did not defer with the socket missing:\n%s", out)
	} else {
		t.Logf("README: exim -bt with readsocket in the condition, socket missing:\n%s", out)
	}
	if out := probed.test(t, probed.config, missing, rcpt(override)); !strings.Contains(out, "router = dnslookup, transport = "+plainTransport) {
		t.Errorf("exim -bt with the socket missing: want router dnslookup, transport %s:\n%s", plainTransport, out)
	}

	// 3d. The daemon stopped.
	d.stop(t)
	normal("stopped", probed.send(t, "stopped", sendOptions{socket: d.socket}, rcpts...), all...)
}

// requireE2E fails (in CI) or skips the test unless it runs as root with
// the tools the end-to-end tests use.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the end-to-end test needs root (network namespaces, Exim as root)")
		}
		t.Skip("the end-to-end test needs root (network namespaces, Exim as root)")
	}
	lab.Require(t, "ip", "ss", "getent", "exim4", "update-exim4.conf", "dnsmasq", "openssl", "gcc")
}

// tlsMatches reports whether an X= value fits want: "" means in clear.
func tlsMatches(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.HasPrefix(got, want)
}

// hangingSocket listens on DIR/tlsprobed.sock (mode 0666, so the Exim user
// gets in), accepts connections and never answers them. It counts them.
func hangingSocket(t *testing.T, dir string) (string, *atomic.Int32) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tlsprobed.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	hits := new(atomic.Int32)
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			hits.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return path, hits
}

// deadSocket creates DIR/tlsprobed.sock as a socket file that nobody
// listens on (bound, never listening): connecting to it is refused.
func deadSocket(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tlsprobed.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	return path
}

// unsafeConfig is the sender's configuration with the tlsprobed_smallprime
// router's condition replaced by the naive one that calls readsocket itself.
func unsafeConfig(t *testing.T, s *sender) string {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	const safe = "condition = ${if inlist{$address_data}{TLSPROBED_ANSWERS}}"
	if !strings.Contains(string(b), safe) {
		t.Fatalf("the generated configuration has no %q", safe)
	}
	naive := "condition = ${if inlist{${readsocket{TLSPROBED_SOCKET}{$domain}{TLSPROBED_TIMEOUT:cache=yes}{}{}}}{TLSPROBED_ANSWERS}}"
	path := s.config + ".unsafe"
	writeFile(t, path, strings.Replace(string(b), safe, naive, 1), 0o644)
	return path
}
