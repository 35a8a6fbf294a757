package lookupd

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestDecideOpenSSL: with probe.client = "openssl" the answer names the
// transport that gets TLS at every address of the domain (the rule is
// lookupd/verdict's; the real servers prove the facts in lookupd/probe and
// the routing in internal/e2e); a reload of openssl_seclevel flips answers
// with no probe; overrides answer their list's word.
func TestDecideOpenSSL(t *testing.T) {
	dhe := func(bits int, n probe.NoDHE) probe.Facts {
		f := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", Cipher: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", KeyType: "RSA", KeyBits: 2048, DHBits: bits, NoDHE: n}
		if n == probe.NoDHEOK {
			f.NoDHECipher = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
		}
		return f
	}
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{
		netip.MustParseAddr("192.0.2.10"): dhe(1024, probe.NoDHERefused), // seclevel1
		netip.MustParseAddr("192.0.2.11"): dhe(768, probe.NoDHEOK),       // nodhe
		netip.MustParseAddr("192.0.2.12"): dhe(768, probe.NoDHERefused),  // no TLS possible
		netip.MustParseAddr("192.0.2.13"): dhe(2048, probe.NoDHERefused), // fine at level 2, nodhe breaks it
		netip.MustParseAddr("192.0.2.14"): dhe(1024, probe.NoDHEOK),      // nodhe or seclevel1
	}}
	dns := &fakeDNS{
		mx: map[string][]string{
			"dh1024.test": {"mx.dh1024.test"}, "ecdhe.test": {"mx.ecdhe.test"}, "dead.test": {"mx.dead.test"},
			"modern.test": {"mx.modern.test"}, "mixed.test": {"mx.modern.test", "mx.ecdhe.test"},
			"both.test": {"mx.dh2048.test", "mx.dh1024e.test"}, "split.test": {"mx.ecdhe.test", "mx.dh1024.test"},
			"listed.test": {"mx.modern.test"},
		},
		addrs: map[string][]netip.Addr{
			"mx.dh1024.test": addrs("192.0.2.10"), "mx.ecdhe.test": addrs("192.0.2.11"), "mx.dead.test": addrs("192.0.2.12"),
			"mx.modern.test": addrs("192.0.2.20"), "mx.dh2048.test": addrs("192.0.2.13"), "mx.dh1024e.test": addrs("192.0.2.14"),
		},
	}
	s := fakeService(t, dns, p, func(c *config.Config) { c.Probe.Client = tlswire.ClientOpenSSL })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		domain string
		want   verdict.Verdict
		note   string
	}{
		{"dh1024.test", verdict.SecLevel1, ""},
		{"ecdhe.test", verdict.NoDHE, ""},
		{"dead.test", verdict.None, ""},
		{"modern.test", verdict.None, ""},
		{"mixed.test", verdict.NoDHE, ""},
		{"both.test", verdict.SecLevel1, ""}, // nodhe would cost the DHE-only 2048-bit server its TLS
		{"split.test", verdict.NoDHE, "no one transport gets TLS at every address"},
		{"listed.test", verdict.SmallKey, ""}, // [overrides] smallkey: the list's word
	} {
		d := s.Decide(ctx, tc.domain)
		if d.Verdict != tc.want || !strings.Contains(d.Note, tc.note) {
			t.Errorf("%s: %q (note %q), want %q (note %q)", tc.domain, d.Verdict, d.Note, tc.want, tc.note)
		}
		if got := string(s.Handle(ctx, socket.Request{Verb: socket.VerbDomain, Arg: tc.domain})); got != tc.want.String() {
			t.Errorf("%s: the socket answers %q, want %q", tc.domain, got, tc.want)
		}
	}
	d := s.Decide(ctx, "dead.test")
	if a := d.MX[0].Addrs[0]; !a.NoTLS || !strings.Contains(a.Reason, "no TLS possible from this client") {
		t.Errorf("dead.test explains %+v; want no TLS possible", a)
	}

	// Level 1 (an OpenSSL whose default admits 1024-bit primes): the same
	// facts, other answers, no probe.
	before := len(p.probes)
	ncfg := *s.st.Load().Config
	ncfg.Probe.OpenSSLSecLevel = 1
	if err := s.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]verdict.Verdict{"dh1024.test": verdict.None, "ecdhe.test": verdict.NoDHE, "both.test": verdict.None} {
		if d := s.Decide(ctx, domain); d.Verdict != want {
			t.Errorf("at level 1: %s: %q, want %q", domain, d.Verdict, want)
		}
	}
	if len(p.probes) != before {
		t.Errorf("the reload probed")
	}
	if st := s.Stats(); st.Answers.SecLevel1 == 0 || st.Answers.NoDHE == 0 {
		t.Errorf("stats count no nodhe or seclevel1 answer: %+v", st.Answers)
	}
	l, err := s.List(socket.ListNoDHE)
	if err != nil || len(l.Domains) == 0 {
		t.Errorf("list nodhe: %+v, %v", l, err)
	}
	for _, ld := range l.Domains {
		if ld.Verdict != verdict.NoDHE {
			t.Errorf("list nodhe holds %+v", ld)
		}
	}
}
