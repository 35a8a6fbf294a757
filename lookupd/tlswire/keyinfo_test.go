package tlswire

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"
)

// issue makes a certificate for pub signed by an RSA-2048 issuer key.
func issue(t testing.TB, pub crypto.PublicKey, issuer crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "keyinfo.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// issuerKey is made on first use: fuzz workers need not pay for it.
var issuerKey = sync.OnceValue(func() *rsa.PrivateKey {
	return must(rsa.GenerateKey(rand.Reader, 2048))
})

func TestKeyInfo(t *testing.T) {
	// A 512-bit modulus: Go refuses to generate one, so make the number by hand;
	// only the public key goes into the certificate.
	small := &rsa.PublicKey{N: new(big.Int).SetBytes(primeOfBits(512)), E: 65537}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	dsaFlight, err := ReadFlight(bytes.NewReader(testdata(t, "flight-openssl-dhe-dss1024.bin")),
		must(BuildHello(HelloConfig{AllSuites: true, MaxVersion: 0x0303})))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		der  []byte
		typ  string
		bits int
	}{
		{"RSA-512", issue(t, small, issuerKey()), KeyRSA, 512},
		{"RSA-1024", issue(t, &rsa1024.PublicKey, issuerKey()), KeyRSA, 1024},
		{"RSA-2048", issue(t, &issuerKey().PublicKey, issuerKey()), KeyRSA, 2048},
		{"P-256", issue(t, &p256.PublicKey, issuerKey()), KeyECDSA, 256},
		{"P-384", issue(t, &p384.PublicKey, issuerKey()), KeyECDSA, 384},
		{"P-521", issue(t, &p521.PublicKey, issuerKey()), KeyECDSA, 521},
		{"Ed25519", issue(t, edPub, issuerKey()), KeyEd25519, 256},
		{"DSA-1024 (openssl)", dsaFlight.Certificates[0], KeyDSA, 1024},
		{"negative serial", negateSerial(t, issue(t, &rsa1024.PublicKey, issuerKey())), KeyRSA, 1024},
	} {
		typ, bits, err := KeyInfo(tc.der)
		if err != nil || typ != tc.typ || bits != tc.bits {
			t.Errorf("%s: %s %d %v, want %s %d", tc.name, typ, bits, err, tc.typ, tc.bits)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// negateSerial flips the sign bit of the serial number (42 -> -86), which
// crypto/x509 refuses to parse since Go 1.23 but old CAs did issue.
func negateSerial(t *testing.T, der []byte) []byte {
	t.Helper()
	out := bytes.Clone(der)
	i := bytes.Index(out, []byte{0x02, 0x01, 42})
	if i < 0 {
		t.Fatal("serial not found")
	}
	out[i+2] = 0xaa
	if _, err := x509.ParseCertificate(out); err == nil {
		t.Fatal("crypto/x509 parses a negative serial: fallback untested")
	}
	return out
}

func TestSPKIKeyInfoCurvesGoLacks(t *testing.T) {
	spki := func(alg pkix.AlgorithmIdentifier, key []byte) []byte {
		b, err := asn1.Marshal(struct {
			Alg pkix.AlgorithmIdentifier
			Key asn1.BitString
		}{alg, asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ec := func(curve asn1.ObjectIdentifier) pkix.AlgorithmIdentifier {
		p, _ := asn1.Marshal(curve)
		return pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: p}}
	}
	point := append([]byte{4}, bytes.Repeat([]byte{1}, 64)...)
	for _, tc := range []struct {
		name string
		spki []byte
		typ  string
		bits int
		ok   bool
	}{
		{"brainpoolP256r1", spki(ec(asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}), point), KeyECDSA, 256, true},
		{"secp256k1", spki(ec(asn1.ObjectIdentifier{1, 3, 132, 0, 10}), point), KeyECDSA, 256, true},
		{"Ed448", spki(pkix.AlgorithmIdentifier{Algorithm: oidEd448}, make([]byte, 57)), KeyEd448, 448, true},
		{"unknown curve", spki(ec(asn1.ObjectIdentifier{1, 2, 3, 4}), point), "", 0, false},
		{"unknown algorithm", spki(pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 3}}, point), "", 0, false},
		{"garbage", []byte{0x30, 0x03, 1, 2}, "", 0, false},
	} {
		typ, bits, err := spkiKeyInfo(tc.spki)
		if (err == nil) != tc.ok || typ != tc.typ || bits != tc.bits {
			t.Errorf("%s: %s %d %v", tc.name, typ, bits, err)
		}
	}
}

func TestKeyInfoGarbage(t *testing.T) {
	for _, der := range [][]byte{nil, {0x30}, {0x30, 0x00}, bytes.Repeat([]byte{0x30, 0x82}, 10)} {
		if _, _, err := KeyInfo(der); err == nil {
			t.Errorf("%x: no error", der)
		}
	}
}

// FuzzKeyInfo: certificate bytes from a server are untrusted too.
func FuzzKeyInfo(f *testing.F) {
	for _, c := range capturedFlights {
		if c.certs > 0 {
			f.Add(handshakeMessages(f, testdata(f, c.file))[1][10:])
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		typ, bits, err := KeyInfo(der)
		if err == nil && (typ == "" || bits <= 0) {
			t.Fatalf("%q %d without error", typ, bits)
		}
	})
}
