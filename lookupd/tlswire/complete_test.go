package tlswire

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire/internal/tlslab"
)

// completeWWW dials addr, sends h, reads the flight, completes the
// handshake, asks "GET /" and returns the flight and the whole answer read
// up to the server's close_notify (or close).
func completeWWW(t *testing.T, addr string, h *Hello) (Flight, *Pending, string, error) {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(testCtx(t), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(h.Record); err != nil {
		t.Fatal(err)
	}
	f, p, err := ReadFlightPending(conn, h)
	if err != nil {
		return f, p, "", fmt.Errorf("read flight: %w", err)
	}
	c, err := Complete(conn, p, nil)
	if err != nil {
		return f, p, "", fmt.Errorf("complete: %w", err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return f, p, "", err
	}
	page, err := io.ReadAll(c)
	return f, p, string(page), err
}

// TestCompleteOpenSSL: a real OpenSSL 3 server (TLS 1.2 only, one DHE or
// ECDHE suite each time, a 2048-bit prime: s_server refuses smaller ones at Debian's
// security level before its -cipher applies; the probe's tests complete
// 768- and 1024-bit handshakes with the lab fixture) completes the handshake with each
// modelled hello, then serves its status page over the session: the page
// names the suite, so both directions of the record layer work. The flight
// read on the way is ReadFlight's.
func TestCompleteOpenSSL(t *testing.T) {
	lab.Require(t, "openssl")
	ctx, dir := testCtx(t), t.TempDir()
	crt, key, err := tlslab.Cert(ctx, dir, "rsa2048")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bits   int
		cipher string // OpenSSL name
		suite  uint16
		extra  []string
	}{
		{2048, "DHE-RSA-AES128-GCM-SHA256", 0x009e, nil},
		{2048, "DHE-RSA-AES256-GCM-SHA384", 0x009f, nil},
		{2048, "DHE-RSA-CHACHA20-POLY1305", 0xccaa, nil},
		{2048, "DHE-RSA-AES128-SHA", 0x0033, nil},                 // encrypt_then_mac
		{2048, "DHE-RSA-AES256-SHA", 0x0039, []string{"-no_etm"}}, // MAC then encrypt
		{2048, "DHE-RSA-AES256-SHA256", 0x006b, nil},
		{2048, "DHE-RSA-AES128-SHA256", 0x0067, []string{"-no_etm", "-no_ticket"}},
		// The server asks for a client certificate (optional): the
		// client answers with an empty one.
		{2048, "DHE-RSA-AES128-GCM-SHA256", 0x009e, []string{"-verify", "1"}},
		// ECDHE (bits 0): each curve tlswire completes, GCM, ChaCha20, CBC.
		{0, "ECDHE-RSA-AES128-GCM-SHA256", 0xc02f, []string{"-groups", "X25519"}},
		{0, "ECDHE-RSA-AES256-GCM-SHA384", 0xc030, []string{"-groups", "P-256"}},
		{0, "ECDHE-RSA-CHACHA20-POLY1305", 0xcca8, []string{"-groups", "P-384"}},
		{0, "ECDHE-RSA-AES256-SHA", 0xc014, []string{"-groups", "P-521"}},
		{0, "ECDHE-RSA-AES256-SHA384", 0xc028, []string{"-groups", "P-256"}},
	} {
		dh, err := tlslab.DH(ctx, dir, max(tc.bits, 2048))
		if err != nil {
			t.Fatal(err)
		}
		for _, client := range []Client{ClientGnuTLS, ClientOpenSSL} {
			name := fmt.Sprintf("%s/dh%d/%s%v", client, tc.bits, tc.cipher, tc.extra)
			if client == ClientGnuTLS && (tc.suite == 0x0067 || tc.suite == 0x006b || tc.suite == 0xc028) {
				continue // not in GnuTLS NORMAL's hello
			}
			h, err := BuildHello(HelloConfig{Client: client, MaxVersion: tls.VersionTLS12})
			if err != nil {
				t.Fatal(err)
			}
			srv, err := tlslab.StartSServer(ctx, append([]string{"-www", "-cert", crt, "-key", key, "-dhparam", dh,
				"-no_tls1_3", "-cipher", tc.cipher + ":@SECLEVEL=0"}, tc.extra...)...)
			if err != nil {
				t.Fatal(err)
			}
			f, p, page, err := completeWWW(t, srv.Addr, h)
			srv.Stop()
			if err != nil {
				t.Errorf("%s: %v; server: %s", name, err, srv.Stderr())
				continue
			}
			if f.CipherSuite != tc.suite || f.DHBits() != tc.bits {
				t.Errorf("%s: flight %s DH %d", name, CipherSuiteName(f.CipherSuite), f.DHBits())
			}
			// OpenSSL 3 always takes extended_master_secret, and
			// encrypt_then_mac for a CBC suite unless -no_etm.
			wantETM := completable[tc.suite].aead == "" && (len(tc.extra) == 0 || tc.extra[0] != "-no_etm")
			if wantReq := len(tc.extra) > 0 && tc.extra[0] == "-verify"; p.certRequested != wantReq {
				t.Errorf("%s: certificate requested %v, want %v", name, p.certRequested, wantReq)
			}
			if !p.ems || p.etm != wantETM {
				t.Errorf("%s: extended_master_secret %v, encrypt_then_mac %v; want true, %v", name, p.ems, p.etm, wantETM)
			}
			if !strings.Contains(page, "Cipher is "+tc.cipher) || !strings.Contains(page, "TLSv1.2") {
				t.Errorf("%s: status page does not name the session:\n%s", name, page)
			}
		}
	}
}

// TestCompleteBadFinished: a transcript that is not the server's (one byte
// added on the client's side) fails the handshake, whichever side sees it
// first: with extended_master_secret the keys differ and the server
// answers bad_record_mac (or decrypt_error for the Finished); Complete
// returns the error, never a session.
func TestCompleteBadFinished(t *testing.T) {
	lab.Require(t, "openssl")
	ctx, dir := testCtx(t), t.TempDir()
	crt, key, err := tlslab.Cert(ctx, dir, "rsa2048")
	if err != nil {
		t.Fatal(err)
	}
	dh, err := tlslab.DH(ctx, dir, 2048)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := tlslab.StartSServer(ctx, "-www", "-cert", crt, "-key", key, "-dhparam", dh, "-no_tls1_3", "-cipher", "DHE-RSA-AES128-GCM-SHA256")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	h, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	conn.Write(h.Record)
	_, p, err := ReadFlightPending(conn, h)
	if err != nil {
		t.Fatal(err)
	}
	// The server finishes over the real transcript; ours differs in its
	// last byte (ServerHelloDone's are all header), so its Finished fails.
	p.transcript = append(p.transcript[:len(p.transcript):len(p.transcript)], 0)
	_, err = Complete(conn, p, nil)
	var a *AlertError
	switch {
	case errors.Is(err, ErrBadFinished):
	case errors.As(err, &a):
		// The server saw our Finished (over the altered transcript) fail first.
		if a.Description != alertDecryptError && a.Description != 20 {
			t.Errorf("server alert %v, want decrypt_error or bad_record_mac", a)
		}
	default:
		t.Errorf("Complete with an altered transcript: %v, want ErrBadFinished or the server's decrypt_error", err)
	}
}

// TestCompletable: what Complete refuses before sending anything.
func TestCompletable(t *testing.T) {
	p768 := new(big.Int).Lsh(big.NewInt(1), 767)
	p768.Add(p768, big.NewInt(1)) // odd, 768 bits (primality is not checked)
	pend := func(mod func(p *Pending)) *Pending {
		p := &Pending{flight: Flight{Version: tls.VersionTLS12, CipherSuite: 0x009e, KeyExchange: kxDHE,
			DHPrime: p768.Bytes(), DHGenerator: []byte{2}}, public: []byte{5}}
		if mod != nil {
			mod(p)
		}
		return p
	}
	if err := pend(nil).Completable(); err != nil {
		t.Fatalf("sane DHE: %v", err)
	}
	pm1 := new(big.Int).Sub(p768, big.NewInt(1)).Bytes()
	for name, mod := range map[string]func(*Pending){
		"TLS 1.0":     func(p *Pending) { p.flight.Version = tls.VersionTLS10 },
		"ECDHE":       func(p *Pending) { p.flight.KeyExchange = kxECDHE; p.flight.CipherSuite = 0xc02f },
		"CCM suite":   func(p *Pending) { p.flight.CipherSuite = 0xc09e },
		"511 bits":    func(p *Pending) { p.flight.DHPrime = new(big.Int).Rsh(p768, 257).Bytes() },
		"even prime":  func(p *Pending) { p.flight.DHPrime = new(big.Int).Sub(p768, big.NewInt(1)).Bytes() },
		"g = 1":       func(p *Pending) { p.flight.DHGenerator = []byte{1} },
		"g = p-1":     func(p *Pending) { p.flight.DHGenerator = pm1 },
		"Ys = 1":      func(p *Pending) { p.public = []byte{1} },
		"Ys = p-1":    func(p *Pending) { p.public = pm1 },
		"Ys = p":      func(p *Pending) { p.public = p768.Bytes() },
		"Ys = 0 pad":  func(p *Pending) { p.public = []byte{0, 0, 1} },
		"g = p (big)": func(p *Pending) { p.flight.DHGenerator = p768.Bytes() },
	} {
		if err := pend(mod).Completable(); !errors.Is(err, ErrNotCompletable) {
			t.Errorf("%s: Completable = %v, want ErrNotCompletable", name, err)
		}
	}
}

// TestPRF12Vector checks the TLS 1.2 PRF against the SHA-256 test vector
// published on the IETF TLS list (Joe Birr-Pixton's), also used by Go's
// crypto/tls tests.
func TestPRF12Vector(t *testing.T) {
	secret := unhex(t, "9bbe436ba940f017b17652849a71db35")
	seed := unhex(t, "a0ba9f936cda311827a6f796ffd5198c")
	want := unhex(t, "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66")
	got := prf12(sha256.New, secret, "test label", seed, len(want))
	if !bytes.Equal(got, want) {
		t.Errorf("prf12 = %x", got)
	}
}

// gnutlsServ runs gnutls-serv --http on a free port with args and returns
// its address and a stop function that returns its output.
func gnutlsServ(t *testing.T, args ...string) (string, func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(testCtx(t), "gnutls-serv", append([]string{"--http", "--port", fmt.Sprint(port)}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() string {
		cmd.Process.Kill()
		cmd.Wait()
		return out.String()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	t.Cleanup(func() { stop() })
	lab.WaitFor(t, "gnutls-serv listening on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, stop
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzConn is a net.Conn that reads from a byte slice and drops writes.
type fuzzConn struct {
	net.Conn // nil: only Read, Write, Close are used
	r        *bytes.Reader
}

func (c *fuzzConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *fuzzConn) Write(b []byte) (int, error) { return len(b), nil }
func (c *fuzzConn) Close() error                { return nil }

// FuzzComplete feeds arbitrary server bytes to Complete after the client's
// Finished (NewSessionTicket, ChangeCipherSpec, alerts, the protected
// Finished) and then to the session's Read: bounded, no panic, and no
// session unless the server's Finished verified (it cannot here: the
// server's keys are not the fuzzer's).
func FuzzComplete(f *testing.F) {
	nst := []byte{typeNewSessionTicket, 0, 0, 6, 0, 0, 0, 1, 0, 0}
	f.Add(append(record(recordHandshake, nst), record(recordChangeCipherSpec, []byte{1})...))
	f.Add(append(record(recordChangeCipherSpec, []byte{1}), record(recordHandshake, make([]byte, 40))...))
	f.Add(record(recordAlert, []byte{1, 112}))
	f.Add(append(record(recordHandshake, nst[:5]), record(recordHandshake, nst[5:])...))
	f.Add([]byte{recordHandshake, 3, 3, 0xff, 0xff})
	p768 := new(big.Int).Lsh(big.NewInt(1), 767)
	p768.Add(p768, big.NewInt(1))
	for _, suite := range []uint16{0x009e, 0xccaa, 0x0033} {
		f.Add(append([]byte{byte(suite >> 8), byte(suite)}, record(recordChangeCipherSpec, []byte{1})...))
	}
	h, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, server []byte) {
		suite := uint16(0x009e)
		if len(server) >= 2 {
			if _, ok := completable[uint16(server[0])<<8|uint16(server[1])]; ok {
				suite, server = uint16(server[0])<<8|uint16(server[1]), server[2:]
			}
		}
		p := &Pending{hello: h, flight: Flight{Version: tls.VersionTLS12, CipherSuite: suite, KeyExchange: kxDHE,
			DHPrime: p768.Bytes(), DHGenerator: []byte{2}}, public: []byte{5}, serverRandom: make([]byte, 32), ems: true, etm: true}
		c, err := Complete(&fuzzConn{r: bytes.NewReader(server)}, p, bytes.NewReader(make([]byte, 4096)))
		if err == nil {
			t.Fatalf("a session from fuzzed server bytes")
		}
		if c != nil {
			t.Fatalf("a Conn with error %v", err)
		}
	})
}

// FuzzConnRead feeds arbitrary records to a session's Read whose keys the
// fuzzer knows (seeds are records sealed with them): bounded, no panic.
func FuzzConnRead(f *testing.F) {
	key, iv := make([]byte, 16), make([]byte, 4)
	seal := func(typ uint8, data []byte) []byte {
		c, err := newRecordCipher(completable[0x009e], key, iv, nil, false, nil)
		if err != nil {
			f.Fatal(err)
		}
		rec, err := c.seal(typ, data)
		if err != nil {
			f.Fatal(err)
		}
		return rec
	}
	f.Add(seal(recordApplicationData, []byte("250 OK\r\n")))
	f.Add(seal(recordAlert, []byte{1, 0}))
	f.Add(seal(recordAlert, []byte{2, 40}))
	f.Add(seal(recordHandshake, []byte{0, 0, 0, 0}))
	f.Add(seal(recordHandshake, []byte{4, 0, 0, 0}))
	f.Add(seal(recordApplicationData, nil))
	f.Fuzz(func(t *testing.T, server []byte) {
		in, err := newRecordCipher(completable[0x009e], key, iv, nil, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &Conn{Conn: &fuzzConn{r: bytes.NewReader(server)}, rr: recordReader{r: bytes.NewReader(server)}, in: in, out: in}
		n, _ := io.Copy(io.Discard, io.LimitReader(c, 1<<20))
		if n > int64(len(server)) {
			t.Fatalf("read %d bytes of application data from %d bytes", n, len(server))
		}
	})
}

// TestCompleteGnuTLS: a real GnuTLS server (gnutls-serv --http, TLS 1.2,
// DHE-RSA only, a 2048-bit prime) completes the handshake with the
// modelled GnuTLS hello and serves its status page over the session; with
// extended_master_secret refused (%NO_SESSION_HASH: the RFC 5246 master
// secret) and with CBC suites, with and without encrypt_then_mac.
func TestCompleteGnuTLS(t *testing.T) {
	lab.Require(t, "gnutls-serv", "openssl")
	ctx, dir := testCtx(t), t.TempDir()
	crt, key, err := tlslab.Cert(ctx, dir, "rsa2048")
	if err != nil {
		t.Fatal(err)
	}
	dh, err := tlslab.DH(ctx, dir, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const base = "NORMAL:-KX-ALL:+DHE-RSA:-VERS-TLS1.3"
	for _, tc := range []struct {
		priority string
		suite    uint16
		ems, etm bool // what the server must have accepted (GnuTLS takes encrypt_then_mac for CBC suites only)
	}{
		{base, 0x009f, true, false},
		{base + ":%NO_SESSION_HASH", 0x009f, false, false},
		{base + ":-CIPHER-ALL:+CHACHA20-POLY1305", 0xccaa, true, false},
		{base + ":-CIPHER-ALL:+AES-128-CBC:-MAC-ALL:+SHA1", 0x0033, true, true},
		{base + ":-CIPHER-ALL:+AES-256-CBC:-MAC-ALL:+SHA1:%NO_ETM", 0x0039, true, false},
	} {
		addr, stop := gnutlsServ(t, "--priority", tc.priority, "--dhparams", dh, "--x509certfile", crt, "--x509keyfile", key)
		h, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		f, p, page, err := completeWWW(t, addr, h)
		out := stop()
		if err != nil {
			t.Errorf("%s: %v; server: %s", tc.priority, err, out)
			continue
		}
		if f.CipherSuite != tc.suite || f.DHBits() != 2048 {
			t.Errorf("%s: flight %s DH %d", tc.priority, CipherSuiteName(f.CipherSuite), f.DHBits())
		}
		if p.ems != tc.ems || p.etm != tc.etm {
			t.Errorf("%s: extended_master_secret %v, encrypt_then_mac %v; want %v, %v", tc.priority, p.ems, p.etm, tc.ems, tc.etm)
		}
		if !strings.Contains(page, "TLS1.2") || !strings.Contains(page, "DHE-RSA") {
			t.Errorf("%s: status page does not name the session:\n%s", tc.priority, page)
		}
		t.Logf("%s: %s, page of %d bytes", tc.priority, CipherSuiteName(f.CipherSuite), len(page))
	}
}
