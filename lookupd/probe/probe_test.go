package probe_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// probeServer probes a lab server the way the daemon would, at its address
// and port.
func probeServer(t *testing.T, s *lab.Server, o probe.Options) probe.Facts {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	o.HELO = "probe.test"
	f := probe.Addr(context.Background(), s.Addr, o)
	if f.Addr != s.Addr {
		t.Errorf("facts of %v, want %v", f.Addr, s.Addr)
	}
	return f
}

// want is what a probe should observe, and the verdict its facts should
// get under pol (the zero Policy is Exim's defaults).
type want struct {
	pol     verdict.Policy
	verdict verdict.Verdict
	outcome probe.Outcome
	keyType string
	keyBits int
	dhBits  int
	tls13   bool
	stage   stage.Stage
	note    string // a substring of Note
	noDHE   probe.NoDHE
	noTLS   bool // the policy finds no transport that gets TLS
}

func check(t *testing.T, r probe.Facts, w want) {
	t.Helper()
	t.Logf("facts: %+v", r)
	t.Logf("reason: %s", w.pol.Reason(&r))
	if r.Outcome != w.outcome {
		t.Errorf("outcome %q, want %q (stage %q, error %q)", r.Outcome, w.outcome, r.Stage, r.Error)
	}
	if j := w.pol.Judge(&r); j.Verdict != w.verdict || j.NoTLS != w.noTLS {
		t.Errorf("verdict %q (no TLS possible: %v) under %+v, want %q (%v)", j.Verdict, j.NoTLS, w.pol, w.verdict, w.noTLS)
	}
	if r.NoDHE != w.noDHE {
		t.Errorf("NoDHE %q, want %q", r.NoDHE, w.noDHE)
	}
	if r.NoDHE == probe.NoDHEOK && !strings.Contains(r.NoDHECipher, "ECDHE") {
		t.Errorf("NoDHECipher %q, want an ECDHE suite", r.NoDHECipher)
	}
	if w.keyType != "" && (r.KeyType != w.keyType || r.KeyBits != w.keyBits) {
		t.Errorf("key %s-%d, want %s-%d", r.KeyType, r.KeyBits, w.keyType, w.keyBits)
	}
	if r.DHBits != w.dhBits {
		t.Errorf("DH bits %d, want %d", r.DHBits, w.dhBits)
	}
	if r.TLS13 != w.tls13 {
		t.Errorf("TLS13 %v, want %v", r.TLS13, w.tls13)
	}
	if w.stage != "" && r.Stage != w.stage {
		t.Errorf("stage %q, want %q", r.Stage, w.stage)
	}
	if w.note != "" && !strings.Contains(r.Note, w.note) {
		t.Errorf("note %q, want it to contain %q", r.Note, w.note)
	}
	if r.Client == "" || r.Duration <= 0 || r.Time.IsZero() {
		t.Errorf("client %q, duration %v, time %v: want them set", r.Client, r.Duration, r.Time)
	}
}

