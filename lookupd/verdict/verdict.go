// Package verdict decides what tlsprobed answers for a domain ("smallkey",
// "tlsexport" or nothing) from the facts that probes observed at the
// domain's addresses and the policy in force (shared/DESIGN.md sections 1
// and 3). It is the only place the rule lives: the daemon's answers,
// explain, list and tlsprobe probe all call it, so a reload that changes the
// policy changes every answer at once, with no probe.
//
// The rule follows the classic hand-kept set-up it replaces: a domain is
// flagged if ANY address of ANY of its MX hosts is (Exim may reach any of
// them), and smallkey wins over tlsexport (the classic router order).
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
)

// String is the answer word: "", "tlsexport" or "smallkey".
func (v Verdict) String() string {
	switch v {
	case None:
		return ""
	case TLSExport:
		return "tlsexport"
	case SmallKey:
		return "smallkey"
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
	}
	return None, fmt.Errorf("parse verdict: %q is not smallkey, tlsexport or empty", s)
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
