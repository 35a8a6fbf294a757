package tlswire

import (
	"crypto/tls"
	"fmt"
)

// Key exchange kinds reported in Flight.KeyExchange.
const (
	kxDHE   = "DHE"
	kxECDHE = "ECDHE"
	kxRSA   = "RSA"
	kxTLS13 = "" // TLS 1.3 suites do not name a key exchange
)

// suiteInfo describes a cipher suite the flight reader can follow.
type suiteInfo struct {
	name string
	kx   string
	// tls13 marks TLS 1.3 suites (RFC 8446 B.4); they are valid only with TLS 1.3.
	tls13 bool
}

// suites holds every cipher suite BuildHello may offer, and so every suite
// ReadFlight accepts (RFC 5246, 4492, 5288, 5289, 6655, 7905, 8446, 5932).
// Anonymous, PSK, SRP, static DH/ECDH and export suites are absent: the reader
// does not follow their key exchanges.
var suites = map[uint16]suiteInfo{
	// TLS 1.3
	0x1301: {"TLS_AES_128_GCM_SHA256", kxTLS13, true},
	0x1302: {"TLS_AES_256_GCM_SHA384", kxTLS13, true},
	0x1303: {"TLS_CHACHA20_POLY1305_SHA256", kxTLS13, true},
	0x1304: {"TLS_AES_128_CCM_SHA256", kxTLS13, true},
	0x1305: {"TLS_AES_128_CCM_8_SHA256", kxTLS13, true},

	// ECDHE-ECDSA
	0xc02b: {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", kxECDHE, false},
	0xc02c: {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", kxECDHE, false},
	0xcca9: {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", kxECDHE, false},
	0xc0ac: {"TLS_ECDHE_ECDSA_WITH_AES_128_CCM", kxECDHE, false},
	0xc0ad: {"TLS_ECDHE_ECDSA_WITH_AES_256_CCM", kxECDHE, false},
	0xc023: {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", kxECDHE, false},
	0xc024: {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", kxECDHE, false},
	0xc009: {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", kxECDHE, false},
	0xc00a: {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", kxECDHE, false},
	0xc008: {"TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", kxECDHE, false},
	0xc007: {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", kxECDHE, false},

	// ECDHE-RSA
	0xc02f: {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", kxECDHE, false},
	0xc030: {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", kxECDHE, false},
	0xcca8: {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kxECDHE, false},
	0xc027: {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", kxECDHE, false},
	0xc028: {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", kxECDHE, false},
	0xc013: {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", kxECDHE, false},
	0xc014: {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", kxECDHE, false},
	0xc012: {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", kxECDHE, false},
	0xc011: {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", kxECDHE, false},

	// DHE-RSA
	0x009e: {"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kxDHE, false},
	0x009f: {"TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", kxDHE, false},
	0xccaa: {"TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", kxDHE, false},
	0xc09e: {"TLS_DHE_RSA_WITH_AES_128_CCM", kxDHE, false},
	0xc09f: {"TLS_DHE_RSA_WITH_AES_256_CCM", kxDHE, false},
	0x0067: {"TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", kxDHE, false},
	0x006b: {"TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", kxDHE, false},
	0x0033: {"TLS_DHE_RSA_WITH_AES_128_CBC_SHA", kxDHE, false},
	0x0039: {"TLS_DHE_RSA_WITH_AES_256_CBC_SHA", kxDHE, false},
	0x0045: {"TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", kxDHE, false},
	0x0088: {"TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", kxDHE, false},
	0x0016: {"TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", kxDHE, false},
	0x0015: {"TLS_DHE_RSA_WITH_DES_CBC_SHA", kxDHE, false},

	// DHE-DSS
	0x00a2: {"TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", kxDHE, false},
	0x00a3: {"TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", kxDHE, false},
	0x0040: {"TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", kxDHE, false},
	0x006a: {"TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", kxDHE, false},
	0x0032: {"TLS_DHE_DSS_WITH_AES_128_CBC_SHA", kxDHE, false},
	0x0038: {"TLS_DHE_DSS_WITH_AES_256_CBC_SHA", kxDHE, false},
	0x0044: {"TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", kxDHE, false},
	0x0087: {"TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", kxDHE, false},
	0x0013: {"TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", kxDHE, false},
	0x0012: {"TLS_DHE_DSS_WITH_DES_CBC_SHA", kxDHE, false},

	// RSA key transport
	0x009c: {"TLS_RSA_WITH_AES_128_GCM_SHA256", kxRSA, false},
	0x009d: {"TLS_RSA_WITH_AES_256_GCM_SHA384", kxRSA, false},
	0xc09c: {"TLS_RSA_WITH_AES_128_CCM", kxRSA, false},
	0xc09d: {"TLS_RSA_WITH_AES_256_CCM", kxRSA, false},
	0x003c: {"TLS_RSA_WITH_AES_128_CBC_SHA256", kxRSA, false},
	0x003d: {"TLS_RSA_WITH_AES_256_CBC_SHA256", kxRSA, false},
	0x002f: {"TLS_RSA_WITH_AES_128_CBC_SHA", kxRSA, false},
	0x0035: {"TLS_RSA_WITH_AES_256_CBC_SHA", kxRSA, false},
	0x0041: {"TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", kxRSA, false},
	0x0084: {"TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", kxRSA, false},
	0x000a: {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", kxRSA, false},
	0x0005: {"TLS_RSA_WITH_RC4_128_SHA", kxRSA, false},
	0x0004: {"TLS_RSA_WITH_RC4_128_MD5", kxRSA, false},
	0x0009: {"TLS_RSA_WITH_DES_CBC_SHA", kxRSA, false},
}

// extraNames names signalling values that are not real suites.
var extraNames = map[uint16]string{
	0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
	0x5600: "TLS_FALLBACK_SCSV",
}

// CipherSuiteName returns the IANA name of a cipher suite, e.g.
// "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", or "0xC02F"-style hex when unknown.
func CipherSuiteName(id uint16) string {
	if s, ok := suites[id]; ok {
		return s.name
	}
	if n, ok := extraNames[id]; ok {
		return n
	}
	return fmt.Sprintf("0x%04X", id)
}

// VersionName returns "SSL3.0", "TLS1.0" ... "TLS1.3", or "0x0305"-style hex.
func VersionName(v uint16) string {
	switch v {
	//lint:ignore SA1019 naming an old version is fine
	case tls.VersionSSL30: //nolint:staticcheck // naming an old version is fine
		return "SSL3.0"
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return fmt.Sprintf("0x%04X", v)
}
