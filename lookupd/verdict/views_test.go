package verdict

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

var lbAddr = netip.MustParseAddrPort("192.0.2.40:25")

func modern(client tlswire.Client) probe.Facts {
	return probe.Facts{Addr: lbAddr, Client: client, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.3", TLS13: true}
}

func weak(client tlswire.Client, noDHE probe.NoDHE) probe.Facts {
	return probe.Facts{Addr: lbAddr, Client: client, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2", DHBits: 768, NoDHE: noDHE}
}

// TestViews: every view of an address counts like an address of its own,
// whichever view is the newest (a balancer in front of a modern and a
// DHE-768 backend).
func TestViews(t *testing.T) {
	gnutls := Policy{}
	level2 := Policy{Client: ClientOpenSSL, SecLevel: 2}
	withAlso := func(f probe.Facts, also ...probe.Facts) *probe.Facts { f.Also = also; return &f }
	for _, tc := range []struct {
		name    string
		pol     Policy
		f       *probe.Facts
		want    Verdict
		noTLS   bool
		reason  string
		predict bool
	}{
		{"gnutls: modern alone", gnutls, withAlso(modern("gnutls")), None, false, "no weak DH", false},
		{"gnutls: modern now, weak seen", gnutls, withAlso(modern("gnutls"), weak("gnutls", "")), TLSExport, false, "also seen there", true},
		{"gnutls: weak now, modern seen", gnutls, withAlso(weak("gnutls", ""), modern("gnutls")), TLSExport, false, "768-bit DH prime", true},
		{"gnutls: modern now, reported dh failure", gnutls, withAlso(modern("gnutls"), probe.Facts{Addr: lbAddr, Client: "gnutls", Outcome: probe.Error, Stage: stage.Negotiate, Reported: probe.ReportedDHTooSmall, Error: "The Diffie-Hellman prime sent by the server is not acceptable (not long enough)."}), TLSExport, false, "refused the server's DH prime", false},
		{"openssl: modern now, weak with ecdhe seen", level2, withAlso(modern("openssl"), weak("openssl", probe.NoDHEOK)), NoDHE, false, "also seen there", true},
		{"openssl: modern now, weak dhe-only seen: no TLS there", level2, withAlso(modern("openssl"), weak("openssl", probe.NoDHERefused)), None, false, "no TLS possible", true},
		{"openssl: modern now, reported dh failure", level2, withAlso(modern("openssl"), probe.Facts{Addr: lbAddr, Client: "openssl", Outcome: probe.Error, Stage: stage.Negotiate, Reported: probe.ReportedDHTooSmall, Error: "dh key too small"}), NoDHE, false, "dh key too small", false},
		{"openssl: tls1.0 seen and dh1024", level2, withAlso(probe.Facts{Addr: lbAddr, Client: "openssl", Outcome: probe.OK, TLSVersion: "TLS1.0"}, *dhe(1024, probe.NoDHERefused)), SecLevel0, false, "TLS1.0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.pol.Judge(tc.f)
			if j.Verdict != tc.want || j.NoTLS != tc.noTLS {
				t.Errorf("Judge = %+v, want %q noTLS %v", j, tc.want, tc.noTLS)
			}
			if got := tc.pol.Of(tc.f); got != tc.want {
				t.Errorf("Of = %q, want %q", got, tc.want)
			}
			if r := tc.pol.Reason(tc.f); !strings.Contains(r, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", r, tc.reason)
			}
			if got := tc.pol.PredictsFailure(tc.f); got != tc.predict {
				t.Errorf("PredictsFailure = %v, want %v", got, tc.predict)
			}
		})
	}
}

// TestGnuTLSDSA: a DSA-only server (the gnutls client cannot negotiate, the
// certificate was read with every suite) is smallkey whatever its key size:
// the smallkey transport carries NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1.
func TestGnuTLSDSA(t *testing.T) {
	for _, bits := range []int{1024, 2048, 3072} {
		f := &probe.Facts{Addr: lbAddr, Client: "gnutls", Outcome: probe.Error, Stage: stage.Negotiate, Error: "the gnutls client cannot negotiate with this server", KeyType: "DSA", KeyBits: bits, DHBits: 2048}
		if got := (Policy{}).Of(f); got != SmallKey {
			t.Errorf("DSA-%d: Of = %q, want smallkey", bits, got)
		}
		if r := (Policy{}).Reason(f); !strings.Contains(r, "NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1") {
			t.Errorf("DSA-%d: Reason = %q, want it to name the transport's priority", bits, r)
		}
	}
}

// TestSecLevel0Last: level 0 is chosen only where nothing stronger gets TLS
// at every address.
func TestSecLevel0Last(t *testing.T) {
	level2 := Policy{Client: ClientOpenSSL, SecLevel: 2}
	tls10 := &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0"}
	for _, tc := range []struct {
		name  string
		addrs []*probe.Facts
		want  Verdict
	}{
		{"dh1024 alone", []*probe.Facts{dhe(1024, probe.NoDHERefused)}, SecLevel1},
		{"dh1024 and tls1.0", []*probe.Facts{dhe(1024, probe.NoDHERefused), tls10}, SecLevel0},
		{"modern and tls1.0", []*probe.Facts{dhe(0, ""), tls10}, SecLevel0},
		{"modern alone", []*probe.Facts{dhe(0, "")}, None},
	} {
		var tl Tally
		for _, f := range tc.addrs {
			tl.Add(level2.Judge(f))
		}
		if got := tl.Verdict(); got != tc.want {
			t.Errorf("%s: Tally = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseSecLevel0(t *testing.T) {
	for v := Verdict(0); int(v) < Count; v++ {
		p, err := Parse(v.String())
		if err != nil || p != v {
			t.Errorf("Parse(%q) = %v, %v", v.String(), p, err)
		}
	}
}
