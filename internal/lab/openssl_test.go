package lab

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const veryWeak = "NORMAL:%PROFILE_VERY_WEAK"

// TestStartOpenSSLHandshakes proves with gnutls-cli and openssl s_client that
// the fixture really negotiates what the options ask for, weak DH included.
func TestStartOpenSSLHandshakes(t *testing.T) {
	Require(t, "gcc", "gnutls-cli", "openssl")
	noGroups := "-GROUP-FFDHE2048:-GROUP-FFDHE3072:-GROUP-FFDHE4096:-GROUP-FFDHE6144:-GROUP-FFDHE8192"
	for _, tc := range []struct {
		name    string
		opts    OpenSSLOptions
		gnutls  []string // gnutls-cli arguments
		want    []string // in gnutls-cli's output
		openssl []string // openssl s_client arguments; nil = not run
		wantSSL []string
	}{
		{
			name:   "dh512",
			opts:   OpenSSLOptions{DH: "dh512", Ciphers: "kDHE", MaxTLS: "1.2"},
			gnutls: []string{"--dh-bits=512", "--priority", veryWeak},
			want:   []string{"(TLS1.2-X.509)-(DHE-CUSTOM512)-(RSA-SHA256)", "RSA key 2048 bits", "Handshake was completed"},
		},
		{
			name:    "dh768",
			opts:    OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"},
			gnutls:  []string{"--priority", veryWeak},
			want:    []string{"(TLS1.2-X.509)-(DHE-CUSTOM768)-(RSA-SHA256)", "Handshake was completed"},
			openssl: []string{"-cipher", "kDHE:@SECLEVEL=0"},
			wantSSL: []string{"dh key too small"},
		},
		{
			name:   "dh768 refused by default gnutls",
			opts:   OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"},
			gnutls: []string{"--priority", "NORMAL"},
			want:   []string{"The Diffie-Hellman prime sent by the server is not acceptable (not long enough)"},
		},
		{
			name: "dh768 ignores ffdhe groups",
			opts: OpenSSLOptions{DH: "dh768", Ciphers: "kDHE"},
			// NORMAL offers FFDHE groups; OpenSSL sends its own prime anyway.
			gnutls: []string{"--priority", "NORMAL:-VERS-TLS1.3:%PROFILE_VERY_WEAK"},
			want:   []string{"(TLS1.2-X.509)-(DHE-CUSTOM768)"},
		},
		{
			name:   "dh1024 rsa1024",
			opts:   OpenSSLOptions{Cert: "rsa1024", DH: "dh1024", Ciphers: "kDHE", MaxTLS: "1.2"},
			gnutls: []string{"--priority", "NORMAL"},
			want:   []string{"(TLS1.2-X.509)-(DHE-CUSTOM1024)", "RSA key 1024 bits"},
			// OpenSSL's client accepts a 1024-bit prime and key at @SECLEVEL=0.
			openssl: []string{"-cipher", "kDHE:@SECLEVEL=0"},
			wantSSL: []string{"Server Temp Key: DH, 1024 bits", "Server public key is 1024 bit"},
		},
		{
			name:   "dsa1024 with DHE-DSS",
			opts:   OpenSSLOptions{Cert: "dsa1024", DH: "dh1024"},
			gnutls: []string{"--priority", "NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1:%PROFILE_VERY_WEAK"},
			want:   []string{"(TLS1.2-X.509)-(DHE-CUSTOM1024)-(DSA-", "DSA key 1024 bits"},
		},
		{
			name:   "dsa1024 refused by NORMAL",
			opts:   OpenSSLOptions{Cert: "dsa1024", DH: "dh1024"},
			gnutls: []string{"--priority", "NORMAL"},
			want:   []string{"Fatal error"},
		},
		{
			name:   "tls13 only",
			opts:   OpenSSLOptions{MinTLS: "1.3"},
			gnutls: []string{"--priority", "NORMAL"},
			want:   []string{"(TLS1.3-X.509)"},
		},
		{
			name:   "tls13 only refuses tls12 client",
			opts:   OpenSSLOptions{MinTLS: "1.3"},
			gnutls: []string{"--priority", "NORMAL:-VERS-TLS1.3"},
			want:   []string{"Fatal error", "protocol version"},
		},
		{
			name:   "tls12+13 weak dh: tls13 client",
			opts:   OpenSSLOptions{Cert: "rsa1024", DH: "dh768", Ciphers: "kDHE"},
			gnutls: []string{"--priority", "NORMAL"},
			want:   []string{"(TLS1.3-X.509)", "RSA key 1024 bits"},
		},
		{
			name:   "tls12+13 weak dh: tls12 client",
			opts:   OpenSSLOptions{Cert: "rsa1024", DH: "dh768", Ciphers: "kDHE"},
			gnutls: []string{"--priority", "NORMAL:-VERS-TLS1.3:" + noGroups + ":%PROFILE_VERY_WEAK"},
			want:   []string{"(TLS1.2-X.509)-(DHE-CUSTOM768)"},
		},
		{
			name:    "ecp256 default",
			opts:    OpenSSLOptions{Cert: "ecp256"},
			gnutls:  []string{"--priority", "NORMAL:-VERS-TLS1.3"},
			want:    []string{"(TLS1.2-X.509)-(ECDHE-", "EC/ECDSA key 256 bits"},
			openssl: []string{},
			wantSSL: []string{"Server public key is 256 bit", "TLSv1.3"},
		},
		{
			name:   "tls10 max",
			opts:   OpenSSLOptions{MaxTLS: "1.0"},
			gnutls: []string{"--priority", "NORMAL:+VERS-TLS1.0:%PROFILE_VERY_WEAK"},
			want:   []string{"(TLS1.0-X.509)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StartOpenSSL(t, tc.opts)
			wantContains(t, "gnutls-cli", gnutlsCLI(t, s.Addr, tc.gnutls...), tc.want...)
			if tc.openssl != nil {
				wantContains(t, "openssl s_client", opensslClient(t, s.Addr, tc.openssl...), tc.wantSSL...)
			}
		})
	}
}