// TestProbeOpenSSL runs the probe against the real OpenSSL 3 fixture in
// each TLS configuration the project must classify.
func TestProbeOpenSSL(t *testing.T) {
	lab.Require(t, "gcc")
	opensslL2 := verdict.Policy{Client: "openssl", SecLevel: 2}
	dhe12 := func(cert, dh string) lab.OpenSSLOptions {
		return lab.OpenSSLOptions{Cert: cert, DH: dh, Ciphers: "kDHE", MaxTLS: "1.2"}
	}
	for _, tc := range []struct {
		name   string
		server lab.OpenSSLOptions
		opts   probe.Options
		want   want
	}{
		{"dhe512", dhe12("rsa2048", "dh512"), probe.Options{}, want{outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 512}},
		{"dhe768", dhe12("rsa2048", "dh768"), probe.Options{}, want{outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 768}},
		{"dhe768-openssl-client", dhe12("rsa2048", "dh768"), probe.Options{Client: "openssl"}, want{outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 768, noDHE: probe.NoDHERefused}},
		// The openssl client (an OpenSSL 3 Exim at security level 2): a
		// DHE-only server with a prime under 1024 bits cannot be reached
		// over TLS at all; one that prefers its weak DHE but has ECDHE is
		// reached without DHE; a 1024-bit prime at SECLEVEL=1.
		{"openssl-dhe768-only", dhe12("rsa2048", "dh768"), probe.Options{Client: "openssl"}, want{pol: opensslL2, outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 768, noDHE: probe.NoDHERefused, noTLS: true}},
		{"openssl-dhe768-prefers-dhe-has-ecdhe", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE:kECDHE", ServerPreference: true, MaxTLS: "1.2"}, probe.Options{Client: "openssl"},
			want{pol: opensslL2, outcome: probe.OK, verdict: verdict.NoDHE, keyType: "RSA", keyBits: 2048, dhBits: 768, noDHE: probe.NoDHEOK}},
		{"openssl-dhe1024-only", dhe12("rsa2048", "dh1024"), probe.Options{Client: "openssl"}, want{pol: opensslL2, outcome: probe.OK, verdict: verdict.SecLevel1, keyType: "RSA", keyBits: 2048, dhBits: 1024, noDHE: probe.NoDHERefused}},
		{"openssl-dhe1024-level1", dhe12("rsa2048", "dh1024"), probe.Options{Client: "openssl"}, want{pol: verdict.Policy{Client: "openssl", SecLevel: 1}, outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 1024, noDHE: probe.NoDHERefused}},
		{"openssl-dhe2048-only", dhe12("rsa2048", "dh2048"), probe.Options{Client: "openssl"}, want{pol: opensslL2, outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 2048, noDHE: probe.NoDHERefused}},
		{"openssl-ecdhe", lab.OpenSSLOptions{Cert: "rsa2048", MaxTLS: "1.2"}, probe.Options{Client: "openssl"}, want{pol: opensslL2, outcome: probe.OK, keyType: "RSA", keyBits: 2048}},
		{"openssl-rsa1024-tls13", lab.OpenSSLOptions{Cert: "rsa1024"}, probe.Options{Client: "openssl"}, want{pol: opensslL2, outcome: probe.OK, keyType: "RSA", keyBits: 1024, tls13: true}},
		{"openssl-dsa1024", lab.OpenSSLOptions{Cert: "dsa1024", DH: "dh1024", MaxTLS: "1.2"}, probe.Options{Client: "openssl"},
			want{pol: opensslL2, outcome: probe.Error, stage: stage.Negotiate, keyType: "DSA", keyBits: 1024, dhBits: 1024, verdict: verdict.SecLevel0, note: "cannot negotiate"}}, // issue 19: level 0 reaches it
		{"dhe1024", dhe12("rsa2048", "dh1024"), probe.Options{}, want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 1024}},
		{"dhe768-dh-min-512", dhe12("rsa2048", "dh768"), probe.Options{}, want{pol: verdict.Policy{DHMinBits: 512}, outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 768}},
		{"rsa1024", dhe12("rsa1024", "dh2048"), probe.Options{}, want{outcome: probe.OK, verdict: verdict.SmallKey, keyType: "RSA", keyBits: 1024, dhBits: 2048}},
		{"rsa1024-and-dhe768", dhe12("rsa1024", "dh768"), probe.Options{}, want{outcome: probe.OK, verdict: verdict.SmallKey, keyType: "RSA", keyBits: 1024, dhBits: 768}},
		{"rsa2048-ecdhe", lab.OpenSSLOptions{Cert: "rsa2048", MaxTLS: "1.2"}, probe.Options{}, want{outcome: probe.OK, keyType: "RSA", keyBits: 2048}},
		{"ecp256", lab.OpenSSLOptions{Cert: "ecp256", MaxTLS: "1.2"}, probe.Options{}, want{outcome: probe.OK, keyType: "ECDSA", keyBits: 256}},
		{"dsa1024", lab.OpenSSLOptions{Cert: "dsa1024", DH: "dh1024", MaxTLS: "1.2"}, probe.Options{},
			want{outcome: probe.Error, verdict: verdict.SmallKey, stage: stage.Negotiate, keyType: "DSA", keyBits: 1024, dhBits: 1024, note: "cannot negotiate"}},
		// A server that speaks TLS 1.3 is fine for Exim even though it sends
		// 768 bits to TLS 1.2-only clients: one clean TLS 1.3 session, and
		// the prime is not looked at (KXUnobserved). A policy that models a
		// client without TLS 1.3 probes with Options.NoTLS13 (tlsprobed
		// does), which reads the prime.
		{"tls13-with-dhe768", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE"}, probe.Options{},
			want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true}},
		{"tls13-with-dhe768-openssl-client", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE"}, probe.Options{Client: "openssl"},
			want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true}},
		{"tls13-with-dhe768-no-tls13", lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE"}, probe.Options{NoTLS13: true},
			want{pol: verdict.Policy{NoTLS13: true}, outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 768, tls13: true}},
		{"tls13-only-rsa1024", lab.OpenSSLOptions{Cert: "rsa1024", MinTLS: "1.3"}, probe.Options{},
			want{outcome: probe.OK, verdict: verdict.SmallKey, keyType: "RSA", keyBits: 1024, tls13: true, note: "TLS 1.3 session completed"}},
		{"tls13-only-ecp256", lab.OpenSSLOptions{Cert: "ecp256", MinTLS: "1.3"}, probe.Options{},
			want{outcome: probe.OK, keyType: "ECDSA", keyBits: 256, tls13: true}},
		{"tls13-only-no-tls13-client", lab.OpenSSLOptions{Cert: "rsa2048", MinTLS: "1.3"}, probe.Options{NoTLS13: true},
			want{pol: verdict.Policy{NoTLS13: true}, outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true, note: "certificate read over TLS 1.3"}},
		{"multiline-banner", lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2",
			Banner: []string{"220-mx.test first line", "220-second line", "220 mx.test ESMTP"}},
			probe.Options{}, want{outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 768}},
		{"no-starttls", lab.OpenSSLOptions{NoSTARTTLS: true}, probe.Options{}, want{outcome: probe.NoTLS, stage: "ehlo"}},
		{"starttls-454", lab.OpenSSLOptions{StartTLSReply: "454 4.7.0 TLS not available due to local problem"}, probe.Options{},
			want{outcome: probe.NoTLS, stage: "starttls"}},
		{"banner-421", lab.OpenSSLOptions{Banner: []string{"421 4.3.2 mx.test busy, try later"}}, probe.Options{},
			want{outcome: probe.Error, stage: "banner"}},
		{"banner-554", lab.OpenSSLOptions{Banner: []string{"554-mx.test no SMTP service here", "554 go away"}}, probe.Options{},
			want{outcome: probe.Error, stage: "banner"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := lab.StartOpenSSL(t, tc.server)
			check(t, probeServer(t, s, tc.opts), tc.want)
		})
	}
}

