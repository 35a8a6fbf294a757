package tlswire

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Client is a modelled TLS client: the library whose ClientHello (and
// whose rules, in lookupd/verdict) a probe models. Its values are the
// strings of tlsprobed's probe.client setting.
type Client string

// The modelled clients.
const (
	ClientGnuTLS  Client = "gnutls"  // Debian's Exim (GnuTLS); the default where a Client is ""
	ClientOpenSSL Client = "openssl" // an Exim built with OpenSSL
)

// Clients lists every modelled client.
var Clients = []Client{ClientGnuTLS, ClientOpenSSL}

// ErrUnknownClient is returned by ParseClient for a name that is no modelled client.
var ErrUnknownClient = errors.New("unknown TLS client")

// ParseClient returns the modelled client named s ("gnutls" or "openssl").
func ParseClient(s string) (Client, error) {
	c := Client(s)
	if !slices.Contains(Clients, c) {
		return "", fmt.Errorf("parse client %q: %w (want %q or %q)", s, ErrUnknownClient, ClientGnuTLS, ClientOpenSSL)
	}
	return c, nil
}

// HelloConfig selects the ClientHello BuildHello writes.
type HelloConfig struct {
	Client     Client    // ClientGnuTLS (default when "") or ClientOpenSSL
	ServerName string    // SNI host name; "" (or an IP literal, like the real clients) = no SNI extension
	MaxVersion uint16    // 0 = the modelled client's own maximum (TLS 1.3); tls.VersionTLS12 = no TLS 1.3 offered
	AllSuites  bool      // offer every cipher suite the parser understands (DHE-DSS, DHE-RSA, RSA kx, ECDHE...) to read a certificate
	NoDHE      bool      // leave out the suites with a finite-field DHE key exchange, as OpenSSL's cipher string "DEFAULT:!kDHE" does
	Rand       io.Reader // nil = crypto/rand
}

// Hello is a ClientHello ready to be written, plus what ReadFlight needs to
// check the server's answer.
type Hello struct {
	Record     []byte   // ready-to-write TLS record(s)
	Suites     []uint16 // cipher suites offered (signalling values excluded)
	MaxVersion uint16   // highest version offered

	groups    []uint16 // supported_groups offered
	keyShares []uint16 // groups that got a key share (TLS 1.3)

	// What Complete needs to finish a TLS 1.2 handshake on this hello.
	msg     []byte          // the ClientHello handshake message (the transcript's start)
	random  []byte          // ClientHello.random
	offered map[uint16]bool // extensions offered (extended_master_secret, encrypt_then_mac)

	// The modelled client's own offer, without AllSuites' extras (ModelChoice).
	modelSuites, modelSigAlgs []uint16
}

// ModelChoice reports whether what the server chose in f (the cipher suite
// and, with a ServerKeyExchange, its signature algorithm) lies within the
// modelled client's own offer, so that the hello without AllSuites' extras
// would have allowed the same choice. An AllSuites hello lists the
// modelled client's suites and signature algorithms first and the extras
// after: a server that picks by the client's order, or by its own, picks
// from the modelled ones exactly what it would pick from them alone, when
// it picks one of them at all (docs/probe.md).
func (h *Hello) ModelChoice(f Flight) bool {
	if !slices.Contains(h.modelSuites, f.CipherSuite) {
		return false
	}
	return f.SigAlg == 0 || slices.Contains(h.modelSigAlgs, f.SigAlg)
}

const (
	typeClientHello  = 1
	recordHandshake  = 22
	recordVersion10  = 0x0301 // record-layer version the real clients use for the hello
	maxRecordPayload = 1 << 14
	// P-256 scalars drawn from Rand are rejected when >= the group order,
	// which happens with probability ~2^-32; give up after a few draws.
	maxScalarDraws = 8
)

// BuildHello writes a ClientHello shaped like the configured client's.
// With MaxVersion TLS 1.2 the TLS 1.3 parts (TLS 1.3 suites, supported_versions,
// key_share, psk_key_exchange_modes, the 32-byte compatibility session id) go,
// exactly as the real client drops them (OpenSSL also drops the FFDHE groups,
// GnuTLS lowers record_size_limit to 2^14). AllSuites appends every suite in
// the reader's table, DSA and SHA-1 signature algorithms, and RFC 7685 padding
// when the hello is 256-511 bytes long (old load balancers hang on those).
func BuildHello(cfg HelloConfig) (*Hello, error) {
	var p *profile
	switch cfg.Client {
	case "", ClientGnuTLS:
		p = &gnutlsNormal
	case ClientOpenSSL:
		p = &opensslSClient
	default:
		return nil, fmt.Errorf("build hello: unknown client %q", cfg.Client)
	}
	var tls13 bool
	switch cfg.MaxVersion {
	case 0, tls.VersionTLS13:
		tls13 = true
	case tls.VersionTLS12:
	default:
		return nil, fmt.Errorf("build hello: max version %s not supported", VersionName(cfg.MaxVersion))
	}
	sni, err := sniName(cfg.ServerName)
	if err != nil {
		return nil, fmt.Errorf("build hello: %w", err)
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}

	h := &Hello{MaxVersion: tls.VersionTLS12}
	if tls13 {
		h.MaxVersion = tls.VersionTLS13
		h.Suites = append(h.Suites, p.suites13...)
	}
	h.Suites = append(h.Suites, p.suites12...)
	if cfg.NoDHE {
		if cfg.AllSuites {
			return nil, errors.New("build hello: AllSuites and NoDHE together")
		}
		h.Suites = slices.DeleteFunc(h.Suites, func(s uint16) bool { return suites[s].kx == kxDHE })
	}
	sigAlgs := p.sigAlgs
	h.modelSuites, h.modelSigAlgs = slices.Clone(h.Suites), sigAlgs
	if cfg.AllSuites {
		for _, s := range allSuitesOrder {
			if !slices.Contains(h.Suites, s) && (tls13 || !suites[s].tls13) {
				h.Suites = append(h.Suites, s)
			}
		}
		sigAlgs = slices.Clone(sigAlgs)
		for _, a := range allSuitesSigAlgs {
			if !slices.Contains(sigAlgs, a) {
				sigAlgs = append(sigAlgs, a)
			}
		}
	}
	h.groups = p.groups
	if !tls13 && p.groups12 != nil {
		h.groups = p.groups12
	}

	random := make([]byte, 32)
	if _, err := io.ReadFull(rnd, random); err != nil {
		return nil, fmt.Errorf("build hello: read random: %w", err)
	}
	var sessionID []byte
	var shares []keyShare
	if tls13 {
		sessionID = make([]byte, 32) // RFC 8446 D.4 middlebox compatibility
		if _, err := io.ReadFull(rnd, sessionID); err != nil {
			return nil, fmt.Errorf("build hello: read session id: %w", err)
		}
		for _, g := range p.keyShares {
			pub, err := newKeyShare(g, rnd)
			if err != nil {
				return nil, fmt.Errorf("build hello: key share: %w", err)
			}
			shares = append(shares, keyShare{g, pub})
			h.keyShares = append(h.keyShares, g)
		}
	}

	ext := extensionSet{p: p, tls13: tls13, sni: sni, sigAlgs: sigAlgs, groups: h.groups, shares: shares}
	suiteList := h.Suites
	if p.scsv {
		suiteList = append(slices.Clone(suiteList), scsvRenegotiation)
	}
	msg, err := clientHello(random, sessionID, suiteList, ext, 0)
	if err != nil {
		return nil, err
	}
	if cfg.AllSuites && len(msg) > 0xff && len(msg) < 0x200 {
		pad := 0x200 - len(msg) - 4
		if pad < 1 {
			pad = 1
		}
		if msg, err = clientHello(random, sessionID, suiteList, ext, pad); err != nil {
			return nil, err
		}
	}
	h.Record = handshakeRecords(msg)
	h.msg, h.random = msg, random
	h.offered = map[uint16]bool{}
	for _, t := range p.order {
		h.offered[t] = true
	}
	return h, nil
}

type keyShare struct {
	group uint16
	pub   []byte
}

// newKeyShare makes a real public key (RFC 8446 4.2.8.2) so that a server
// accepts it; the private key is dropped, the handshake is never finished.
func newKeyShare(group uint16, rnd io.Reader) ([]byte, error) {
	curve := curveOf(group)
	if curve == nil {
		return nil, fmt.Errorf("no key share for group 0x%04x", group)
	}
	size := map[uint16]int{groupX25519: 32, groupP256: 32, groupP384: 48, groupP521: 66}[group]
	scalar := make([]byte, size)
	for range maxScalarDraws {
		if _, err := io.ReadFull(rnd, scalar); err != nil {
			return nil, err
		}
		if group == groupP521 {
			scalar[0] &= 1 // P-521 scalars are 521 bits
		}
		// Go 1.26 ignores the rand argument of GenerateKey; building the key
		// from our own bytes keeps HelloConfig.Rand meaningful.
		key, err := curve.NewPrivateKey(scalar)
		if err == nil {
			return key.PublicKey().Bytes(), nil
		}
	}
	return nil, errors.New("no valid scalar drawn")
}

// sniName checks a server name for the server_name extension (RFC 6066 3).
func sniName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || net.ParseIP(name) != nil {
		return "", nil // real clients send no SNI for IP literals
	}
	if len(name) > 253 {
		return "", fmt.Errorf("server name too long (%d bytes)", len(name))
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("invalid server name %q", name)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("invalid server name %q (A-labels only)", name)
			}
		}
	}
	return name, nil
}

