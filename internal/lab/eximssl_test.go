package lab

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEximOpenSSLBinary: the cached build is an Exim with OpenSSL, and the
// check tells it from Debian's GnuTLS Exim, a missing file and a file
// someone else could have replaced.
func TestEximOpenSSLBinary(t *testing.T) {
	bin := EximOpenSSLBinary(t)
	out, err := exec.Command(bin, "-C", "/dev/null", "-bV").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -bV: %v\n%s", bin, err, out)
	}
	// The drivers the lab's configurations, contrib/exim's routers and
	// Debian's split configuration (internal/e2e) need.
	wantContains(t, "-bV", string(out), "Exim version 4.96 ", "OpenSSL", "IPv6",
		"Routers: accept dnslookup ipliteral manualroute redirect", "Transports: appendfile/maildir autoreply pipe smtp",
		"Authenticators: cram_md5 plaintext", " dnsdb")
	if strings.Contains(string(out), "GnuTLS") {
		t.Errorf("-bV mentions GnuTLS:\n%s", out)
	}

	Require(t, "exim")
	debian, _ := lookTool("exim")
	if _, err := checkEximOpenSSL(debian); err == nil || !strings.Contains(err.Error(), "lists no OpenSSL support") {
		t.Errorf("check of Debian's GnuTLS Exim %s: %v, want 'lists no OpenSSL support'", debian, err)
	}
	if _, err := checkEximOpenSSL("/nonexistent/exim"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check of a missing file: %v, want ErrNotExist", err)
	}
	writable := filepath.Join(t.TempDir(), "exim")
	copyFile(t, bin, writable, 0o777)
	if _, err := checkEximOpenSSL(writable); err == nil || !strings.Contains(err.Error(), "not owned by uid 0 and writable only by it") {
		t.Errorf("check of a world-writable copy: %v, want a refusal", err)
	}
}

// The server sides of TestEximOpenSSLClient: all TLS 1.2 only (a TLS 1.3
// client would not use DHE), DHE with a fixed prime.
var (
	dhe1024 = OpenSSLOptions{DH: "dh1024", Ciphers: "kDHE", MaxTLS: "1.2"}
	dhe768  = OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}
	// preferDHE768 prefers a 768-bit DHE but also has ECDHE.
	preferDHE768 = OpenSSLOptions{DH: "dh768", Ciphers: "kDHE:kECDHE", ServerPreference: true, MaxTLS: "1.2"}
)

// dhTooSmall is what the OpenSSL-built Exim logs when the server's prime is
// under its security level's minimum, before it delivers in clear
// (tls_tempfail_tryclear).
const dhTooSmall = "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)"