// TestStartOpenSSLDialogue checks the SMTP side: banners, delay, STARTTLS
// advertised or not, refused.
func TestStartOpenSSLDialogue(t *testing.T) {
	Require(t, "gcc")
	t.Run("default", func(t *testing.T) {
		c := dialSMTP(t, StartOpenSSL(t, OpenSSLOptions{}).Addr)
		if got := c.reply(); !slices.Equal(got, []string{"220 mx.test ESMTP smtptls"}) {
			t.Errorf("banner %q", got)
		}
		ehlo := c.cmd("EHLO client.test")
		if ehlo[0] != "250-mx.test hello 127.0.0.1:"+strings.Split(c.c.LocalAddr().String(), ":")[1] || !slices.Contains(ehlo, "250-STARTTLS") {
			t.Errorf("EHLO reply %q", ehlo)
		}
		if got := c.cmd("STARTTLS"); got[0] != "220 2.0.0 ready to start TLS" {
			t.Errorf("STARTTLS reply %q", got)
		}
	})
	t.Run("no starttls", func(t *testing.T) {
		c := dialSMTP(t, StartOpenSSL(t, OpenSSLOptions{NoSTARTTLS: true}).Addr)
		c.reply()
		if ehlo := c.cmd("EHLO client.test"); slices.ContainsFunc(ehlo, func(l string) bool { return strings.Contains(l, "STARTTLS") }) {
			t.Errorf("EHLO advertises STARTTLS: %q", ehlo)
		}
		if got := c.cmd("STARTTLS"); !strings.HasPrefix(got[0], "502 ") {
			t.Errorf("STARTTLS reply %q", got)
		}
	})
	t.Run("starttls refused", func(t *testing.T) {
		c := dialSMTP(t, StartOpenSSL(t, OpenSSLOptions{StartTLSReply: "454 4.7.0 TLS not available"}).Addr)
		c.reply()
		c.cmd("EHLO client.test")
		if got := c.cmd("STARTTLS"); !slices.Equal(got, []string{"454 4.7.0 TLS not available"}) {
			t.Errorf("STARTTLS reply %q", got)
		}
		if got := c.cmd("QUIT"); !strings.HasPrefix(got[0], "221 ") {
			t.Errorf("QUIT reply %q", got)
		}
	})
	t.Run("multi-line delayed banner", func(t *testing.T) {
		banner := []string{"220-mx.test slow server", "220-second line", "220 mx.test ESMTP"}
		delay := 1500 * time.Millisecond
		s := StartOpenSSL(t, OpenSSLOptions{Banner: banner, BannerDelay: delay})
		start := time.Now()
		c := dialSMTP(t, s.Addr)
		if got := c.reply(); !slices.Equal(got, banner) {
			t.Errorf("banner %q, want %q", got, banner)
		}
		if waited := time.Since(start); waited < delay {
			t.Errorf("banner after %v, want at least %v", waited, delay)
		}
	})
	t.Run("rejecting banner", func(t *testing.T) {
		c := dialSMTP(t, StartOpenSSL(t, OpenSSLOptions{Banner: []string{"554 5.3.2 mx.test no service"}}).Addr)
		c.reply()
		if got := c.cmd("EHLO client.test"); !strings.HasPrefix(got[0], "503 ") {
			t.Errorf("EHLO after 554 banner: %q", got)
		}
	})
}
