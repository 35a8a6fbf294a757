package probe_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// logTB keeps what a lab server logs through t.Log (the OpenSSL fixture's
// per-connection lines), and passes it on.
type logTB struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *logTB) Log(args ...any) { l.keep(fmt.Sprint(args...)); l.TB.Log(args...) }
func (l *logTB) Logf(f string, args ...any) {
	l.keep(fmt.Sprintf(f, args...))
	l.TB.Logf(f, args...)
}
func (l *logTB) keep(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *logTB) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// tap is a TCP relay in front of a lab server: it counts the probe's
// connections and keeps, per connection, what the client sent.
type tap struct {
	ln   net.Listener
	to   string
	mu   sync.Mutex
	sent [][]byte
	wg   sync.WaitGroup
}

func startTap(t *testing.T, to netip.AddrPort) *tap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tap{ln: ln, to: to.String()}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			i := len(p.sent)
			p.sent = append(p.sent, nil)
			p.mu.Unlock()
			p.wg.Go(func() { p.relay(c, i) })
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *tap) relay(c net.Conn, i int) {
	defer c.Close()
	s, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer s.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(c, s)
		c.(*net.TCPConn).CloseWrite()
	})
	var buf bytes.Buffer
	io.Copy(io.MultiWriter(s, &buf), c)
	s.(*net.TCPConn).CloseWrite()
	wg.Wait()
	p.mu.Lock()
	p.sent[i] = buf.Bytes()
	p.mu.Unlock()
}

func (p *tap) addr() netip.AddrPort { return netip.MustParseAddrPort(p.ln.Addr().String()) }