// TestEximOpenSSLClient proves the docs/design.md section 7 facts about an Exim
// built with OpenSSL 3 as the sending MTA, against the lab's OpenSSL
// servers, with Debian's GnuTLS Exim on the same servers where the two
// differ. The log lines below are those seen on Debian 12 (OpenSSL 3.0,
// exim4 source 4.96-15+deb12u10, 2026-12-02); the OpenSSL Exim's lines:
//
//	dh1024, default:  TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)
//	                  => rcpt@lab.test R=lab T=lab_smtp H=127.0.0.1 [127.0.0.1]:PORT C="250 2.0.0 accepted"
//	dh1024, DEFAULT:@SECLEVEL=1:  => ... X=TLS1.2:DHE-RSA-AES256-GCM-SHA384:256 CV=no DN="/CN=mx.test" ...
//	dh768, DEFAULT:@SECLEVEL=0:   the dh key too small line, then => in clear
//	prefers DHE-768, has ECDHE, default:      the dh key too small line, then => in clear
//	prefers DHE-768, has ECDHE, DEFAULT:!kDHE: => ... X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 ...
//	RSA-1024 certificate, default:  => ... X=TLS1.3:TLS_AES_256_GCM_SHA384:256 ...
//	DSA-1024 certificate, default:  TLS session: (SSL_connect): error:0A000410:SSL routines::sslv3 alert handshake failure: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)
//
// and Debian's GnuTLS Exim against dh1024 with default settings:
// X=TLS1.2:DHE_CUSTOM1024__RSA_SHA256__AES_256_GCM:256.
func TestEximOpenSSLClient(t *testing.T) {
	Require(t, "gcc")
	bin := EximOpenSSLBinary(t)
	for _, tc := range []struct {
		name      string
		server    OpenSSLOptions
		transport string // smtp transport lines of the sending Exim
		tls       string // X= of the delivery; "" = delivered in clear
		line      string // a main log line to find; "" = none
		gnutlsTLS string // Debian's Exim with the same transport: X=; "" = not run
	}{
		{name: "dh1024 default", server: dhe1024,
			line: dhTooSmall, gnutlsTLS: "TLS1.2:DHE_CUSTOM1024__RSA_SHA256__AES_256_GCM:256"},
		{name: "dh1024 seclevel 1", server: dhe1024, transport: "tls_require_ciphers = DEFAULT:@SECLEVEL=1",
			tls: "TLS1.2:DHE-RSA-AES256-GCM-SHA384:256"},
		{name: "dh768 seclevel 1", server: dhe768, transport: "tls_require_ciphers = DEFAULT:@SECLEVEL=1",
			line: dhTooSmall},
		{name: "dh768 seclevel 0", server: dhe768, transport: "tls_require_ciphers = DEFAULT:@SECLEVEL=0",
			line: dhTooSmall},
		// tls_dh_min_bits, the GnuTLS build's remedy, does nothing here.
		{name: "dh768 tls_dh_min_bits 512", server: dhe768, transport: "tls_dh_min_bits = 512",
			line: dhTooSmall},
		{name: "prefers dhe768 default", server: preferDHE768,
			line: dhTooSmall},
		{name: "prefers dhe768 no kDHE", server: preferDHE768, transport: "tls_require_ciphers = DEFAULT:!kDHE",
			tls: "TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256"},
		// Without server preference the same server gives the client's
		// choice, ECDHE: the preference is what the case above is about.
		// An RSA-1024 certificate does not stop it: TLS 1.3.
		{name: "rsa1024", server: OpenSSLOptions{Cert: "rsa1024"},
			tls: "TLS1.3:TLS_AES_256_GCM_SHA384:256"},
		// A DSA-only server fails: no suite in common (the server logs "no
		// shared cipher"), even with a 2048-bit prime.
		{name: "dsa1024", server: OpenSSLOptions{Cert: "dsa1024", DH: "dh2048"},
			line: "TLS session: (SSL_connect): error:0A000410:SSL routines::sslv3 alert handshake failure: delivering unencrypted to H=127.0.0.1 [127.0.0.1] (not in hosts_require_tls)"},
		// contrib/exim's OpenSSL transports leave TLS 1.3 alone: OpenSSL's
		// cipher list (tls_require_ciphers) does not hold TLS 1.3 suites.
		{name: "modern no kDHE", server: OpenSSLOptions{}, transport: "tls_require_ciphers = DEFAULT:!kDHE",
			tls: "TLS1.3:TLS_AES_256_GCM_SHA384:256"},
		{name: "modern seclevel 1", server: OpenSSLOptions{}, transport: "tls_require_ciphers = DEFAULT:@SECLEVEL=1",
			tls: "TLS1.3:TLS_AES_256_GCM_SHA384:256"},
		{name: "dhe768 and ecdhe client order", server: OpenSSLOptions{DH: "dh768", Ciphers: "kDHE:kECDHE", MaxTLS: "1.2"},
			tls: "TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StartOpenSSL(t, tc.server)
			checkSent(t, "OpenSSL Exim", SendWithExim(t, EximSendOptions{Binary: bin, To: s.Addr, Transport: tc.transport}), tc.tls, tc.line)
			if tc.gnutlsTLS != "" {
				checkSent(t, "Debian's Exim", SendWithExim(t, EximSendOptions{To: s.Addr, Transport: tc.transport}), tc.gnutlsTLS, "")
			}
		})
	}
}

// checkSent checks that the message was delivered, with TLS tls ("" = in
// clear), and that the log holds line.
func checkSent(t *testing.T, who string, s *EximSent, tls, line string) {
	t.Helper()
	if s.Delivery() == "" {
		t.Errorf("%s: no delivery:\n%s%s", who, s.Log, s.Output)
		return
	}
	if got := s.TLS(); got != tls {
		t.Errorf("%s: delivered with X=%q, want %q:\n%s", who, got, tls, s.Log)
	}
	if line != "" && s.Line(line) == "" {
		t.Errorf("%s: main log lacks %q:\n%s", who, line, s.Log)
	}
}

// TestStartEximOpenSSL: StartExim runs the OpenSSL-built Exim as a server
// when asked, and a message through it (sent by Debian's Exim) is received
// over TLS and delivered. The server logs the cipher the OpenSSL way,
// X=TLS1.3:TLS_AES_256_GCM_SHA384:256; GnuTLS names the key exchange too, as
// the sending side's X= shows.
func TestStartEximOpenSSL(t *testing.T) {
	s := StartExim(t, EximOptions{Binary: EximOpenSSLBinary(t)})
	sent := SendWithExim(t, EximSendOptions{To: s.Addr})
	checkSent(t, "Debian's Exim", sent, "TLS1.3:ECDHE_SECP256R1__RSA_PSS_RSAE_SHA256__AES_256_GCM:256", "")
	var log string
	WaitFor(t, "the OpenSSL Exim server's Completed line", func() bool {
		log = readLogs(s.Dir)
		return strings.Contains(log, " Completed")
	})
	wantContains(t, "server log", log, "<= sender@sender.test H=(sender.test) [127.0.0.1]", "X=TLS1.3:TLS_AES_256_GCM_SHA384:256", "=> :blackhole: <rcpt@lab.test> R=blackhole")
}
