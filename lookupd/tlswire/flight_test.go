package tlswire

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"golang.org/x/crypto/cryptobyte"
)

// capturedFlights are real openssl s_server flights in testdata/hello, with
// the hello that was written to get them (see internal/capture/flight.go).
var capturedFlights = []struct {
	file    string
	cfg     HelloConfig
	version uint16
	suite   uint16
	kx      string
	dhBits  int
	curve   uint16
	certs   int
	keyType string
	keyBits int
	hrr     bool
	tls13   bool
	alert   uint8 // fatal alert expected; 0 = none
}{
	{file: "flight-openssl-dhe-rsa2048.bin", version: tls.VersionTLS12, suite: 0x009e, kx: "DHE", dhBits: 2048, certs: 1, keyType: "RSA", keyBits: 2048},
	{file: "flight-openssl-dhe-rsa2048-sentinel.bin", cfg: HelloConfig{MaxVersion: tls.VersionTLS12},
		version: tls.VersionTLS12, suite: 0x009e, kx: "DHE", dhBits: 2048, certs: 1, keyType: "RSA", keyBits: 2048, tls13: true},
	{file: "flight-openssl-ecdhe-rsa2048.bin", cfg: HelloConfig{Client: ClientOpenSSL},
		version: tls.VersionTLS12, suite: 0xc02f, kx: "ECDHE", curve: groupX25519, certs: 1, keyType: "RSA", keyBits: 2048},
	{file: "flight-openssl-rsakx-rsa1024.bin", version: tls.VersionTLS12, suite: 0x009c, kx: "RSA", certs: 1, keyType: "RSA", keyBits: 1024},
	{file: "flight-openssl-dhe-dss1024.bin", cfg: HelloConfig{AllSuites: true, MaxVersion: tls.VersionTLS12},
		version: tls.VersionTLS12, suite: 0x0032, kx: "DHE", dhBits: 1024, certs: 1, keyType: "DSA", keyBits: 1024},
	{file: "flight-openssl-certreq.bin", version: tls.VersionTLS12, suite: 0xc02c, kx: "ECDHE", curve: groupP256, certs: 1, keyType: "ECDSA", keyBits: 256},
	{file: "flight-openssl-tls13.bin", version: tls.VersionTLS13, suite: 0x1302, curve: groupP256},
	{file: "flight-openssl-hrr.bin", version: tls.VersionTLS13, suite: 0x1302, curve: groupP384, hrr: true},
	{file: "flight-openssl-alert.bin", alert: 40},
}

