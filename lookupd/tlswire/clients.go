package tlswire

// Extension types (IANA TLS ExtensionType registry).
const (
	extServerName          = 0
	extStatusRequest       = 5
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extPadding             = 21
	extEncryptThenMAC      = 22
	extExtendedMasterSec   = 23
	extRecordSizeLimit     = 28
	extSessionTicket       = 35
	extSupportedVersions   = 43
	extPSKModes            = 45
	extKeyShare            = 51
	extRenegotiationInfo   = 0xff01
)

// Named groups (RFC 8422, RFC 7919, RFC 8446).
const (
	groupP256      = 0x0017
	groupP384      = 0x0018
	groupP521      = 0x0019
	groupX25519    = 0x001d
	groupX448      = 0x001e
	groupFFDHE2048 = 0x0100
	groupFFDHE3072 = 0x0101
	groupFFDHE4096 = 0x0102
	groupFFDHE6144 = 0x0103
	groupFFDHE8192 = 0x0104
)

const scsvRenegotiation = 0x00ff // TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746)

// profile is the ClientHello layout of one real client, read from the
// captures in testdata/hello (see README.md there). Fields ending in 12 apply
// when TLS 1.3 is not offered.
type profile struct {
	suites13 []uint16 // TLS 1.3 suites, sent first
	suites12 []uint16
	scsv     bool // TLS_EMPTY_RENEGOTIATION_INFO_SCSV after the suites

	groups, groups12 []uint16
	keyShares        []uint16 // groups with a key share, in order
	sigAlgs          []uint16
	pointFormats     []uint8
	versions         []uint16 // supported_versions when TLS 1.3 is offered
	pskModes         []uint8

	// recordSizeLimit* is the record_size_limit value (RFC 8449); 0 = none.
	recordSizeLimit, recordSizeLimit12 uint16

	order []uint16 // extension order; TLS 1.3-only and SNI entries are skipped when unused
}

// gnutlsNormal is `gnutls-cli --priority NORMAL` of GnuTLS 3.7.9 (Debian 12),
// whose hello Debian's Exim 4.96 sends unchanged (testdata/hello/exim-*.bin).
// It offers the FFDHE groups (RFC 7919) with and without TLS 1.3, key shares
// for secp256r1 and x25519 only, and no DSA.
var gnutlsNormal = profile{
	suites13: []uint16{0x1302, 0x1303, 0x1301, 0x1304},
	suites12: []uint16{
		0xc02c, 0xcca9, 0xc0ad, 0xc00a, 0xc02b, 0xc0ac, 0xc009, 0xc030,
		0xcca8, 0xc014, 0xc02f, 0xc013, 0x009d, 0xc09d, 0x0035, 0x009c,
		0xc09c, 0x002f, 0x009f, 0xccaa, 0xc09f, 0x0039, 0x009e, 0xc09e,
		0x0033,
	},
	groups: []uint16{
		groupP256, groupP384, groupP521, groupX25519, groupX448,
		groupFFDHE2048, groupFFDHE3072, groupFFDHE4096, groupFFDHE6144, groupFFDHE8192,
	},
	keyShares: []uint16{groupP256, groupX25519},
	sigAlgs: []uint16{
		0x0401, 0x0809, 0x0804, 0x0403, 0x0807, 0x0501, 0x080a, 0x0805,
		0x0503, 0x0808, 0x0601, 0x080b, 0x0806, 0x0603, 0x0201, 0x0203,
	},
	pointFormats:      []uint8{0},
	versions:          []uint16{0x0304, 0x0303, 0x0302, 0x0301},
	pskModes:          []uint8{1, 0},
	recordSizeLimit:   0x4001,
	recordSizeLimit12: 0x4000,
	order: []uint16{
		extStatusRequest, extSupportedGroups, extECPointFormats, extSignatureAlgorithms,
		extEncryptThenMAC, extExtendedMasterSec, extSessionTicket, extKeyShare,
		extSupportedVersions, extRenegotiationInfo, extServerName, extPSKModes,
		extRecordSizeLimit,
	},
}

// opensslSClient is `openssl s_client` of OpenSSL 3.0 (default security level
// and cipher list). Without TLS 1.3 it drops the FFDHE groups.
var opensslSClient = profile{
	suites13: []uint16{0x1302, 0x1303, 0x1301},
	suites12: []uint16{
		0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f,
		0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a,
		0xc014, 0x0039, 0xc009, 0xc013, 0x0033, 0x009d, 0x009c, 0x003d,
		0x003c, 0x0035, 0x002f,
	},
	scsv: true,
	groups: []uint16{
		groupX25519, groupP256, groupX448, groupP521, groupP384,
		groupFFDHE2048, groupFFDHE3072, groupFFDHE4096, groupFFDHE6144, groupFFDHE8192,
	},
	groups12:  []uint16{groupX25519, groupP256, groupX448, groupP521, groupP384},
	keyShares: []uint16{groupX25519},
	sigAlgs: []uint16{
		0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b,
		0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
		0x0302, 0x0402, 0x0502, 0x0602,
	},
	pointFormats: []uint8{0, 1, 2},
	versions:     []uint16{0x0304, 0x0303, 0x0302, 0x0301},
	pskModes:     []uint8{1},
	order: []uint16{
		extServerName, extECPointFormats, extSupportedGroups, extSessionTicket,
		extEncryptThenMAC, extExtendedMasterSec, extSignatureAlgorithms,
		extSupportedVersions, extPSKModes, extKeyShare,
	},
}

// allSuitesSigAlgs are added (when missing) in AllSuites mode so that a server
// with a DSA key, or one that signs only with SHA-1, can answer.
var allSuitesSigAlgs = []uint16{0x0402, 0x0502, 0x0602, 0x0302, 0x0202, 0x0201, 0x0203}

// allSuitesOrder lists every suite the reader follows, in preference order;
// AllSuites mode appends those the client profile lacks (TLS 1.3 suites only
// when TLS 1.3 is offered).
var allSuitesOrder = []uint16{
	0x1301, 0x1302, 0x1303, 0x1304, 0x1305,
	0xc02b, 0xc02c, 0xcca9, 0xc0ac, 0xc0ad, 0xc023, 0xc024, 0xc009, 0xc00a, 0xc008, 0xc007,
	0xc02f, 0xc030, 0xcca8, 0xc027, 0xc028, 0xc013, 0xc014, 0xc012, 0xc011,
	0x009e, 0x009f, 0xccaa, 0xc09e, 0xc09f, 0x0067, 0x006b, 0x0033, 0x0039, 0x0045, 0x0088, 0x0016, 0x0015,
	0x00a2, 0x00a3, 0x0040, 0x006a, 0x0032, 0x0038, 0x0044, 0x0087, 0x0013, 0x0012,
	0x009c, 0x009d, 0xc09c, 0xc09d, 0x003c, 0x003d, 0x002f, 0x0035, 0x0041, 0x0084, 0x000a, 0x0005, 0x0004, 0x0009,
}
