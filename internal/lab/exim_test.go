package lab

import (
	"crypto/tls"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// noFFDHE removes the RFC 7919 groups from a gnutls-cli priority string.
const noFFDHE = "-GROUP-FFDHE2048:-GROUP-FFDHE3072:-GROUP-FFDHE4096:-GROUP-FFDHE6144:-GROUP-FFDHE8192"

// dheOnly12 makes gnutls-cli offer TLS 1.2 DHE key exchange only.
const dheOnly12 = "NORMAL:-VERS-TLS1.3:-ECDHE-RSA:-ECDHE-ECDSA:-RSA"

// TestStartExim proves with gnutls-cli and openssl s_client what the real
// Exim (GnuTLS) server negotiates, including the docs/design.md section 8 fact
// that it never sends a configured small prime.
func TestStartExim(t *testing.T) {
	Require(t, "exim", "gnutls-cli", "openssl")
	t.Run("default", func(t *testing.T) {
		s := StartExim(t, EximOptions{})
		wantContains(t, "gnutls-cli", gnutlsCLI(t, s.Addr, "--priority", "NORMAL"),
			"(TLS1.3-X.509)", "RSA key 2048 bits", "Handshake was completed")
		wantContains(t, "openssl s_client", opensslClient(t, s.Addr),
			"Server public key is 2048 bit", "TLSv1.3")
	})
	t.Run("dh768 gives ffdhe2048", func(t *testing.T) {
		s := StartExim(t, EximOptions{DH: "dh768"})
		// A TLS 1.2 client offering FFDHE groups gets the RFC 7919 group.
		wantContains(t, "gnutls-cli FFDHE", gnutlsCLI(t, s.Addr, "--priority", dheOnly12+":%PROFILE_VERY_WEAK"),
			"(TLS1.2-X.509)-(DHE-FFDHE2048)")
		// Without groups Exim 4.96/GnuTLS 3.7 still sends a 2048-bit prime
		// (the ffdhe2048 one), not the configured 768-bit file.
		wantContains(t, "gnutls-cli no groups", gnutlsCLI(t, s.Addr, "--priority", dheOnly12+":"+noFFDHE+":%PROFILE_VERY_WEAK"),
			"(TLS1.2-X.509)-(DHE-CUSTOM2048)")
		wantContains(t, "openssl s_client", opensslClient(t, s.Addr, "-tls1_2", "-cipher", "kDHE:@SECLEVEL=0"),
			"Server Temp Key: DH, 2048 bits")
	})
	t.Run("rsa1024", func(t *testing.T) {
		s := StartExim(t, EximOptions{Cert: "rsa1024"})
		wantContains(t, "gnutls-cli", gnutlsCLI(t, s.Addr, "--priority", "NORMAL"), "(TLS1.3-X.509)", "RSA key 1024 bits")
	})
	t.Run("ecp256", func(t *testing.T) {
		s := StartExim(t, EximOptions{Cert: "ecp256"})
		wantContains(t, "gnutls-cli", gnutlsCLI(t, s.Addr, "--priority", "NORMAL:-VERS-TLS1.3"),
			"(TLS1.2-X.509)-(ECDHE-", "EC/ECDSA key 256 bits")
	})
	t.Run("dsa1024 with DHE-DSS", func(t *testing.T) {
		s := StartExim(t, EximOptions{Cert: "dsa1024",
			Extra: "tls_require_ciphers = NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1"})
		wantContains(t, "gnutls-cli NORMAL", gnutlsCLI(t, s.Addr, "--priority", "NORMAL"), "Fatal error")
		wantContains(t, "gnutls-cli DHE-DSS",
			gnutlsCLI(t, s.Addr, "--priority", "NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1"),
			"(TLS1.2-X.509)-(DHE-FFDHE2048)-(DSA-", "DSA key 1024 bits")
	})
}

// TestStartEximDialogue checks banner, EHLO, no STARTTLS, a 454 answer made
// with Extra, and a delivered message (Exim works after dropping privilege).
func TestStartEximDialogue(t *testing.T) {
	Require(t, "exim")
	t.Run("banner and mail", func(t *testing.T) {
		s := StartExim(t, EximOptions{Banner: "mx.test first line\nsecond line"})
		c := dialSMTP(t, s.Addr)
		if got := c.reply(); !slices.Equal(got, []string{"220-mx.test first line", "220 second line"}) {
			t.Errorf("banner %q", got)
		}
		if ehlo := c.cmd("EHLO client.test"); !slices.Contains(ehlo, "250-STARTTLS") {
			t.Errorf("EHLO lacks STARTTLS: %q", ehlo)
		}
		c.cmd("QUIT")

		sendMail(t, s.Addr.String())
		var log string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			data, _ := os.ReadFile(filepath.Join(s.Dir, "log", "mainlog"))
			if log = string(data); strings.Contains(log, "Completed") {
				break
			}
		}
		for _, want := range []string{"=> :blackhole: <b@example.org> R=blackhole", "Completed", "X=TLS1.3"} {
			if !strings.Contains(log, want) {
				t.Errorf("mainlog lacks %q:\n%s", want, log)
			}
		}
	})
	t.Run("no starttls", func(t *testing.T) {
		c := dialSMTP(t, StartExim(t, EximOptions{NoSTARTTLS: true}).Addr)
		c.reply()
		if ehlo := c.cmd("EHLO client.test"); slices.ContainsFunc(ehlo, func(l string) bool { return strings.Contains(l, "STARTTLS") }) {
			t.Errorf("EHLO advertises STARTTLS: %q", ehlo)
		}
	})
	t.Run("454 via Extra", func(t *testing.T) {
		c := dialSMTP(t, StartExim(t, EximOptions{Extra: "tls_certificate = /nonexistent/lab.crt\ntls_privatekey = /nonexistent/lab.key"}).Addr)
		c.reply()
		c.cmd("EHLO client.test")
		if got := c.cmd("STARTTLS"); !strings.HasPrefix(got[0], "454 ") {
			t.Errorf("STARTTLS reply %q, want 454", got)
		}
	})
}