func TestReadFlightCaptured(t *testing.T) {
	for _, c := range capturedFlights {
		t.Run(c.file, func(t *testing.T) {
			h, err := BuildHello(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadFlight(bytes.NewReader(testdata(t, c.file)), h)
			if c.alert != 0 {
				var a *AlertError
				if !errors.As(err, &a) || a.Description != c.alert || a.Level != alertLevelFatal || stageOf(err) != stage.ServerHello {
					t.Fatalf("err %v, want fatal alert %d at server-hello", err, c.alert)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("%s %s kx=%q dh=%d curve=%#x certs=%d hrr=%v tls13=%v",
				VersionName(f.Version), CipherSuiteName(f.CipherSuite), f.KeyExchange, f.DHBits(), f.Curve, len(f.Certificates), f.HelloRetry, f.ServerTLS13)
			want := fmt.Sprintf("%s %s kx=%q dh=%d curve=%#x certs=%d hrr=%v tls13=%v",
				VersionName(c.version), CipherSuiteName(c.suite), c.kx, c.dhBits, c.curve, c.certs, c.hrr, c.tls13)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if c.dhBits > 0 && (len(f.DHGenerator) == 0 || len(f.DHPrime) == 0) {
				t.Error("DHE without prime or generator")
			}
			if c.certs > 0 {
				kt, bits, err := KeyInfo(f.Certificates[0])
				if err != nil || kt != c.keyType || bits != c.keyBits {
					t.Errorf("KeyInfo = %s %d %v, want %s %d", kt, bits, err, c.keyType, c.keyBits)
				}
			}
		})
	}
}

// TestReadFlightRecordBoundaries re-frames real flights: cut into two records
// at every byte, one record per byte, and all messages in one record. The
// result must not change.
func TestReadFlightRecordBoundaries(t *testing.T) {
	for _, c := range capturedFlights {
		if c.alert != 0 {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			h, err := BuildHello(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			raw := testdata(t, c.file)
			want, err := ReadFlight(bytes.NewReader(raw), h)
			if err != nil {
				t.Fatal(err)
			}
			stream := concat(handshakeMessages(t, raw)...)
			check := func(name string, wire []byte) {
				t.Helper()
				got, err := ReadFlight(bytes.NewReader(wire), h)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: err %v, flight differs: %v", name, err, !reflect.DeepEqual(got, want))
				}
			}
			for k := 1; k < len(stream); k++ {
				check(fmt.Sprintf("cut at %d", k), records(stream, k))
			}
			var perByte []int
			for k := 1; k < len(stream); k++ {
				perByte = append(perByte, k)
			}
			check("one record per byte", records(stream, perByte...))
			check("coalesced", records(stream))
			check("one byte per read", mustReadAll(t, iotest.OneByteReader(bytes.NewReader(raw))))
		})
	}
}

func mustReadAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadFlightReadsNoFurther checks ReadFlight stops at ServerHelloDone's
// record: bytes after it stay in the reader.
func TestReadFlightReadsNoFurther(t *testing.T) {
	h, err := BuildHello(HelloConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tail := []byte("after the flight")
	r := bytes.NewReader(concat(testdata(t, "flight-openssl-dhe-rsa2048.bin"), tail))
	if _, err := ReadFlight(r, h); err != nil {
		t.Fatal(err)
	}
	if rest := mustReadAll(t, r); !bytes.Equal(rest, tail) {
		t.Errorf("left %q, want %q", rest, tail)
	}
}

// Builders for synthetic flights.

func ext(typ uint16, data []byte) []byte {
	return concat([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data)
}

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// serverHelloMsg builds a ServerHello message; exts nil = no extensions block.
func serverHelloMsg(version uint16, random []byte, suite uint16, exts ...[]byte) []byte {
	if random == nil {
		random = bytes.Repeat([]byte{0x42}, 32)
	}
	var b cryptobyte.Builder
	b.AddUint16(version)
	b.AddBytes(random)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(bytes.Repeat([]byte{7}, 32)) })
	b.AddUint16(suite)
	b.AddUint8(0)
	if exts != nil {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(concat(exts...)) })
	}
	return hsMsg(typeServerHello, b.BytesOrPanic())
}

func certificateMsg(certs ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range certs {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c) })
		}
	})
	return hsMsg(typeCertificate, b.BytesOrPanic())
}

// dheParams builds a DHE ServerKeyExchange body with the given prime.
func dheParams(p []byte, tls12 bool) []byte {
	var b cryptobyte.Builder
	for _, v := range [][]byte{p, {2}, bytes.Repeat([]byte{0x5a}, len(p))} {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(v) })
	}
	if tls12 {
		b.AddUint16(0x0401)
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(bytes.Repeat([]byte{1}, 256)) })
	return b.BytesOrPanic()
}

func ecdheParams(curve uint16) []byte {
	var b cryptobyte.Builder
	b.AddUint8(curveTypeNamed)
	b.AddUint16(curve)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(bytes.Repeat([]byte{9}, 32)) })
	b.AddUint16(0x0401)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte{1, 2, 3}) })
	return b.BytesOrPanic()
}

// primeOfBits is 2^(bits-1)+1: odd, exactly bits long (primality is not checked).
func primeOfBits(bits int) []byte {
	p := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	return p.Add(p, big.NewInt(1)).Bytes()
}

