package tlswire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// parsedHello is a parsed ClientHello, for comparing structure.
type parsedHello struct {
	recordVersion uint16
	version       uint16
	random        []byte
	sessionID     []byte
	suites        []uint16
	compression   []byte
	extOrder      []uint16
	ext           map[uint16][]byte
	groups        []uint16
	sigAlgs       []uint16
	versions      []uint16
	pointFormats  []byte
	pskModes      []byte
	sni           string
	keyShares     map[uint16][]byte
	keyShareOrder []uint16
}

// parseClientHello parses the record(s) of a ClientHello, strictly.
func parseClientHello(raw []byte) (*parsedHello, error) {
	ch := &parsedHello{ext: map[uint16][]byte{}, keyShares: map[uint16][]byte{}}
	var stream []byte
	rec := cryptobyte.String(raw)
	for !rec.Empty() {
		var typ uint8
		var body cryptobyte.String
		if !rec.ReadUint8(&typ) || !rec.ReadUint16(&ch.recordVersion) || !rec.ReadUint16LengthPrefixed(&body) || typ != recordHandshake {
			return nil, fmt.Errorf("bad record")
		}
		stream = append(stream, body...)
	}
	s := cryptobyte.String(stream)
	var typ uint8
	var msg cryptobyte.String
	if !s.ReadUint8(&typ) || typ != typeClientHello || !s.ReadUint24LengthPrefixed(&msg) || !s.Empty() {
		return nil, fmt.Errorf("bad handshake header")
	}
	var sid, suites, comp, exts cryptobyte.String
	if !msg.ReadUint16(&ch.version) || !msg.ReadBytes(&ch.random, 32) || !msg.ReadUint8LengthPrefixed(&sid) ||
		!msg.ReadUint16LengthPrefixed(&suites) || !msg.ReadUint8LengthPrefixed(&comp) ||
		!msg.ReadUint16LengthPrefixed(&exts) || !msg.Empty() {
		return nil, fmt.Errorf("bad client hello body")
	}
	ch.sessionID, ch.compression = sid, comp
	for !suites.Empty() {
		var v uint16
		if !suites.ReadUint16(&v) {
			return nil, fmt.Errorf("odd suites")
		}
		ch.suites = append(ch.suites, v)
	}
	u16s := func(s cryptobyte.String) ([]uint16, bool) {
		var out []uint16
		for !s.Empty() {
			var v uint16
			if !s.ReadUint16(&v) {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	for !exts.Empty() {
		var t uint16
		var d cryptobyte.String
		if !exts.ReadUint16(&t) || !exts.ReadUint16LengthPrefixed(&d) {
			return nil, fmt.Errorf("bad extension")
		}
		if _, dup := ch.ext[t]; dup {
			return nil, fmt.Errorf("duplicate extension %d", t)
		}
		ch.extOrder = append(ch.extOrder, t)
		ch.ext[t] = d
		var inner cryptobyte.String
		ok := true
		switch t {
		case extSupportedGroups:
			if ok = d.ReadUint16LengthPrefixed(&inner) && d.Empty(); ok {
				ch.groups, ok = u16s(inner)
			}
		case extSignatureAlgorithms:
			if ok = d.ReadUint16LengthPrefixed(&inner) && d.Empty(); ok {
				ch.sigAlgs, ok = u16s(inner)
			}
		case extSupportedVersions:
			if ok = d.ReadUint8LengthPrefixed(&inner) && d.Empty(); ok {
				ch.versions, ok = u16s(inner)
			}
		case extECPointFormats:
			ok = d.ReadUint8LengthPrefixed(&inner) && d.Empty()
			ch.pointFormats = inner
		case extPSKModes:
			ok = d.ReadUint8LengthPrefixed(&inner) && d.Empty()
			ch.pskModes = inner
		case extServerName:
			var name cryptobyte.String
			var nt uint8
			ok = d.ReadUint16LengthPrefixed(&inner) && d.Empty() && inner.ReadUint8(&nt) && nt == 0 &&
				inner.ReadUint16LengthPrefixed(&name) && inner.Empty()
			ch.sni = string(name)
		case extKeyShare:
			ok = d.ReadUint16LengthPrefixed(&inner) && d.Empty()
			for ok && !inner.Empty() {
				var g uint16
				var key cryptobyte.String
				ok = inner.ReadUint16(&g) && inner.ReadUint16LengthPrefixed(&key)
				ch.keyShares[g] = key
				ch.keyShareOrder = append(ch.keyShareOrder, g)
			}
		}
		if !ok {
			return nil, fmt.Errorf("bad extension %d", t)
		}
	}
	return ch, nil
}

// captures pairs each real ClientHello in testdata/hello with the config that
// models it (see testdata/hello/README.md for how they were taken).
var captures = []struct {
	file string
	cfg  HelloConfig
}{
	{"exim-4.96-gnutls-3.7.9.bin", HelloConfig{}}, // what the model is for: Exim's own hello
	{"gnutls-3.7.9-normal.bin", HelloConfig{Client: ClientGnuTLS}},
	{"gnutls-3.7.9-normal-sni.bin", HelloConfig{Client: ClientGnuTLS, ServerName: "mx.example.test"}},
	{"gnutls-3.7.9-normal-tls12.bin", HelloConfig{Client: ClientGnuTLS, MaxVersion: tls.VersionTLS12}},
	{"openssl-3.0-s_client.bin", HelloConfig{Client: ClientOpenSSL}},
	{"openssl-3.0-s_client-sni.bin", HelloConfig{Client: ClientOpenSSL, ServerName: "mx.example.test"}},
	{"openssl-3.0-s_client-tls12.bin", HelloConfig{Client: ClientOpenSSL, MaxVersion: tls.VersionTLS12}},
	{"openssl-3.0-s_client-tls12-nodhe.bin", HelloConfig{Client: ClientOpenSSL, MaxVersion: tls.VersionTLS12, NoDHE: true}},
}

// TestHelloMatchesCapture holds each modelled hello against the real client's
// capture: everything but random bytes, session id and key share values (and
// padding, which neither real client sent) must be equal.
func TestHelloMatchesCapture(t *testing.T) {
	for _, c := range captures {
		t.Run(c.file, func(t *testing.T) {
			real, err := parseClientHello(testdata(t, c.file))
			if err != nil {
				t.Fatalf("parse capture: %v", err)
			}
			h, err := BuildHello(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := parseClientHello(h.Record)
			if err != nil {
				t.Fatalf("parse our hello: %v", err)
			}
			if _, ok := real.ext[extPadding]; ok {
				t.Fatal("capture has padding; the comparison below assumes none")
			}
			eq := func(what string, a, b any) {
				t.Helper()
				if fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("%s:\n real %x\n ours %x", what, a, b)
				}
			}
			eq("record version", real.recordVersion, ours.recordVersion)
			eq("legacy version", real.version, ours.version)
			eq("session id length", len(real.sessionID), len(ours.sessionID))
			eq("cipher suites", real.suites, ours.suites)
			eq("compression", real.compression, ours.compression)
			eq("extension order", real.extOrder, ours.extOrder)
			eq("supported groups", real.groups, ours.groups)
			eq("signature algorithms", real.sigAlgs, ours.sigAlgs)
			eq("supported versions", real.versions, ours.versions)
			eq("point formats", real.pointFormats, ours.pointFormats)
			eq("psk modes", real.pskModes, ours.pskModes)
			eq("sni", real.sni, ours.sni)
			eq("key share groups", real.keyShareOrder, ours.keyShareOrder)
			for g, k := range real.keyShares {
				eq(fmt.Sprintf("key share 0x%04x length", g), len(k), len(ours.keyShares[g]))
			}
			// Extensions whose bytes carry no randomness must match byte for byte.
			for _, e := range real.extOrder {
				if e == extKeyShare {
					continue
				}
				if !bytes.Equal(real.ext[e], ours.ext[e]) {
					t.Errorf("extension %d: real %x ours %x", e, real.ext[e], ours.ext[e])
				}
			}
			eq("hello length", len(testdata(t, c.file)), len(h.Record))
			// Hello.Suites is what ReadFlight accepts: the wire list minus signalling values.
			wire := slices.DeleteFunc(slices.Clone(ours.suites), func(s uint16) bool { return s == scsvRenegotiation })
			eq("Hello.Suites", wire, h.Suites)
			for _, s := range h.Suites {
				if _, ok := suites[s]; !ok {
					t.Errorf("offered suite %s has no entry in the reader's table", CipherSuiteName(s))
				}
			}
		})
	}
}

func TestBuildHelloKeySharesAreRealKeys(t *testing.T) {
	for _, client := range Clients {
		h, err := BuildHello(HelloConfig{Client: client})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := parseClientHello(h.Record)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.keyShares) == 0 {
			t.Fatalf("%s: no key shares", client)
		}
		for g, k := range ch.keyShares {
			curve := map[uint16]ecdh.Curve{groupX25519: ecdh.X25519(), groupP256: ecdh.P256()}[g]
			if curve == nil {
				t.Fatalf("%s: key share for unexpected group 0x%04x", client, g)
			}
			if _, err := curve.NewPublicKey(k); err != nil {
				t.Errorf("%s: key share 0x%04x is not a valid public key: %v", client, g, err)
			}
		}
		if !slices.Equal(h.keyShares, ch.keyShareOrder) {
			t.Errorf("%s: Hello.keyShares %x, wire %x", client, h.keyShares, ch.keyShareOrder)
		}
	}
}

func TestBuildHelloRand(t *testing.T) {
	seeded := func() *rand.ChaCha8 { return rand.NewChaCha8([32]byte{1}) }
	a, err := BuildHello(HelloConfig{Rand: seeded()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildHello(HelloConfig{Rand: seeded()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Record, b.Record) {
		t.Error("same Rand stream gave different hellos")
	}
	c, err := BuildHello(HelloConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Record, c.Record) {
		t.Error("crypto/rand hello equals the seeded one")
	}
	if _, err := BuildHello(HelloConfig{Rand: bytes.NewReader(make([]byte, 40))}); err == nil {
		t.Error("short Rand: no error")
	}
}

func TestBuildHelloTLS12DropsTLS13Parts(t *testing.T) {
	for _, client := range Clients {
		h, err := BuildHello(HelloConfig{Client: client, MaxVersion: tls.VersionTLS12, AllSuites: true})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := parseClientHello(h.Record)
		if err != nil {
			t.Fatal(err)
		}
		if h.MaxVersion != tls.VersionTLS12 {
			t.Errorf("%s: MaxVersion %x", client, h.MaxVersion)
		}
		for _, e := range []uint16{extSupportedVersions, extKeyShare, extPSKModes} {
			if _, ok := ch.ext[e]; ok {
				t.Errorf("%s: TLS 1.2 hello has extension %d", client, e)
			}
		}
		for _, s := range ch.suites {
			if suites[s].tls13 {
				t.Errorf("%s: TLS 1.2 hello offers %s", client, CipherSuiteName(s))
			}
		}
		if len(ch.sessionID) != 0 {
			t.Errorf("%s: TLS 1.2 hello has a session id", client)
		}
		for _, e := range []uint16{extSupportedGroups, extSignatureAlgorithms, extECPointFormats, extExtendedMasterSec, extSessionTicket} {
			if _, ok := ch.ext[e]; !ok {
				t.Errorf("%s: TLS 1.2 hello lacks extension %d", client, e)
			}
		}
	}
}

func TestBuildHelloAllSuites(t *testing.T) {
	for _, client := range Clients {
		for _, maxv := range []uint16{0, tls.VersionTLS12} {
			name := fmt.Sprintf("%s/%s", client, VersionName(maxv))
			base, err := BuildHello(HelloConfig{Client: client, MaxVersion: maxv})
			if err != nil {
				t.Fatal(err)
			}
			h, err := BuildHello(HelloConfig{Client: client, MaxVersion: maxv, AllSuites: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h.Suites[:len(base.Suites)], base.Suites) {
				t.Errorf("%s: AllSuites does not keep the client's suites first", name)
			}
			for id, s := range suites {
				if s.tls13 && maxv == tls.VersionTLS12 {
					continue
				}
				if !slices.Contains(h.Suites, id) {
					t.Errorf("%s: AllSuites lacks %s", name, s.name)
				}
			}
			ch, err := parseClientHello(h.Record)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []uint16{0x0402, 0x0202} { // dsa_sha256, dsa_sha1
				if !slices.Contains(ch.sigAlgs, a) {
					t.Errorf("%s: AllSuites lacks DSA signature algorithm 0x%04x", name, a)
				}
			}
			hsLen := len(h.Record) - 5
			if hsLen > 0xff && hsLen < 0x200 {
				t.Errorf("%s: hello of %d bytes: padding missing", name, hsLen)
			}
			if _, padded := ch.ext[extPadding]; padded && hsLen != 0x200 {
				t.Errorf("%s: padded hello is %d bytes, want 512", name, hsLen)
			}
			seen := map[uint16]bool{}
			for _, s := range ch.suites {
				if seen[s] {
					t.Errorf("%s: suite %s twice", name, CipherSuiteName(s))
				}
				seen[s] = true
			}
		}
	}
}

func TestBuildHelloServerName(t *testing.T) {
	for _, tc := range []struct {
		in, sni string
		ok      bool
	}{
		{"mx.example.org", "mx.example.org", true},
		{"MX.Example.ORG.", "MX.Example.ORG", true},
		{"192.0.2.1", "", true},
		{"2001:db8::1", "", true},
		{"", "", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"bücher.example", "", false},
		{"a..b", "", false},
		{"a b", "", false},
		{string(bytes.Repeat([]byte("a"), 64)) + ".example", "", false},
	} {
		h, err := BuildHello(HelloConfig{ServerName: tc.in})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		ch, err := parseClientHello(h.Record)
		if err != nil {
			t.Fatal(err)
		}
		if ch.sni != tc.sni {
			t.Errorf("%q: SNI %q, want %q", tc.in, ch.sni, tc.sni)
		}
	}
}

func TestBuildHelloBadConfig(t *testing.T) {
	for _, cfg := range []HelloConfig{
		{Client: "nss"},
		{MaxVersion: tls.VersionTLS11},
		{MaxVersion: 0x0305},
	} {
		if _, err := BuildHello(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	for _, maxv := range []uint16{0, tls.VersionTLS13} {
		h, err := BuildHello(HelloConfig{MaxVersion: maxv})
		if err != nil || h.MaxVersion != tls.VersionTLS13 {
			t.Errorf("MaxVersion %x: %v %x", maxv, err, h.MaxVersion)
		}
	}
}

// TestModelChoice: an AllSuites hello keeps the modelled client's offer
// apart from its extras; a plain hello's extras are none.
func TestModelChoice(t *testing.T) {
	all, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12, AllSuites: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := BuildHello(HelloConfig{MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    Flight
		want bool
	}{
		{Flight{CipherSuite: 0x009f, SigAlg: 0x0401}, true},  // DHE-RSA-AES256-GCM, RSA-SHA256: GnuTLS NORMAL's
		{Flight{CipherSuite: 0xc02f}, true},                  // ECDHE-RSA without a key exchange read
		{Flight{CipherSuite: 0x00a2, SigAlg: 0x0402}, false}, // DHE-DSS: an extra
		{Flight{CipherSuite: 0x009e, SigAlg: 0x0402}, false}, // a modelled suite signed with DSA: an extra
		{Flight{CipherSuite: 0x000a}, false},                 // 3DES with RSA key transport: an extra
	} {
		if got := all.ModelChoice(tc.f); got != tc.want {
			t.Errorf("AllSuites hello: ModelChoice(%s, 0x%04x) = %v", CipherSuiteName(tc.f.CipherSuite), tc.f.SigAlg, got)
		}
		if got := plain.ModelChoice(tc.f); got != tc.want {
			t.Errorf("plain hello: ModelChoice(%s, 0x%04x) = %v", CipherSuiteName(tc.f.CipherSuite), tc.f.SigAlg, got)
		}
	}
	if all.Suites[len(plain.Suites)-1] != plain.Suites[len(plain.Suites)-1] {
		t.Errorf("the AllSuites hello does not start with the modelled suites")
	}
}