// extensionSet holds what the extensions of one hello carry.
type extensionSet struct {
	p       *profile
	tls13   bool
	sni     string
	sigAlgs []uint16
	groups  []uint16
	shares  []keyShare
}

// clientHello marshals the handshake message (RFC 8446 4.1.2). pad > 0 adds
// a padding extension (RFC 7685) with pad zero bytes at the end.
func clientHello(random, sessionID []byte, suiteList []uint16, ext extensionSet, pad int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(typeClientHello)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16(tls.VersionTLS12) // legacy_version
		b.AddBytes(random)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sessionID) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range suiteList {
				b.AddUint16(s)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) }) // null compression
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, t := range ext.p.order {
				ext.add(b, t)
			}
			if pad > 0 {
				b.AddUint16(extPadding)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, pad)) })
			}
		})
	})
	msg, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("build hello: %w", err)
	}
	return msg, nil
}

// add writes extension t, or nothing when it does not apply to this hello.
func (e extensionSet) add(b *cryptobyte.Builder, t uint16) {
	p := e.p
	body := func(f func(b *cryptobyte.Builder)) {
		b.AddUint16(t)
		b.AddUint16LengthPrefixed(f)
	}
	u16list := func(vs []uint16) func(b *cryptobyte.Builder) {
		return func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, v := range vs {
					b.AddUint16(v)
				}
			})
		}
	}
	empty := func(*cryptobyte.Builder) {}
	switch t {
	case extServerName:
		if e.sni == "" {
			return
		}
		body(func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint8(0) // host_name
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(e.sni)) })
			})
		})
	case extStatusRequest:
		body(func(b *cryptobyte.Builder) {
			b.AddUint8(1)  // ocsp
			b.AddUint16(0) // responder_id_list
			b.AddUint16(0) // request_extensions
		})
	case extSupportedGroups:
		body(u16list(e.groups))
	case extECPointFormats:
		body(func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.pointFormats) })
		})
	case extSignatureAlgorithms:
		body(u16list(e.sigAlgs))
	case extEncryptThenMAC, extExtendedMasterSec, extSessionTicket:
		body(empty)
	case extRenegotiationInfo:
		body(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	case extRecordSizeLimit:
		limit := p.recordSizeLimit
		if !e.tls13 {
			limit = p.recordSizeLimit12
		}
		if limit == 0 {
			return
		}
		body(func(b *cryptobyte.Builder) { b.AddUint16(limit) })
	case extSupportedVersions:
		if !e.tls13 {
			return
		}
		body(func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, v := range p.versions {
					b.AddUint16(v)
				}
			})
		})
	case extPSKModes:
		if !e.tls13 {
			return
		}
		body(func(b *cryptobyte.Builder) {
			b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.pskModes) })
		})
	case extKeyShare:
		if !e.tls13 {
			return
		}
		body(func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				for _, s := range e.shares {
					b.AddUint16(s.group)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.pub) })
				}
			})
		})
	default:
		b.SetError(fmt.Errorf("no writer for extension %d", t))
	}
}

// handshakeRecords wraps a handshake message in records of at most 2^14 bytes.
func handshakeRecords(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+5*(len(msg)/maxRecordPayload+1))
	for len(msg) > 0 {
		n := min(len(msg), maxRecordPayload)
		out = append(out, recordHandshake, recordVersion10>>8, recordVersion10&0xff, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}