func TestReadFlightSynthetic(t *testing.T) {
	gnutls, err := BuildHello(HelloConfig{})
	if err != nil {
		t.Fatal(err)
	}
	gnutls12, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	openssl, err := BuildHello(HelloConfig{Client: ClientOpenSSL})
	if err != nil {
		t.Fatal(err)
	}
	all, err := BuildHello(HelloConfig{AllSuites: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := handshakeMessages(t, testdata(t, "flight-openssl-dhe-rsa2048.bin"))[1][7:] // one cert in the chain
	cert := certificateMsg(leaf)
	sh12 := func(suite uint16, exts ...[]byte) []byte {
		return serverHelloMsg(tls.VersionTLS12, nil, suite, exts...)
	}
	dhe := sh12(0x009e)
	ske := func(p []byte) []byte { return hsMsg(typeServerKeyExchange, dheParams(p, true)) }
	ske2048 := ske(primeOfBits(2048))
	done := hsMsg(typeServerHelloDone, nil)
	rec := func(msgs ...[]byte) []byte { return record(recordHandshake, concat(msgs...)) }
	alert := func(level, desc uint8) []byte { return record(recordAlert, []byte{level, desc}) }
	sentinel := func(s string) []byte { return append(bytes.Repeat([]byte{1}, 24), s...) }
	sv := func(v uint16) []byte { return ext(extSupportedVersions, u16(v)) }
	keyShare := func(g uint16) []byte { return ext(extKeyShare, concat(u16(g), u16(32), bytes.Repeat([]byte{3}, 32))) }

	type want struct {
		err     error // errors.Is target; nil = success
		stage   stage.Stage
		dhBits  int
		certs   int
		version uint16
		curve   uint16
	}
	for _, tc := range []struct {
		name  string
		hello *Hello
		wire  []byte
		want  want
	}{
		{"DHE flight", gnutls, rec(dhe, cert, ske2048, done), want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"each message its own record", gnutls, concat(rec(dhe), rec(cert), rec(ske2048), rec(done)), want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"server hello without extensions", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x009e), cert, ske2048, done), want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"TLS 1.0 key exchange has no signature algorithm", all,
			rec(serverHelloMsg(tls.VersionTLS10, nil, 0x0033), cert, hsMsg(typeServerKeyExchange, dheParams(primeOfBits(768), false)), done),
			want{dhBits: 768, certs: 1, version: tls.VersionTLS10}},
		//lint:ignore SA1019 a server may still choose SSL 3.0
		{"SSL 3.0", all, rec(serverHelloMsg(tls.VersionSSL30, nil, 0x000a), cert, done), want{certs: 1, version: tls.VersionSSL30}}, //nolint:staticcheck
		{"certificate status and request tolerated", gnutls,
			rec(dhe, cert, hsMsg(typeCertificateStatus, []byte{1, 0, 0, 1, 0}), ske2048, hsMsg(typeCertificateRequest, []byte{1, 1, 0, 0}), done),
			want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"hello request ignored", gnutls, concat(rec(hsMsg(typeHelloRequest, nil)), rec(dhe, cert, hsMsg(typeHelloRequest, nil), ske2048, done)),
			want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"prime of 16384 bits", gnutls, rec(dhe, cert, ske(primeOfBits(16384)), done), want{dhBits: 16384, certs: 1, version: tls.VersionTLS12}},
		{"prime with leading zero bytes", gnutls, rec(dhe, cert, ske(append([]byte{0, 0}, primeOfBits(1024)...)), done), want{dhBits: 1024, certs: 1, version: tls.VersionTLS12}},
		{"ECDHE", gnutls, rec(sh12(0xc02f), cert, hsMsg(typeServerKeyExchange, ecdheParams(groupP256)), done), want{certs: 1, version: tls.VersionTLS12, curve: groupP256}},
		{"RSA key exchange", gnutls, rec(sh12(0x009c), cert, done), want{certs: 1, version: tls.VersionTLS12}},
		{"warning unrecognized_name skipped", gnutls, concat(alert(1, 112), rec(dhe, cert, ske2048, done)), want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},
		{"TLS 1.3", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x1301, sv(tls.VersionTLS13), keyShare(groupX25519))), want{version: tls.VersionTLS13, curve: groupX25519}},
		{"TLS 1.3 stops after server hello", gnutls,
			concat(rec(serverHelloMsg(tls.VersionTLS12, nil, 0x1301, sv(tls.VersionTLS13), keyShare(groupX25519))), record(recordChangeCipherSpec, []byte{1}), []byte("junk")),
			want{version: tls.VersionTLS13, curve: groupX25519}},
		{"hello retry for ffdhe2048", gnutls,
			rec(serverHelloMsg(tls.VersionTLS12, helloRetryRandom, 0x1301, sv(tls.VersionTLS13), ext(extKeyShare, u16(groupFFDHE2048)))),
			want{version: tls.VersionTLS13, curve: groupFFDHE2048}},
		{"downgrade sentinel with TLS 1.2 hello", gnutls12, rec(serverHelloMsg(tls.VersionTLS12, sentinel("DOWNGRD\x01"), 0x009e), cert, ske2048, done),
			want{dhBits: 2048, certs: 1, version: tls.VersionTLS12}},

		// errors
		{"empty input", gnutls, nil, want{err: io.EOF, stage: stage.TLSRecord}},
		{"EOF inside header", gnutls, []byte{22, 3}, want{err: io.ErrUnexpectedEOF, stage: stage.TLSRecord}},
		{"EOF inside record", gnutls, rec(dhe)[:20], want{err: io.ErrUnexpectedEOF, stage: stage.TLSRecord}},
		{"EOF after certificate", gnutls, rec(dhe, cert), want{err: io.EOF, stage: stage.TLSRecord, certs: 1}},
		{"SMTP reply", gnutls, []byte("454 4.7.0 TLS not available due to local problem\r\n"), want{err: ErrNotTLS, stage: stage.TLSRecord}},
		{"SMTP banner", gnutls, []byte("220 mx.example.org ESMTP\r\n"), want{err: ErrNotTLS, stage: stage.TLSRecord}},
		{"HTTP", gnutls, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), want{err: ErrNotTLS, stage: stage.TLSRecord}},
		{"SSLv2 server hello", gnutls, []byte{0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02}, want{err: ErrNotTLS, stage: stage.TLSRecord}},
		{"record version 2.0", gnutls, []byte{22, 2, 0, 0, 4, 2, 0, 0, 0}, want{err: ErrNotTLS, stage: stage.TLSRecord}},
		{"garbage after first record", gnutls, concat(rec(dhe), []byte("HTTP/1.1")), want{err: ErrMalformed, stage: stage.TLSRecord}},
		{"record over 2^14+2048", gnutls, []byte{22, 3, 3, 0x48, 0x01}, want{err: ErrTooLarge, stage: stage.TLSRecord}},
		{"handshake length 2^24-1", gnutls, record(recordHandshake, []byte{2, 0xff, 0xff, 0xff, 0, 0}), want{err: ErrTooLarge, stage: stage.ServerHello}},
		{"certificate message over cap", gnutls, concat(rec(dhe), record(recordHandshake, []byte{11, 1, 0, 1})), want{err: ErrTooLarge, stage: stage.Certificate}},
		{"flight over total cap", gnutls, bytes.Repeat(record(recordHandshake, nil), maxFlightBytes/5+1), want{err: ErrTooLarge, stage: stage.TLSRecord}},
		{"fatal alert", gnutls, alert(2, 40), want{err: &AlertError{2, 40}, stage: stage.ServerHello}},
		{"alert after certificate", gnutls, concat(rec(dhe, cert), alert(2, 71)), want{err: &AlertError{2, 71}, stage: stage.KeyExchange, certs: 1}},
		{"close_notify warning", gnutls, alert(1, 0), want{err: &AlertError{1, 0}, stage: stage.ServerHello}},
		{"warning then hang-up", gnutls, alert(1, 112), want{err: &AlertError{1, 112}, stage: stage.ServerHello}},
		{"warning then broken record", gnutls, concat(alert(1, 112), []byte{22, 3}), want{err: &AlertError{1, 112}, stage: stage.ServerHello}},
		{"flood of warnings", gnutls, bytes.Repeat(alert(1, 112), maxFlightBytes/7+1), want{err: ErrTooLarge, stage: stage.TLSRecord}},
		{"warning then garbage", gnutls, concat(alert(1, 112), []byte("HTTP/1.1")), want{err: ErrMalformed, stage: stage.TLSRecord}},
		{"short alert record", gnutls, record(recordAlert, []byte{2}), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"application data", gnutls, record(recordApplicationData, []byte("hi")), want{err: ErrUnexpectedMessage, stage: stage.ServerHello}},
		{"change cipher spec before done", gnutls, concat(rec(dhe, cert, ske2048), record(recordChangeCipherSpec, []byte{1})),
			want{err: ErrUnexpectedMessage, stage: stage.ServerHelloDone, dhBits: 2048, certs: 1}},
		{"suite not offered", gnutls, rec(sh12(0x0032)), want{err: ErrBadSuite, stage: stage.ServerHello}},
		{"unknown suite", all, rec(sh12(0x0017)), want{err: ErrBadSuite, stage: stage.ServerHello}},
		{"SCSV chosen", openssl, rec(sh12(0x00ff)), want{err: ErrBadSuite, stage: stage.ServerHello}},
		{"TLS 1.3 suite with TLS 1.2", gnutls, rec(sh12(0x1301)), want{err: ErrBadSuite, stage: stage.ServerHello}},
		{"TLS 1.2 suite with TLS 1.3", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x009e, sv(tls.VersionTLS13), keyShare(groupX25519))), want{err: ErrBadSuite, stage: stage.ServerHello}},
		{"TLS 1.3 not offered", gnutls12, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x1301, sv(tls.VersionTLS13), keyShare(groupX25519))), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"TLS 1.3 in legacy version", gnutls, rec(serverHelloMsg(tls.VersionTLS13, nil, 0x1301)), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"supported_versions says TLS 1.2", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x009e, sv(tls.VersionTLS12))), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"TLS 1.3 share for a group not sent", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x1301, sv(tls.VersionTLS13), keyShare(groupP384))), want{err: ErrMalformed, stage: stage.ServerHello, curve: groupP384}},
		{"TLS 1.3 without key share", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x1301, sv(tls.VersionTLS13))), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"hello retry for a group already shared", gnutls,
			rec(serverHelloMsg(tls.VersionTLS12, helloRetryRandom, 0x1301, sv(tls.VersionTLS13), ext(extKeyShare, u16(groupX25519)))),
			want{err: ErrMalformed, stage: stage.ServerHello, curve: groupX25519}},
		{"hello retry without supported_versions", gnutls, rec(serverHelloMsg(tls.VersionTLS12, helloRetryRandom, 0x1301)), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"downgrade sentinel with TLS 1.3 offered", gnutls, rec(serverHelloMsg(tls.VersionTLS12, sentinel("DOWNGRD\x01"), 0x009e), cert, ske2048, done),
			want{err: ErrMalformed, stage: stage.ServerHello}},
		{"duplicate extension", gnutls, rec(sh12(0x009e, ext(extRenegotiationInfo, []byte{0}), ext(extRenegotiationInfo, []byte{0}))), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"extension longer than block", gnutls, rec(serverHelloMsg(tls.VersionTLS12, nil, 0x009e, []byte{0xff, 0x01, 0, 9, 0})), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"compression", gnutls, rec(hsMsg(typeServerHello, func() []byte { b := serverHelloMsg(tls.VersionTLS12, nil, 0x009e)[4:]; b[len(b)-1] = 1; return b }())),
			want{err: ErrMalformed, stage: stage.ServerHello}},
		{"version above hello's", gnutls12, rec(serverHelloMsg(0x0305, nil, 0x009e)), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"short server hello", gnutls, rec(hsMsg(typeServerHello, []byte{3, 3, 0})), want{err: ErrMalformed, stage: stage.ServerHello}},
		{"certificate before server hello", gnutls, rec(cert), want{err: ErrUnexpectedMessage, stage: stage.ServerHello}},
		{"key exchange before certificate", gnutls, rec(dhe, ske2048), want{err: ErrUnexpectedMessage, stage: stage.Certificate}},
		{"done without key exchange", gnutls, rec(dhe, cert, done), want{err: ErrUnexpectedMessage, stage: stage.KeyExchange, certs: 1}},
		{"key exchange for RSA suite", gnutls, rec(sh12(0x009c), cert, ske2048, done), want{err: ErrUnexpectedMessage, stage: stage.ServerHelloDone, certs: 1}},
		{"two key exchanges", gnutls, rec(dhe, cert, ske2048, ske2048, done), want{err: ErrUnexpectedMessage, stage: stage.ServerHelloDone, certs: 1, dhBits: 2048}},
		{"certificate request before key exchange", gnutls, rec(dhe, cert, hsMsg(typeCertificateRequest, []byte{1, 1, 0, 0}), ske2048, done),
			want{err: ErrUnexpectedMessage, stage: stage.KeyExchange, certs: 1}},
		{"status after key exchange", gnutls, rec(dhe, cert, ske2048, hsMsg(typeCertificateStatus, []byte{1, 0, 0, 0}), done),
			want{err: ErrUnexpectedMessage, stage: stage.ServerHelloDone, certs: 1, dhBits: 2048}},
		{"server hello done with body", gnutls, rec(dhe, cert, ske2048, hsMsg(typeServerHelloDone, []byte{0})), want{err: ErrMalformed, stage: stage.ServerHelloDone, certs: 1, dhBits: 2048}},
		{"cert list longer than message", gnutls, rec(dhe, hsMsg(typeCertificate, []byte{0, 0x10, 0, 0, 0, 1, 0x30})), want{err: ErrMalformed, stage: stage.Certificate}},
		{"cert longer than list", gnutls, rec(dhe, hsMsg(typeCertificate, []byte{0, 0, 4, 0, 0, 9, 0x30})), want{err: ErrMalformed, stage: stage.Certificate}},
		{"empty cert list", gnutls, rec(dhe, certificateMsg()), want{err: ErrMalformed, stage: stage.Certificate}},
		{"empty cert", gnutls, rec(dhe, certificateMsg(nil)), want{err: ErrMalformed, stage: stage.Certificate}},
		{"33 certs", gnutls, rec(dhe, certificateMsg(slices.Repeat([][]byte{{0x30}}, 33)...)), want{err: ErrTooLarge, stage: stage.Certificate}},
		{"prime of 0 bits", gnutls, rec(dhe, cert, ske([]byte{0}), done), want{err: ErrMalformed, stage: stage.KeyExchange, certs: 1}},
		{"empty prime", gnutls, rec(dhe, cert, ske(nil), done), want{err: ErrMalformed, stage: stage.KeyExchange, certs: 1}},
		{"prime of 16385 bits", gnutls, rec(dhe, cert, ske(primeOfBits(16385)), done), want{err: ErrTooLarge, stage: stage.KeyExchange, certs: 1}},
		{"key exchange without signature", gnutls, rec(dhe, cert, hsMsg(typeServerKeyExchange, dheParams(primeOfBits(1024), true)[:3*2+128*2+1+2]), done),
			want{err: ErrMalformed, stage: stage.KeyExchange, certs: 1}},
		{"ECDHE curve not offered", gnutls, rec(sh12(0xc02f), cert, hsMsg(typeServerKeyExchange, ecdheParams(0x0015)), done),
			want{err: ErrMalformed, stage: stage.KeyExchange, certs: 1, curve: 0x0015}},
		{"ECDHE explicit curve", gnutls, rec(sh12(0xc02f), cert, hsMsg(typeServerKeyExchange, append([]byte{1}, ecdheParams(groupP256)[1:]...)), done),
			want{err: ErrMalformed, stage: stage.KeyExchange, certs: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ReadFlight(bytes.NewReader(tc.wire), tc.hello)
			w := tc.want
			switch {
			case w.err == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case w.err != nil:
				var a *AlertError
				if wa, isAlert := w.err.(*AlertError); isAlert {
					if !errors.As(err, &a) || *a != *wa {
						t.Fatalf("err %v, want %v", err, wa)
					}
				} else if !errors.Is(err, w.err) {
					t.Fatalf("err %v, want %v", err, w.err)
				}
				if got := stageOf(err); got != w.stage {
					t.Fatalf("stage %q, want %q (err %v)", got, w.stage, err)
				}
			}
			if f.DHBits() != w.dhBits || len(f.Certificates) != w.certs || (w.version != 0 && f.Version != w.version) || f.Curve != w.curve {
				t.Errorf("flight: version %x dh %d certs %d curve %#x; want %+v", f.Version, f.DHBits(), len(f.Certificates), f.Curve, w)
			}
		})
	}
}

