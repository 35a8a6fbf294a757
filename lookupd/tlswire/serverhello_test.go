package tlswire

import (
	"crypto/tls"
	"testing"
)

func TestParseServerHelloCaptured(t *testing.T) {
	for _, tc := range []struct {
		file                 string
		legacy, selected     uint16
		suite, keyShareGroup uint16
		retry                bool
	}{
		{"flight-openssl-dhe-rsa2048.bin", tls.VersionTLS12, 0, 0x009e, 0, false},
		{"flight-openssl-tls13.bin", tls.VersionTLS12, tls.VersionTLS13, 0x1302, groupP256, false},
		{"flight-openssl-hrr.bin", tls.VersionTLS12, tls.VersionTLS13, 0x1302, groupP384, true},
	} {
		msg := handshakeMessages(t, testdata(t, tc.file))[0]
		sh, err := parseServerHello(msg[4:])
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if sh.legacyVersion != tc.legacy || sh.selectedVersion != tc.selected || sh.cipherSuite != tc.suite ||
			sh.keyShareGroup != tc.keyShareGroup || sh.helloRetry != tc.retry {
			t.Errorf("%s: %+v", tc.file, sh)
		}
	}
}

// FuzzParseServerHello checks the ServerHello parser on arbitrary bodies,
// seeded with real ServerHellos (TLS 1.2, TLS 1.3, HelloRetryRequest).
func FuzzParseServerHello(f *testing.F) {
	for _, c := range capturedFlights {
		if c.alert == 0 {
			f.Add(handshakeMessages(f, testdata(f, c.file))[0][4:])
		}
	}
	h, err := BuildHello(HelloConfig{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sh, err := parseServerHello(body)
		if err != nil {
			return
		}
		if len(sh.random) != 32 {
			t.Fatalf("random of %d bytes", len(sh.random))
		}
		var fl Flight
		if applyServerHello(sh, h, &fl) == nil {
			//lint:ignore SA1019 the lowest version a server may choose
			if fl.Version < tls.VersionSSL30 || fl.Version > tls.VersionTLS13 { //nolint:staticcheck
				t.Fatalf("accepted version %x", fl.Version)
			}
			if !offered(h.Suites, fl.CipherSuite) {
				t.Fatalf("accepted suite %x not offered", fl.CipherSuite)
			}
		}
	})
}
