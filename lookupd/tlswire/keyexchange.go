package tlswire

import (
	"crypto/tls"
	"fmt"
	"math/bits"

	"golang.org/x/crypto/cryptobyte"
)

// maxDHBits caps the DH prime; no implementation uses more than 8192 bits.
const maxDHBits = 16384

const curveTypeNamed = 3 // ECCurveType named_curve (RFC 8422 5.4)

// keyExchange is what a ServerKeyExchange carries that the probe reports.
type keyExchange struct {
	prime, generator []byte // DHE (copies)
	public           []byte // the server's public value: DHE Ys, ECDHE point (a copy)
	curve            uint16 // ECDHE
	sigHash          string // TLS 1.2: the signature's hash (SigHashName); "" before TLS 1.2
	sigAlg           uint16 // TLS 1.2: the SignatureAndHashAlgorithm; 0 before TLS 1.2
}

// parseServerKeyExchange parses a ServerKeyExchange body for a DHE (RFC 5246
// 7.4.3) or ECDHE (RFC 8422 5.4) suite, signature included: TLS 1.2 carries a
// SignatureAndHashAlgorithm before it, older versions do not.
func parseServerKeyExchange(body []byte, kx string, version uint16) (keyExchange, error) {
	var ke keyExchange
	s := cryptobyte.String(body)
	switch kx {
	case kxDHE:
		var p, g, ys cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&p) || !s.ReadUint16LengthPrefixed(&g) || !s.ReadUint16LengthPrefixed(&ys) {
			return ke, fmt.Errorf("short DH parameters: %w", ErrMalformed)
		}
		switch n := bitLen(p); {
		case n == 0:
			return ke, fmt.Errorf("DH prime of 0 bits: %w", ErrMalformed)
		case n > maxDHBits:
			return ke, fmt.Errorf("DH prime of %d bits: %w", n, ErrTooLarge)
		}
		if bitLen(g) == 0 || bitLen(ys) == 0 {
			return ke, fmt.Errorf("DH generator or public value zero: %w", ErrMalformed)
		}
		ke.prime = append([]byte(nil), p...)
		ke.generator = append([]byte(nil), g...)
		ke.public = append([]byte(nil), ys...)
	case kxECDHE:
		var curveType uint8
		var point cryptobyte.String
		if !s.ReadUint8(&curveType) {
			return ke, fmt.Errorf("short EC parameters: %w", ErrMalformed)
		}
		if curveType != curveTypeNamed {
			return ke, fmt.Errorf("EC curve type %d (explicit curves): %w", curveType, ErrMalformed)
		}
		if !s.ReadUint16(&ke.curve) || !s.ReadUint8LengthPrefixed(&point) || point.Empty() {
			return ke, fmt.Errorf("short EC parameters: %w", ErrMalformed)
		}
		ke.public = append([]byte(nil), point...)
	default:
		return ke, fmt.Errorf("server key exchange for %q key exchange: %w", kx, ErrUnexpectedMessage)
	}
	if version >= tls.VersionTLS12 {
		var alg uint16
		if !s.ReadUint16(&alg) {
			return ke, fmt.Errorf("missing signature algorithm: %w", ErrMalformed)
		}
		ke.sigHash, ke.sigAlg = SigHashName(alg), alg
	}
	var sig cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&sig) || sig.Empty() || !s.Empty() {
		return ke, fmt.Errorf("server key exchange signature: %w", ErrMalformed)
	}
	return ke, nil
}

// bitLen is the bit length of a big-endian unsigned integer.
func bitLen(b []byte) int {
	for i, c := range b {
		if c != 0 {
			return (len(b)-i-1)*8 + bits.Len8(c)
		}
	}
	return 0
}

// SigHashName names the hash of a TLS 1.2 SignatureAndHashAlgorithm (RFC
// 5246 7.4.1.4.1; RFC 8446 4.2.3 for the SignatureScheme code points):
// "MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "intrinsic"
// (Ed25519, Ed448) or "0xNN" for a hash byte it does not know. OpenSSL 3
// refuses MD5 and SHA-1 signatures at security level 1 and above.
func SigHashName(alg uint16) string {
	switch alg {
	case 0x0807, 0x0808: // ed25519, ed448
		return "intrinsic"
	case 0x0804, 0x0809: // rsa_pss_rsae_sha256, rsa_pss_pss_sha256
		return "SHA256"
	case 0x0805, 0x080a:
		return "SHA384"
	case 0x0806, 0x080b:
		return "SHA512"
	}
	switch h := alg >> 8; h {
	case 1:
		return "MD5"
	case 2:
		return "SHA1"
	case 3:
		return "SHA224"
	case 4:
		return "SHA256"
	case 5:
		return "SHA384"
	case 6:
		return "SHA512"
	default:
		return fmt.Sprintf("0x%02x", h)
	}
}
