package tlswire

import (
	"bytes"
	"crypto/tls"
	"errors"
	"math/big"
	"testing"
)

func TestBitLen(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want int
	}{
		{nil, 0}, {[]byte{0}, 0}, {[]byte{0, 0}, 0}, {[]byte{1}, 1}, {[]byte{0x80}, 8},
		{[]byte{0, 0x01, 0}, 9}, {primeOfBits(2048), 2048}, {primeOfBits(16385), 16385},
	} {
		if got := bitLen(tc.in); got != tc.want {
			t.Errorf("bitLen(%x) = %d, want %d", tc.in, got, tc.want)
		}
		if want := new(big.Int).SetBytes(tc.in).BitLen(); want != tc.want {
			t.Errorf("table wrong for %x", tc.in)
		}
	}
}

func TestParseServerKeyExchangeCaptured(t *testing.T) {
	for _, tc := range []struct {
		file   string
		kx     string
		bits   int
		curve  uint16
		genLen int
	}{
		{"flight-openssl-dhe-rsa2048.bin", kxDHE, 2048, 0, 256}, // -dsaparam: g is as long as p
		{"flight-openssl-dhe-dss1024.bin", kxDHE, 1024, 0, 128},
		{"flight-openssl-ecdhe-rsa2048.bin", kxECDHE, 0, groupX25519, 0},
		{"flight-openssl-certreq.bin", kxECDHE, 0, groupP256, 0},
	} {
		body := handshakeMessages(t, testdata(t, tc.file))[2][4:]
		ke, err := parseServerKeyExchange(body, tc.kx, tls.VersionTLS12)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if bitLen(ke.prime) != tc.bits || ke.curve != tc.curve || len(ke.generator) > tc.genLen {
			t.Errorf("%s: prime %d bits, curve %#x, generator %d bytes", tc.file, bitLen(ke.prime), ke.curve, len(ke.generator))
		}
		// TLS 1.0 framing has no signature algorithm: the same bytes must not parse.
		if _, err := parseServerKeyExchange(body, tc.kx, tls.VersionTLS10); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s as TLS 1.0: err %v", tc.file, err)
		}
		if _, err := parseServerKeyExchange(body, kxRSA, tls.VersionTLS12); !errors.Is(err, ErrUnexpectedMessage) {
			t.Errorf("%s as RSA: err %v", tc.file, err)
		}
	}
}

// FuzzParseServerKeyExchange runs the DHE and ECDHE parsers, both signature
// framings, on arbitrary bodies seeded with real ServerKeyExchanges.
func FuzzParseServerKeyExchange(f *testing.F) {
	for _, c := range capturedFlights {
		if c.kx == kxDHE || c.kx == kxECDHE {
			f.Add(c.kx == kxECDHE, true, handshakeMessages(f, testdata(f, c.file))[2][4:])
		}
	}
	f.Add(false, false, dheParams(primeOfBits(512), false))
	f.Fuzz(func(t *testing.T, ec, tls12 bool, body []byte) {
		kx, version := kxDHE, uint16(tls.VersionTLS10)
		if ec {
			kx = kxECDHE
		}
		if tls12 {
			version = tls.VersionTLS12
		}
		orig := bytes.Clone(body)
		ke, err := parseServerKeyExchange(body, kx, version)
		if err != nil {
			return
		}
		if kx == kxDHE {
			if n := bitLen(ke.prime); n == 0 || n > maxDHBits {
				t.Fatalf("accepted %d-bit prime", n)
			}
			p := bytes.Clone(ke.prime)
			clear(body)
			if !bytes.Equal(p, ke.prime) {
				t.Fatal("prime aliases the input")
			}
			copy(body, orig)
		}
	})
}
