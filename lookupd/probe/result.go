package probe

import (
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Outcome is how far the probe of one address got. What the server showed
// on the way (key, prime, versions) is in the other fields of Facts; whether
// that makes the address smallkey or tlsexport is for the policy in force to
// say (lookupd/verdict), not for the probe.
type Outcome string

// The outcomes of a probe.
const (
	// OK: the modelled client reaches TLS with the server; the key and the
	// key exchange are known.
	OK Outcome = "ok"
	// NoTLS: the server does not offer STARTTLS or refuses it; Exim sends in clear.
	NoTLS Outcome = "notls"
	// Error: the probe could not finish, or the modelled client cannot
	// negotiate with the server; Stage and Error say where and why. The key
	// may still be known (a DSA-only server, read with every suite).
	Error Outcome = "error"
)

// NoDHE is the result of the openssl client's hello without DHE suites.
type NoDHE string

// The results of the hello without DHE suites.
const (
	NoDHENotTried NoDHE = ""
	NoDHEOK       NoDHE = "ok"      // the server negotiated another key exchange (ECDHE, RSA)
	NoDHERefused  NoDHE = "refused" // the server refused it: it has no suite but DHE for that client
)

// ReportedFailure is what a report of Exim's says failed at an address.
type ReportedFailure string

// The failures a report can state (lookupd/observe.FromReport).
const (
	ReportedNone ReportedFailure = ""
	// ReportedDHTooSmall: the client refused the server's DHE prime
	// (GnuTLS "Diffie-Hellman prime ... not long enough", OpenSSL "dh key
	// too small"); the prime's size is not said.
	ReportedDHTooSmall ReportedFailure = "dh-too-small"
	// ReportedHandshake: another TLS handshake failure (no shared cipher,
	// protocol version, legacy signature algorithm...).
	ReportedHandshake ReportedFailure = "handshake"
)

// Facts are what one probe of one address (IP and port) observed with the
// modelled client. They hold no verdict: the same facts give another answer
// under another key_min_bits, dh_min_bits or tls13 setting.
type Facts struct {
	Addr       netip.AddrPort `json:"addr"`
	Client     tlswire.Client `json:"client"` // the modelled TLS client: "gnutls" or "openssl"
	Outcome    Outcome        `json:"outcome"`
	Stage      stage.Stage    `json:"stage,omitempty"` // where an Error (or a NoTLS) happened
	Error      string         `json:"error,omitempty"`
	TLSVersion string         `json:"tls_version,omitempty"` // what the modelled client negotiates, when known
	Cipher     string         `json:"cipher,omitempty"`
	KeyType    string         `json:"key_type,omitempty"` // "RSA", "DSA", "ECDSA", "Ed25519"
	KeyBits    int            `json:"key_bits,omitempty"`
	DHBits     int            `json:"dh_bits,omitempty"` // DHE prime sent to a TLS 1.2 hello
	TLS13      bool           `json:"tls13,omitempty"`   // the server negotiates TLS 1.3 with the modelled client
	// NoDHE is what a DHE server that does not speak TLS 1.3 did with the
	// openssl client's TLS 1.2 hello without DHE suites (an OpenSSL Exim's
	// tls_require_ciphers = DEFAULT:!kDHE): NoDHEOK with NoDHECipher, or
	// NoDHERefused; empty when not tried (the gnutls client, or a server
	// that did not choose DHE).
	NoDHE       NoDHE  `json:"no_dhe,omitempty"`
	NoDHECipher string `json:"no_dhe_cipher,omitempty"`
	// SigHash is the hash of the ServerKeyExchange signature of a TLS 1.2
	// handshake (tlswire.SigHashName: "SHA1", "SHA256"...), empty when
	// unknown or before TLS 1.2 (TLSVersion says which): OpenSSL 3 refuses
	// SHA-1 and MD5 signatures, and TLS 1.0/1.1, at security level 1 and above.
	SigHash string `json:"sig_hash,omitempty"`
	// Reported marks a view made from Exim's report of a failed TLS
	// handshake (lookupd/observe.FromReport), not from a probe: Error says
	// what Exim's TLS library said; only what that text states is set.
	Reported ReportedFailure `json:"reported,omitempty"`
	Note     string          `json:"note,omitempty"`
	Time     time.Time       `json:"time"`
	Duration time.Duration   `json:"duration_ns"`
	// Also holds other views of the same address that disagree with the one
	// above, each exactly what one connection (or one report of Exim's)
	// showed, never blended with another: a balancer in front of
	// differently configured servers shows several. The probe fills it when
	// its own connections disagree; the daemon keeps earlier views for the
	// facts' TTL, so a weakness once seen stays known although a later
	// connection landed on a modern server. The verdict treats every view
	// like an address of its own. Entries have no Also of their own; the
	// list is short (bounded by whoever fills it).
	Also []Facts `json:"also,omitempty"`

	// Issue 18 (the polite probe): what the probe did not look at.
	//
	// KXUnobserved: the server negotiated TLS 1.3 in the probe's clean
	// session and no TLS 1.2 hello was sent, so DHBits is unknown (not
	// "no DHE"). A policy whose client offers TLS 1.2 at most (tls13 =
	// false) must not trust DHBits of such facts: the probe of a daemon with
	// that policy sets Options.NoTLS13 and observes the TLS 1.2 key exchange.
	KXUnobserved bool `json:"kx_unobserved,omitempty"`
}
