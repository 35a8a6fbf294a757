package tlswire

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire/internal/tlslab"
)

// exchange writes h to a fresh `openssl s_server` started with args over a
// real TCP connection on 127.0.0.1 and reads the flight.
func exchange(t *testing.T, h *Hello, args ...string) (Flight, error) {
	t.Helper()
	ctx := testCtx(t)
	srv, err := tlslab.StartSServer(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(h.Record); err != nil {
		t.Fatal(err)
	}
	return ReadFlight(conn, h)
}

// pemDER returns the DER of the first PEM block in a file.
func pemDER(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return b.Bytes
}

// dhPrime reads p from a DH parameter file (PKCS #3 or X9.42: p comes first).
func dhPrime(t *testing.T, path string) []byte {
	t.Helper()
	s := cryptobyte.String(pemDER(t, path))
	var seq, p cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&p, cbasn1.INTEGER) {
		t.Fatalf("%s: no DH prime", path)
	}
	return bytes.TrimLeft(p, "\x00")
}

// TestReadFlightOpenSSLDHE is the end-to-end check: a real OpenSSL 3 server
// (TLS 1.2, DHE-RSA, 2048-bit DH, RSA-2048 certificate) answers each of our
// hellos, and ReadFlight reports the very prime and certificate it was given.
func TestReadFlightOpenSSLDHE(t *testing.T) {
	lab.Require(t, "openssl")
	ctx, dir := testCtx(t), t.TempDir()
	crt, key, err := tlslab.Cert(ctx, dir, "rsa2048")
	if err != nil {
		t.Fatal(err)
	}
	dh, err := tlslab.DH(ctx, dir, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wantPrime, wantCert := dhPrime(t, dh), pemDER(t, crt)
	for _, cfg := range []HelloConfig{
		{},
		{Client: ClientOpenSSL},
		{MaxVersion: tls.VersionTLS12, AllSuites: true},
		{Client: ClientOpenSSL, ServerName: "mx.example.test", AllSuites: true},
	} {
		h, err := BuildHello(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f, err := exchange(t, h, "-cert", crt, "-key", key, "-dhparam", dh, "-no_tls1_3", "-cipher", "DHE-RSA-AES128-GCM-SHA256")
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if f.Version != tls.VersionTLS12 || f.CipherSuite != 0x009e || f.KeyExchange != kxDHE {
			t.Errorf("%+v: %s %s %s", cfg, VersionName(f.Version), CipherSuiteName(f.CipherSuite), f.KeyExchange)
		}
		if f.DHBits() != 2048 || !bytes.Equal(bytes.TrimLeft(f.DHPrime, "\x00"), wantPrime) {
			t.Errorf("%+v: prime of %d bits is not the server's", cfg, f.DHBits())
		}
		if len(f.Certificates) != 1 || !bytes.Equal(f.Certificates[0], wantCert) {
			t.Errorf("%+v: certificate is not the server's", cfg)
		}
		if kt, bits, err := KeyInfo(f.Certificates[0]); kt != KeyRSA || bits != 2048 || err != nil {
			t.Errorf("%+v: KeyInfo %s %d %v", cfg, kt, bits, err)
		}
	}
}

// TestHelloKeySharesAcceptedByOpenSSL: a TLS 1.3 server restricted to one
// group answers with a ServerHello for it, which it only does after it has
// used our key share; a corrupted P-256 share gets an alert instead, which
// shows the server does check.
func TestHelloKeySharesAcceptedByOpenSSL(t *testing.T) {
	lab.Require(t, "openssl")
	ctx, dir := testCtx(t), t.TempDir()
	crt, key, err := tlslab.Cert(ctx, dir, "ecp256")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client Client
		group  string
		id     uint16
	}{
		{ClientGnuTLS, "P-256", groupP256},
		{ClientGnuTLS, "X25519", groupX25519},
		{ClientOpenSSL, "X25519", groupX25519},
	} {
		h, err := BuildHello(HelloConfig{Client: tc.client})
		if err != nil {
			t.Fatal(err)
		}
		f, err := exchange(t, h, "-cert", crt, "-key", key, "-groups", tc.group)
		if err != nil || f.Version != tls.VersionTLS13 || f.HelloRetry || f.Curve != tc.id {
			t.Errorf("%s/%s: %s hrr=%v curve %#x err %v", tc.client, tc.group, VersionName(f.Version), f.HelloRetry, f.Curve, err)
		}
	}

	h, err := BuildHello(HelloConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := parseClientHello(h.Record)
	if err != nil {
		t.Fatal(err)
	}
	share := ch.keyShares[groupP256]
	i := bytes.Index(h.Record, share)
	h.Record[i+len(share)-1] ^= 1 // the point is now off the curve
	_, err = exchange(t, h, "-cert", crt, "-key", key, "-groups", "P-256")
	var a *AlertError
	if !errors.As(err, &a) || a.Level != alertLevelFatal {
		t.Errorf("corrupted P-256 share: err %v, want a fatal alert", err)
	}
}