// sendMail sends one message over STARTTLS (the lab's certificates are
// self-signed: no verification).
func sendMail(t *testing.T, addr string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if err := c.Mail("a@client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.org"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("Subject: lab\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end data: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

// TestStartEximPortTaken: when the chosen port is taken, StartExim tries another.
func TestStartEximPortTaken(t *testing.T) {
	Require(t, "exim")
	busyPort, calls := busyFirstPort(t)
	s := StartExim(t, EximOptions{})
	if calls() != 2 || int(s.Addr.Port()) == busyPort {
		t.Errorf("port picked %d times, server on %v (busy port %d)", calls(), s.Addr, busyPort)
	}
	c := dialSMTP(t, s.Addr)
	if got := c.reply(); !strings.HasPrefix(got[0], "220 mx.test ESMTP Exim ") {
		t.Errorf("banner %q", got)
	}
	if pid, err := os.ReadFile(filepath.Join(s.Dir, "exim.pid")); err != nil || len(pid) == 0 {
		t.Errorf("exim.pid: %q, %v", pid, err)
	}
}

func TestEximConfigExtraOverrides(t *testing.T) {
	cfg := eximConfig("/d", EximOptions{DH: "dh768", Extra: "tls_dhparam = none\nsmtp_accept_max = 3\n"})
	if strings.Contains(cfg, "/d/dh.pem") || !strings.Contains(cfg, "\ntls_dhparam = none\n") ||
		!strings.Contains(cfg, "\nsmtp_accept_max = 3\n") || strings.Count(cfg, "tls_dhparam") != 1 {
		t.Errorf("Extra did not replace tls_dhparam:\n%s", cfg)
	}
}
