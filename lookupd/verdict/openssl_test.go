package verdict

import (
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

func dhe(bits int, noDHE probe.NoDHE) *probe.Facts {
	return &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, DHBits: bits, NoDHE: noDHE, NoDHECipher: map[probe.NoDHE]string{probe.NoDHEOK: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}[noDHE]}
}

// TestOpenSSLJudge holds the openssl rule against the measured behaviour of
// Exim 4.96 on OpenSSL 3.0 (docs/design.md section 7) at level 2, and the
// floors of the other levels.
func TestOpenSSLJudge(t *testing.T) {
	level2 := Policy{Client: ClientOpenSSL, SecLevel: 2}
	for _, tc := range []struct {
		name   string
		pol    Policy
		f      *probe.Facts
		want   Verdict
		works  Transports
		noTLS  bool
		reason string
	}{
		{"dh1024 dhe-only: SECLEVEL=1 admits it", level2, dhe(1024, probe.NoDHERefused), SecLevel1, ViaSecLv1 | ViaSecLv0, false, "remote_smtp_openssl_seclevel1"},
		{"dh1024 with ecdhe: nodhe keeps the level", level2, dhe(1024, probe.NoDHEOK), NoDHE, ViaNoDHE | ViaSecLv1 | ViaSecLv0, false, "without DHE it negotiates TLS_ECDHE_RSA"},
		{"dh768 with ecdhe: only nodhe", level2, dhe(768, probe.NoDHEOK), NoDHE, ViaNoDHE, false, "remote_smtp_openssl_nodhe"},
		{"dh768 dhe-only: no TLS possible", level2, dhe(768, probe.NoDHERefused), None, 0, true, "no TLS possible from this client"},
		{"dh1023 fails like 768", level2, dhe(1023, probe.NoDHERefused), None, 0, true, "no TLS possible"},
		{"dh2048 dhe-only: fine at level 2", level2, dhe(2048, probe.NoDHERefused), None, Plain | ViaSecLv1 | ViaSecLv0, false, "remote_smtp gets TLS"},
		{"dh2048 at level 3: under 3072", Policy{Client: ClientOpenSSL, SecLevel: 3}, dhe(2048, probe.NoDHERefused), SecLevel1, ViaSecLv1 | ViaSecLv0, false, "under the 3072 bits of OpenSSL's security level 3"},
		{"dh1024 at level 1: fine", Policy{Client: ClientOpenSSL, SecLevel: 1}, dhe(1024, probe.NoDHERefused), None, Plain | ViaSecLv1 | ViaSecLv0, false, "remote_smtp gets TLS"},
		{"dh768 at level 0: still refused", Policy{Client: ClientOpenSSL}, dhe(768, probe.NoDHERefused), None, 0, true, "no TLS possible"},
		{"tls13 saves a weak prime", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, DHBits: 768, TLS13: true}, None, allTransports, false, "TLS 1.3"},
		{"ecdhe", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, None, allTransports, false, "remote_smtp gets TLS"},
		{"rsa1024 does not change the answer", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 1024, TLS13: true}, None, allTransports, false, "does not stop an OpenSSL Exim"},
		{"dsa-only: cannot negotiate", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.Error, Stage: stage.Negotiate, Error: "the openssl client cannot negotiate with this server", KeyType: "DSA", KeyBits: 1024, TLSVersion: "TLS1.2", Cipher: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", DHBits: 2048}, SecLevel0, ViaSecLv0, false, "remote_smtp_openssl_seclevel0 (tls_require_ciphers = ALL:@SECLEVEL=0) gets TLS"},
		{"dsa-only with a 768-bit prime: nothing", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.Error, Stage: stage.Negotiate, Error: "the openssl client cannot negotiate with this server", KeyType: "DSA", KeyBits: 1024, DHBits: 768}, None, 0, true, "no TLS possible from the openssl client"},
		{"rsa server it cannot negotiate with: nothing", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.Error, Stage: stage.Negotiate, Error: "the openssl client cannot negotiate with this server", KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2"}, None, 0, true, "no TLS possible from the openssl client"},
		{"tls1.0-only ecdhe: level 0", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0", Cipher: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}, SecLevel0, ViaSecLv0, false, "it speaks TLS1.0 at most, which OpenSSL 3 refuses"},
		// RSA key exchange: no ServerKeyExchange signature for OpenSSL to
		// refuse (measured: remote_smtp at level 2 gets X=TLS1:AES256-SHA
		// from a TLS 1.0-only server, TestRemediesEverySender).
		{"tls1.0-only rsa kx: remote_smtp at level 2", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0", Cipher: "TLS_RSA_WITH_AES_256_CBC_SHA"}, None, allTransports, false, "remote_smtp gets TLS from the openssl client at security level 2 (TLS1.0 with TLS_RSA_WITH_AES_256_CBC_SHA"},
		{"tls1.1-only rsa kx: remote_smtp at level 2", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.1", Cipher: "TLS_RSA_WITH_AES_128_CBC_SHA"}, None, allTransports, false, "remote_smtp gets TLS"},
		{"tls1.0-only rsa kx at level 3: seclevel1", Policy{Client: ClientOpenSSL, SecLevel: 3}, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0", Cipher: "TLS_RSA_WITH_AES_256_CBC_SHA"}, SecLevel1, ViaSecLv1 | ViaSecLv0, false, "OpenSSL's security level 3 refuses; remote_smtp_openssl_seclevel1"},
		{"tls1.0-only with dh768: nothing", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0", DHBits: 768}, None, 0, true, "no TLS possible"},
		{"sha1 ske signature: level 0", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2", SigHash: "SHA1", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, SecLevel0, ViaSecLv0, false, "signs its key exchange with SHA1"},
		{"sha256 ske signature: fine", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2", SigHash: "SHA256", Cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, None, allTransports, false, "remote_smtp gets TLS"},
		{"tls1.0 but tls13 too: fine", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.0", TLS13: true}, None, allTransports, false, "remote_smtp gets TLS"},
		{"report: dh too small", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.Error, Stage: stage.Negotiate, Reported: probe.ReportedDHTooSmall, Error: "dh key too small"}, NoDHE, allTransports &^ Plain, false, "refused the server's DH prime"},
		{"no starttls", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.NoTLS, Error: "no STARTTLS"}, None, 0, false, "does not offer STARTTLS"},
		{"connect error", level2, &probe.Facts{Client: ClientOpenSSL, Outcome: probe.Error, Stage: stage.Connect, Error: "refused"}, None, 0, false, "could not be probed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.pol.Judge(tc.f)
			if j.Verdict != tc.want || j.Works != tc.works || j.NoTLS != tc.noTLS {
				t.Errorf("Judge = %+v, want verdict %q works %b noTLS %v", j, tc.want, tc.works, tc.noTLS)
			}
			if r := tc.pol.Reason(tc.f); !strings.Contains(r, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", r, tc.reason)
			}
			if got, want := tc.pol.PredictsFailure(tc.f), tc.f.Outcome == probe.OK && !j.Works.Has(Plain) || tc.f.Stage == stage.Negotiate && tc.f.Reported == probe.ReportedNone; got != want {
				t.Errorf("PredictsFailure = %v, want %v", got, want)
			}
		})
	}
}

func TestDHFloor(t *testing.T) {
	for level, want := range []int{1024, 1024, 2048, 3072, 7680, 15360} {
		if got := DHFloor(level); got != want {
			t.Errorf("DHFloor(%d) = %d, want %d", level, got, want)
		}
	}
}
