// Package verdict decides what tlsprobed answers for a domain ("smallkey",
// "tlsexport" or nothing for the gnutls client; "nodhe", "seclevel1",
// "seclevel0" or nothing for the openssl client) from the facts that probes
// (and Exim's reports) observed at the domain's addresses and the policy in
// force (docs/design.md sections 1, 3 and 7). Every view of an address
// (probe.Facts.Also) counts like an address of its own (views.go). It is the only place the rule lives: the daemon's answers,
// explain, list and tlsprobe probe all call it, so a reload that changes the
// policy changes every answer at once, with no probe.
//
// The gnutls rule follows the classic hand-kept set-up it replaces: a
// domain is flagged if ANY address of ANY of its MX hosts is (Exim may reach
// any of them), and smallkey wins over tlsexport (the classic router order).
// The openssl rule (openssl.go) names the transport that gets TLS at every
// address of the domain where any does.
package verdict

import (
	"fmt"
)

// Verdict is the answer for an address, a host or a domain. Its order is
// the precedence: a larger verdict wins.
type Verdict uint8

const (
	// None is the empty answer: route normally.
	None Verdict = iota
	// TLSExport: the modelled client would get a DHE prime shorter than the
	// policy's DHMinBits, so Exim's handshake would fail.
	TLSExport
	// SmallKey: the certificate's RSA or DSA key is shorter than KeyMinBits.
	SmallKey
	// NoDHE (openssl client): an MX address would send a DHE prime under
	// the floor of OpenSSL's security level but negotiates without DHE:
	// the transport with tls_require_ciphers = DEFAULT:!kDHE gets TLS.
	NoDHE
	// SecLevel1 (openssl client): an MX address sends a DHE prime of 1024
	// bits or more but under the floor: the transport with
	// tls_require_ciphers = DEFAULT:@SECLEVEL=1 gets TLS.
	SecLevel1
	// SecLevel0 (openssl client): an MX address needs OpenSSL's security
	// level 0, which nothing stronger reaches: a DSA-only server, TLS 1.0
	// or 1.1 only with a signed key exchange (ECDHE, DHE), or a SHA-1
	// ServerKeyExchange signature (OpenSSL 3 refuses those at level 1 and
	// above): the transport with
	// tls_require_ciphers = ALL:@SECLEVEL=0 gets TLS. Chosen only where no
	// stronger transport gets TLS at every address (Tally).
	SecLevel0

	numVerdicts // the number of verdicts, for tables indexed by Verdict
)

// Count is the number of verdicts: tables indexed by Verdict have Count entries.
const Count = int(numVerdicts)

// String is the answer word: "", "tlsexport", "smallkey", "nodhe", "seclevel1" or "seclevel0".
func (v Verdict) String() string {
	switch v {
	case None:
		return ""
	case TLSExport:
		return "tlsexport"
	case SmallKey:
		return "smallkey"
	case NoDHE:
		return "nodhe"
	case SecLevel1:
		return "seclevel1"
	case SecLevel0:
		return "seclevel0"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Parse is the inverse of String; "none" is None too (the override list's name).
func Parse(s string) (Verdict, error) {
	switch s {
	case "", "none":
		return None, nil
	case "tlsexport":
		return TLSExport, nil
	case "smallkey":
		return SmallKey, nil
	case "nodhe":
		return NoDHE, nil
	case "seclevel1":
		return SecLevel1, nil
	case "seclevel0":
		return SecLevel0, nil
	}
	return None, fmt.Errorf("parse verdict: %q is not smallkey, tlsexport, nodhe, seclevel1, seclevel0 or empty", s)
}

// MarshalText writes the answer word.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (v *Verdict) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Max is the verdict of several: the larger one wins.
func Max(a, b Verdict) Verdict { return max(a, b) }