func TestReadFlightNilHello(t *testing.T) {
	if _, err := ReadFlight(bytes.NewReader(nil), nil); err == nil {
		t.Error("nil hello: no error")
	}
}

func TestReadFlightReaderError(t *testing.T) {
	h, err := BuildHello(HelloConfig{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = ReadFlight(iotest.ErrReader(boom), h)
	if !errors.Is(err, boom) || stageOf(err) != stage.TLSRecord {
		t.Errorf("err %v, want boom at tls-record", err)
	}
}

func TestErrorStrings(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&AlertError{2, 40}, "server sent fatal alert handshake_failure"},
		{&AlertError{1, 112}, "server sent warning alert unrecognized_name"},
		{&AlertError{2, 200}, "server sent fatal alert alert(200)"},
		{&stage.Error{Stage: stage.KeyExchange, Err: ErrTooLarge}, "key-exchange: too large"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}

// FuzzReadFlight feeds arbitrary bytes as a server flight, seeded with the
// real captures and their re-framings.
func FuzzReadFlight(f *testing.F) {
	for _, c := range capturedFlights {
		raw := testdata(f, c.file)
		f.Add(uint8(0), raw)
		f.Add(uint8(3), raw)
		if c.alert == 0 {
			f.Add(uint8(0), records(concat(handshakeMessages(f, raw)...), 7))
		}
	}
	hellos := map[uint8]*Hello{}
	for i, cfg := range []HelloConfig{{}, {MaxVersion: tls.VersionTLS12}, {Client: ClientOpenSSL}, {AllSuites: true}} {
		h, err := BuildHello(cfg)
		if err != nil {
			f.Fatal(err)
		}
		hellos[uint8(i)] = h
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		h := hellos[which%4]
		fl, err := ReadFlight(bytes.NewReader(data), h)
		if err != nil {
			var se *stage.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *stage.Error", err)
			}
			return
		}
		if fl.Version == 0 || fl.CipherSuite == 0 || !offered(h.Suites, fl.CipherSuite) {
			t.Fatalf("success with version %x suite %x", fl.Version, fl.CipherSuite)
		}
		if fl.Version < tls.VersionTLS13 && len(fl.Certificates) == 0 {
			t.Fatal("TLS <= 1.2 success without certificates")
		}
		if fl.KeyExchange == kxDHE && (fl.DHBits() == 0 || fl.DHBits() > maxDHBits) {
			t.Fatalf("DHE with %d-bit prime", fl.DHBits())
		}
	})
}