// wait returns what the client sent on each connection, once every relay
// has ended (the probe has returned, so they end).
func (p *tap) wait() [][]byte {
	p.ln.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// clearAlerts lists the plaintext alerts ("level/description") the client
// sent after STARTTLS on one connection, reading its TLS records up to the
// first ChangeCipherSpec or application data record (after which nothing
// is clear text).
func clearAlerts(sent []byte) []string {
	i := bytes.Index(sent, []byte("STARTTLS\r\n"))
	if i < 0 {
		return nil
	}
	b := sent[i+len("STARTTLS\r\n"):]
	var out []string
	for len(b) >= 5 {
		typ, n := b[0], int(b[3])<<8|int(b[4])
		if len(b) < 5+n {
			break
		}
		if typ == 21 && n == 2 {
			out = append(out, fmt.Sprintf("%d/%d", b[5], b[6]))
		}
		if typ == 20 || typ == 23 {
			break
		}
		b = b[5+n:]
	}
	return out
}

// TestMannersModernExim: a real Exim (GnuTLS, TLS 1.3) sees one connection,
// a complete TLS session ended by QUIT, and no TLS error.
func TestMannersModernExim(t *testing.T) {
	s := lab.StartExim(t, lab.EximOptions{})
	mainlog := filepath.Join(s.Dir, "log", "mainlog")
	// The lab's own readiness check connected too: look only at what
	// follows it.
	waitLog(t, mainlog, " lost ")
	before, _ := os.ReadFile(mainlog)
	tp := startTap(t, s.Addr)
	f := probe.Addr(context.Background(), tp.addr(), probe.Options{HELO: "probe.test", Timeout: 20 * time.Second})
	if f.Outcome != probe.OK || !f.TLS13 || f.KeyBits != 2048 {
		t.Fatalf("facts %+v", f)
	}
	sent := tp.wait()
	if len(sent) != 1 {
		t.Errorf("%d connections, want 1", len(sent))
	}
	log := waitLog(t, mainlog, "closed by QUIT")[len(before):]
	t.Logf("exim mainlog:\n%s", log)
	if n := strings.Count(log, "SMTP connection from"); n != 2 { // the connection and its close
		t.Errorf("%d 'SMTP connection from' lines, want 2 (one connection)", n)
	}
	if strings.Contains(log, "TLS error") || strings.Contains(log, "lost") {
		t.Errorf("exim logged an error")
	}
	for i, c := range sent {
		if a := clearAlerts(c); len(a) > 0 {
			t.Errorf("connection %d: clear-text alerts %v", i, a)
		}
	}
}

// TestMannersEximDHE: a real Exim (GnuTLS) that speaks only TLS 1.2 with
// DHE (its 2048-bit RFC 7919 prime): crypto/tls's hello is refused (one
// TLS error in the mainlog), the modelled hello reads the prime and
// completes the handshake, and Exim logs that session as ended by QUIT.
func TestMannersEximDHE(t *testing.T) {
	s := lab.StartExim(t, lab.EximOptions{Extra: "tls_require_ciphers = NORMAL:-KX-ALL:+DHE-RSA:-VERS-TLS1.3"})
	mainlog := filepath.Join(s.Dir, "log", "mainlog")
	waitLog(t, mainlog, " lost ")
	before, _ := os.ReadFile(mainlog)
	tp := startTap(t, s.Addr)
	f := probe.Addr(context.Background(), tp.addr(), probe.Options{HELO: "probe.test", Timeout: 20 * time.Second})
	t.Logf("facts %+v", f)
	if f.Outcome != probe.OK || f.DHBits != 2048 || f.TLS13 || f.KeyBits != 2048 || f.Cipher == "" {
		t.Errorf("facts %+v", f)
	}
	sent := tp.wait()
	// The two connections overlap in Exim: wait until it has logged the
	// end of each, not only the session closed by QUIT.
	log := waitEnds(t, mainlog, len(before), len(sent))
	t.Logf("exim mainlog:\n%s", log)
	if len(sent) != 2 {
		t.Errorf("%d connections, want 2", len(sent))
	}
	if n := strings.Count(log, "TLS error"); n != 1 {
		t.Errorf("%d TLS errors, want 1 (crypto/tls's hello)", n)
	}
	if n := strings.Count(log, "SMTP connection from (probe.test) [127.0.0.1] closed by QUIT"); n != 1 {
		t.Errorf("%d sessions closed by QUIT, want 1", n)
	}
	for i, c := range sent {
		if a := clearAlerts(c); len(a) > 0 {
			t.Errorf("connection %d: clear-text alerts %v", i, a)
		}
	}
}

// waitLog waits (lab.WaitFor) until file holds want, and returns it.
func waitLog(t *testing.T, file, want string) string {
	t.Helper()
	var b []byte
	lab.WaitFor(t, fmt.Sprintf("%q in %s", want, file), func() bool {
		b, _ = os.ReadFile(file)
		return bytes.Contains(b, []byte(want))
	})
	return string(b)
}

// TestMannersOpenSSL: the OpenSSL fixture, for each kind of server: the
// connections of one probe, the handshakes OpenSSL saw fail and why, and
// the clear-text alerts the probe sent.
func TestMannersOpenSSL(t *testing.T) {
	lab.Require(t, "gcc")
	for _, tc := range []struct {
		name    string
		server  lab.OpenSSLOptions
		conns   int // connections of one probe
		failed  int // handshakes the server saw fail
		alerts  []string
		dhBits  int
		noTLS13 bool
	}{
		// A TLS 1.3 server: one clean session.
		{"tls13", lab.OpenSSLOptions{Cert: "rsa2048"}, 1, 0, nil, 0, false},
		{"tls13-with-dhe768", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE"}, 1, 0, nil, 0, false},
		// TLS 1.2 with ECDHE: the clean session, then the modelled hello
		// (would Exim get DHE?), its ECDHE handshake completed.
		{"tls12-ecdhe", lab.OpenSSLOptions{Cert: "rsa2048", MaxTLS: "1.2"}, 2, 0, nil, 0, false},
		// A suite tlswire does not complete (AES-CCM, which crypto/tls
		// refuses too): the modelled hello is left with warning
		// user_canceled + close_notify.
		{"tls12-ecdhe-ccm", lab.OpenSSLOptions{Cert: "ecp256", Ciphers: "ECDHE-ECDSA-AES256-CCM", MaxTLS: "1.2"}, 2, 2, []string{"1/90", "1/0"}, 0, false},
		// DHE-only TLS 1.2 with a weak prime: crypto/tls has no DHE (the
		// server refuses its hello), the modelled hello reads the prime
		// and completes the handshake (tlswire.Complete): a clean session.
		// A real Exim: one aborted handshake, then a session in clear.
		{"dhe768-only", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}, 2, 1, nil, 768, false},
		{"dhe1024-only-chacha", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh1024", Ciphers: "DHE-RSA-CHACHA20-POLY1305", MaxTLS: "1.2"}, 2, 1, nil, 1024, false},
		{"dhe2048-only-cbc", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh2048", Ciphers: "DHE-RSA-AES256-SHA", MaxTLS: "1.2"}, 2, 1, nil, 2048, false},
		// 512 bits is the least the probe completes (tlswire's
		// TestCompletable: under it, it leaves politely).
		{"dhe512-only", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh512", Ciphers: "kDHE", MaxTLS: "1.2"}, 2, 1, nil, 512, false},
		// The client model without TLS 1.3 at a TLS 1.3 server: the
		// modelled TLS 1.2 hello, completed.
		{"tls13-with-dhe768-client-no-tls13", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE"}, 1, 0, nil, 768, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lt := &logTB{TB: t}
			s := lab.StartOpenSSL(lt, tc.server)
			tp := startTap(t, s.Addr)
			f := probe.Addr(context.Background(), tp.addr(), probe.Options{HELO: "probe.test", Timeout: 20 * time.Second, NoTLS13: tc.noTLS13})
			t.Logf("facts %+v", f)
			if f.Outcome != probe.OK || f.DHBits != tc.dhBits {
				t.Errorf("outcome %s, DH %d bits; want ok, %d", f.Outcome, f.DHBits, tc.dhBits)
			}
			sent := tp.wait()
			var alerts []string
			for _, c := range sent {
				alerts = append(alerts, clearAlerts(c)...)
			}
			// The fixture logs one line per handshake, after the probe's
			// connections ended; wait for them.
			lab.WaitFor(t, "a handshake line per connection", func() bool { return lt.count("handshake") >= len(sent) })
			failed := lt.count("handshake failed")
			if done := lt.count("handshake done"); done+failed != len(sent) {
				t.Errorf("%d handshakes done, %d failed, for %d connections", done, failed, len(sent))
			}
			t.Logf("connections %d, failed handshakes %d, clear alerts %v", len(sent), failed, alerts)
			if len(sent) != tc.conns || failed != tc.failed || fmt.Sprint(alerts) != fmt.Sprint(tc.alerts) {
				t.Errorf("connections %d, failed handshakes %d, alerts %v; want %d, %d, %v", len(sent), failed, alerts, tc.conns, tc.failed, tc.alerts)
			}
			for _, bad := range []string{"bad record mac", "decryption failed", "alert number 90", "user cancel"} {
				if n := lt.count(bad); n > 0 {
					t.Errorf("the server logged %q %d times", bad, n)
				}
			}
		})
	}
}

// waitEnds waits (lab.WaitFor) until the part of file after offset from
// logs the end of n SMTP connections ("closed by" or "lost"), and returns
// that part.
func waitEnds(t *testing.T, file string, from, n int) string {
	t.Helper()
	var log string
	lab.WaitFor(t, fmt.Sprintf("%d connection ends in %s", n, file), func() bool {
		b, _ := os.ReadFile(file)
		if len(b) < from {
			return false
		}
		log = string(b[from:])
		return strings.Count(log, "] closed by ")+strings.Count(log, "] lost ") >= n
	})
	return log
}
