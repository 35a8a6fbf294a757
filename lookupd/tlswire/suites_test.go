package tlswire

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestCipherSuiteName(t *testing.T) {
	for id, want := range map[uint16]string{
		0x009e: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
		0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		0x1301: "TLS_AES_128_GCM_SHA256",
		0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
		0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
		0xfefe: "0xFEFE",
		0x0000: "0x0000",
	} {
		if got := CipherSuiteName(id); got != want {
			t.Errorf("CipherSuiteName(0x%04x) = %q, want %q", id, got, want)
		}
	}
}

// TestSuiteTableAgreesWithGo checks our names and key exchanges against
// crypto/tls's own list wherever Go knows the suite.
func TestSuiteTableAgreesWithGo(t *testing.T) {
	goNames := map[uint16]string{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		goNames[s.ID] = s.Name
	}
	for id, s := range suites {
		if n, ok := goNames[id]; ok && n != s.name {
			t.Errorf("0x%04x: ours %q, Go %q", id, s.name, n)
		}
		var kx string
		switch {
		case s.tls13:
			kx = kxTLS13
		case strings.HasPrefix(s.name, "TLS_ECDHE_"):
			kx = kxECDHE
		case strings.HasPrefix(s.name, "TLS_DHE_"):
			kx = kxDHE
		case strings.HasPrefix(s.name, "TLS_RSA_"):
			kx = kxRSA
		default:
			t.Errorf("0x%04x %s: unexpected name", id, s.name)
		}
		if kx != s.kx {
			t.Errorf("0x%04x %s: key exchange %q, name says %q", id, s.name, s.kx, kx)
		}
		if s.tls13 != (id>>8 == 0x13) {
			t.Errorf("0x%04x %s: tls13 flag %v", id, s.name, s.tls13)
		}
	}
}

func TestVersionName(t *testing.T) {
	for v, want := range map[uint16]string{
		0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1", 0x0303: "TLS1.2", 0x0304: "TLS1.3",
		0x0305: "0x0305", 0: "0x0000",
	} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(0x%04x) = %q, want %q", v, got, want)
		}
	}
}