// TestProbeExim runs the probe against the real Exim (GnuTLS) server.
func TestProbeExim(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server lab.EximOptions
		opts   probe.Options
		want   want
	}{
		// Exim speaks TLS 1.3: its TLS 1.2 answer carries the RFC 8446
		// downgrade marker, so one connection tells that too.
		{"modern", lab.EximOptions{}, probe.Options{}, want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true, note: "TLS 1.3 session completed"}},
		{"modern-no-tls13", lab.EximOptions{}, probe.Options{}, want{pol: verdict.Policy{NoTLS13: true}, outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true}},
		{"rsa1024", lab.EximOptions{Cert: "rsa1024"}, probe.Options{}, want{outcome: probe.OK, verdict: verdict.SmallKey, keyType: "RSA", keyBits: 1024, tls13: true}},
		{"ecp256", lab.EximOptions{Cert: "ecp256"}, probe.Options{}, want{outcome: probe.OK, keyType: "ECDSA", keyBits: 256, tls13: true}},
		// GnuTLS answers the FFDHE groups of the hello with ffdhe2048
		// whatever its 768-bit dhparam file says: not tlsexport.
		{"gnutls-dh768-ffdhe", lab.EximOptions{DH: "dh768", Extra: "tls_require_ciphers = NORMAL:-ECDHE-RSA:-ECDHE-ECDSA:-RSA:-VERS-TLS1.3"},
			probe.Options{}, want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, dhBits: 2048}},
		{"multiline-banner", lab.EximOptions{Banner: "$smtp_active_hostname ESMTP first line\nsecond line\nthird line"}, probe.Options{},
			want{outcome: probe.OK, keyType: "RSA", keyBits: 2048, tls13: true}},
		{"no-starttls", lab.EximOptions{NoSTARTTLS: true}, probe.Options{}, want{outcome: probe.NoTLS, stage: "ehlo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := lab.StartExim(t, tc.server)
			check(t, probeServer(t, s, tc.opts), tc.want)
		})
	}
}

