package tlswire

import (
	"bytes"
	"crypto/x509"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func TestParseCertificateCaptured(t *testing.T) {
	msg := handshakeMessages(t, testdata(t, "flight-openssl-dhe-rsa2048.bin"))[1]
	certs, err := parseCertificate(msg[4:])
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 {
		t.Fatalf("%d certificates", len(certs))
	}
	c, err := x509.ParseCertificate(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "rsa2048.tlswire.test" {
		t.Errorf("subject %q", c.Subject.CommonName)
	}
	// The result must not alias the message buffer (which the reader reuses).
	clear(msg)
	if _, err := x509.ParseCertificate(certs[0]); err != nil {
		t.Errorf("certificate aliases the message: %v", err)
	}
}

func TestParseCertificateChainOrder(t *testing.T) {
	a, b := []byte{0x30, 1}, []byte{0x30, 2, 3}
	certs, err := parseCertificate(certificateMsg(a, b)[4:])
	if err != nil || len(certs) != 2 || !bytes.Equal(certs[0], a) || !bytes.Equal(certs[1], b) {
		t.Fatalf("%x %v", certs, err)
	}
	if _, err := parseCertificate(certificateMsg(a)[4:11]); err == nil {
		t.Error("truncated: no error")
	}
	if _, err := parseCertificate(append(certificateMsg(a)[4:], 0)); err == nil {
		t.Error("trailing byte: no error")
	}
}

// FuzzParseCertificate: whatever parses must re-encode to the same bytes.
func FuzzParseCertificate(f *testing.F) {
	for _, c := range capturedFlights {
		if c.certs > 0 {
			f.Add(handshakeMessages(f, testdata(f, c.file))[1][4:])
		}
	}
	f.Add([]byte{0, 0, 4, 0, 0, 1, 0x30})
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, err := parseCertificate(body)
		if err != nil {
			return
		}
		if len(certs) == 0 || len(certs) > maxCertificates {
			t.Fatalf("%d certificates", len(certs))
		}
		var b cryptobyte.Builder
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, c := range certs {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c) })
			}
		})
		if !bytes.Equal(b.BytesOrPanic(), body) {
			t.Fatal("round trip differs")
		}
	})
}
