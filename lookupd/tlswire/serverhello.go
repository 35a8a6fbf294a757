package tlswire

import (
	"bytes"
	"crypto/tls"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// helloRetryRandom is ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3).
var helloRetryRandom = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// Downgrade sentinels at the end of ServerHello.random (RFC 8446 4.1.3).
var (
	downgradeTLS12 = []byte("DOWNGRD\x01") // server speaks TLS 1.3, chose TLS 1.2
	downgradeTLS11 = []byte("DOWNGRD\x00") // server speaks TLS 1.2 or later, chose TLS 1.1 or lower
)

// serverHello is the part of a ServerHello (RFC 5246 7.4.1.3, RFC 8446 4.1.3)
// the flight reader uses.
type serverHello struct {
	legacyVersion uint16
	random        []byte
	cipherSuite   uint16
	compression   uint8
	// extensions
	selectedVersion uint16 // supported_versions; 0 = absent
	keyShareGroup   uint16 // key_share group (TLS 1.3) or selected_group (HRR); 0 = absent
	hasKeyShare     bool
	helloRetry      bool
	ems, etm        bool // extended_master_secret (RFC 7627), encrypt_then_mac (RFC 7366) accepted
}

// parseServerHello parses a ServerHello body (the handshake header removed).
func parseServerHello(body []byte) (serverHello, error) {
	var sh serverHello
	s := cryptobyte.String(body)
	var sessionID cryptobyte.String
	if !s.ReadUint16(&sh.legacyVersion) || !s.ReadBytes(&sh.random, 32) ||
		!s.ReadUint8LengthPrefixed(&sessionID) || !s.ReadUint16(&sh.cipherSuite) ||
		!s.ReadUint8(&sh.compression) {
		return sh, fmt.Errorf("short server hello: %w", ErrMalformed)
	}
	if len(sessionID) > 32 {
		return sh, fmt.Errorf("session id of %d bytes: %w", len(sessionID), ErrMalformed)
	}
	sh.helloRetry = bytes.Equal(sh.random, helloRetryRandom)
	if s.Empty() {
		return sh, nil // extensions are optional before TLS 1.3
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return sh, fmt.Errorf("server hello extensions block: %w", ErrMalformed)
	}
	seen := map[uint16]bool{}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return sh, fmt.Errorf("server hello extension: %w", ErrMalformed)
		}
		if seen[typ] {
			return sh, fmt.Errorf("duplicate extension %d: %w", typ, ErrMalformed)
		}
		seen[typ] = true
		switch typ {
		case extExtendedMasterSec:
			sh.ems = data.Empty()
		case extEncryptThenMAC:
			sh.etm = data.Empty()
		case extSupportedVersions:
			if !data.ReadUint16(&sh.selectedVersion) || !data.Empty() {
				return sh, fmt.Errorf("supported_versions extension: %w", ErrMalformed)
			}
		case extKeyShare:
			sh.hasKeyShare = true
			if !data.ReadUint16(&sh.keyShareGroup) {
				return sh, fmt.Errorf("key_share extension: %w", ErrMalformed)
			}
			if sh.helloRetry {
				if !data.Empty() {
					return sh, fmt.Errorf("hello retry key_share extension: %w", ErrMalformed)
				}
				break
			}
			var key cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&key) || len(key) == 0 || !data.Empty() {
				return sh, fmt.Errorf("key_share extension: %w", ErrMalformed)
			}
		}
	}
	return sh, nil
}

// applyServerHello checks sh against the hello that was sent and fills f.
func applyServerHello(sh serverHello, h *Hello, f *Flight) error {
	f.HelloRetry = sh.helloRetry
	switch {
	case sh.selectedVersion != 0:
		if h.MaxVersion < tls.VersionTLS13 {
			return fmt.Errorf("supported_versions extension not offered: %w", ErrMalformed)
		}
		if sh.selectedVersion != tls.VersionTLS13 || sh.legacyVersion != tls.VersionTLS12 {
			return fmt.Errorf("selected version %s (legacy %s): %w",
				VersionName(sh.selectedVersion), VersionName(sh.legacyVersion), ErrMalformed)
		}
		f.Version = tls.VersionTLS13
	case sh.helloRetry:
		return fmt.Errorf("hello retry request without supported_versions: %w", ErrMalformed)
	default:
		//lint:ignore SA1019 SSL 3.0 is named, not used
		if sh.legacyVersion < tls.VersionSSL30 || sh.legacyVersion > tls.VersionTLS12 || sh.legacyVersion > h.MaxVersion { //nolint:staticcheck // SSL 3.0 is named, not used
			return fmt.Errorf("server version %s: %w", VersionName(sh.legacyVersion), ErrMalformed)
		}
		f.Version = sh.legacyVersion
	}
	if sh.compression != 0 {
		return fmt.Errorf("compression method %d: %w", sh.compression, ErrMalformed)
	}

	f.CipherSuite = sh.cipherSuite
	info, known := suites[sh.cipherSuite]
	if !known || !offered(h.Suites, sh.cipherSuite) {
		return fmt.Errorf("server chose %s: %w", CipherSuiteName(sh.cipherSuite), ErrBadSuite)
	}
	if info.tls13 != (f.Version == tls.VersionTLS13) {
		return fmt.Errorf("server chose %s with %s: %w", info.name, VersionName(f.Version), ErrBadSuite)
	}
	f.KeyExchange = info.kx

	if f.Version == tls.VersionTLS13 {
		f.Curve = sh.keyShareGroup
		switch {
		case sh.helloRetry:
			// The group asked for must be offered, and not one we sent a share for.
			if sh.hasKeyShare && (!offered(h.groups, sh.keyShareGroup) || offered(h.keyShares, sh.keyShareGroup)) {
				return fmt.Errorf("hello retry for group 0x%04x: %w", sh.keyShareGroup, ErrMalformed)
			}
		case !sh.hasKeyShare:
			return fmt.Errorf("TLS 1.3 server hello without key_share: %w", ErrMalformed)
		case !offered(h.keyShares, sh.keyShareGroup):
			return fmt.Errorf("key share for group 0x%04x not offered: %w", sh.keyShareGroup, ErrMalformed)
		}
		return nil
	}

	tail := sh.random[24:]
	if bytes.Equal(tail, downgradeTLS12) || bytes.Equal(tail, downgradeTLS11) {
		if h.MaxVersion >= tls.VersionTLS13 || (bytes.Equal(tail, downgradeTLS11) && h.MaxVersion >= tls.VersionTLS12) {
			// A real client aborts with illegal_parameter: a downgrade.
			return fmt.Errorf("downgrade sentinel with %s offered: %w", VersionName(h.MaxVersion), ErrMalformed)
		}
		f.ServerTLS13 = bytes.Equal(tail, downgradeTLS12)
	}
	return nil
}

// offered reports whether v is in list; a nil list (a Hello not made by
// BuildHello) does not restrict.
func offered(list []uint16, v uint16) bool {
	if list == nil {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