// TestProbeSlowBanner: a banner that comes after seconds is waited for
// within the timeout.
func TestProbeSlowBanner(t *testing.T) {
	lab.Require(t, "gcc")
	t.Parallel()
	s := lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2", BannerDelay: 3 * time.Second})
	r := probeServer(t, s, probe.Options{})
	check(t, r, want{outcome: probe.OK, verdict: verdict.TLSExport, keyType: "RSA", keyBits: 2048, dhBits: 768})
	if r.Duration < 3*time.Second {
		t.Errorf("duration %v, want at least the 3 s banner delay", r.Duration)
	}
}

// silentServer accepts connections and never writes; it counts them.
func silentServer(t *testing.T) (netip.AddrPort, *atomic.Int32) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String()), &n
}

// TestProbeSilentServer: a server that never answers costs at most the
// probe timeout.
func TestProbeSilentServer(t *testing.T) {
	t.Parallel()
	ap, n := silentServer(t)
	start := time.Now()
	r := probe.Addr(context.Background(), ap, probe.Options{Timeout: 2 * time.Second})
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("probe took %v with a 2 s timeout", took)
	}
	if r.Outcome != probe.Error || r.Stage != "banner" {
		t.Errorf("outcome %q stage %q (%s), want error at banner", r.Outcome, r.Stage, r.Error)
	}
	if n.Load() != 1 {
		t.Errorf("%d connections, want 1", n.Load())
	}
}

// TestProbeIgnoredNetworks: no connection to an ignored address, given as
// itself or IPv4-mapped.
func TestProbeIgnoredNetworks(t *testing.T) {
	t.Parallel()
	ap, n := silentServer(t)
	o := probe.Options{Timeout: 2 * time.Second,
		Ignore: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}}
	for _, a := range []netip.AddrPort{ap, netip.MustParseAddrPort("10.1.2.3:25"), netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())} {
		r := probe.Addr(context.Background(), a, o)
		if r.Outcome != probe.Error || r.Stage != stage.Address || !strings.Contains(r.Error, "ignored network") {
			t.Errorf("%v: got %q at %q (%s), want error at address", a, r.Outcome, r.Stage, r.Error)
		}
	}
	if n.Load() != 0 {
		t.Errorf("%d connections to an ignored address", n.Load())
	}
}

// TestProbeRefused: nothing listens: an error at connect, quickly.
func TestProbeRefused(t *testing.T) {
	t.Parallel()
	// Nothing listens on 127.0.0.9 at port 9 (discard, never served here).
	r := probe.Addr(context.Background(), netip.MustParseAddrPort("127.0.0.9:9"), probe.Options{Timeout: 10 * time.Second})
	if r.Outcome != probe.Error || r.Stage != stage.Connect || r.Addr.String() != "127.0.0.9:9" {
		t.Errorf("got %q at %q from %v (%s), want error at connect", r.Outcome, r.Stage, r.Addr, r.Error)
	}
}
