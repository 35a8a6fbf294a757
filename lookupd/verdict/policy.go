package verdict

import (
	"fmt"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Modelled clients (Policy.Client): lookupd/tlswire's.
const (
	ClientGnuTLS  = tlswire.ClientGnuTLS
	ClientOpenSSL = tlswire.ClientOpenSSL
)

// Defaults of the zero Policy: Debian's Exim's (a GnuTLS build).
const (
	DefaultKeyMinBits = 2048 // RSA and DSA keys shorter than this are SmallKey
	DefaultDHMinBits  = 1024 // Exim's tls_dh_min_bits
)

// Policy is what the configuration says about facts: [probe] client,
// key_min_bits, dh_min_bits, tls13 and openssl_seclevel. The zero value of
// each field is the default of Debian's Exim (a GnuTLS build), except
// SecLevel, whose zero is OpenSSL's level 0 (the configuration's default is 2).
type Policy struct {
	// Client is the modelled client: "gnutls" (or "") or "openssl". The
	// facts judged must be that client's.
	Client tlswire.Client
	// KeyMinBits: an RSA or DSA certificate key shorter than this is
	// SmallKey. Zero means DefaultKeyMinBits (2048).
	KeyMinBits int
	// DHMinBits is Exim's tls_dh_min_bits: a DHE prime shorter than this,
	// negotiated by the modelled client, is TLSExport. Zero means DefaultDHMinBits (1024).
	// An OpenSSL Exim ignores tls_dh_min_bits: SecLevel decides there.
	DHMinBits int
	// NoTLS13 models a client that offers TLS 1.2 at most: a server that
	// would give it a weak prime is TLSExport even if it speaks TLS 1.3.
	NoTLS13 bool
	// SecLevel is the security level of the OpenSSL Exim's default
	// transport (0-5; Debian's and the RHEL family's OpenSSL 3 use 2). It
	// sets the shortest DHE prime that client accepts: 1024 bits at levels
	// 0 and 1, then 2048, 3072, 7680 and 15360.
	SecLevel int
}

func (p Policy) keyMinBits() int {
	if p.KeyMinBits <= 0 {
		return DefaultKeyMinBits
	}
	return p.KeyMinBits
}

func (p Policy) dhMinBits() int {
	if p.DHMinBits <= 0 {
		return DefaultDHMinBits
	}
	return p.DHMinBits
}

func (p Policy) openssl() bool { return p.Client == ClientOpenSSL }

// Judgement is the verdict of one address's facts, with what a fold over
// a domain's addresses (Tally) needs.
type Judgement struct {
	Verdict Verdict
	// Works is the set of transports that get TLS at the address (the
	// openssl client only; zero for gnutls, whose answers are a maximum).
	Works Transports
	// NoTLS: no transport gets TLS there from the modelled client, though
	// the server offers STARTTLS (the openssl client only).
	NoTLS bool
}

// judgeView is the verdict of one view of an address (Judge folds the views).
func (p Policy) judgeView(f *probe.Facts) Judgement {
	if p.openssl() {
		return p.judgeOpenSSL(f)
	}
	switch {
	case p.smallKey(f) || dsaOnly(f):
		return Judgement{Verdict: SmallKey}
	case p.weakDH(f) || f.Reported == probe.ReportedDHTooSmall:
		return Judgement{Verdict: TLSExport}
	}
	return Judgement{}
}

// Of is the verdict of one address's facts (Judge's Verdict, every view
// counted). For the
// gnutls client: SmallKey is about the certificate the server presents,
// whatever client asks (so a key read from a server the modelled client
// cannot talk to counts). TLSExport needs a handshake the modelled client
// would reach with the weak prime: not when it negotiates TLS 1.3 instead
// (unless NoTLS13), and not when it cannot negotiate at all. EC and Ed25519
// keys never count; a DSA certificate of any size is SmallKey (GnuTLS's
// NORMAL priority has no DHE-DSS: the smallkey transport adds it). A
// report's view that Exim refused the prime is TLSExport. For the openssl
// client see judgeOpenSSL.
func (p Policy) Of(f *probe.Facts) Verdict { return p.Judge(f).Verdict }

// PredictsFailure reports whether the facts say that the modelled client's
// ordinary transport (remote_smtp) fails to get TLS at the address: a DHE
// prime the client refuses, or a server it cannot negotiate with. A TLS
// failure that Exim reports at an address where this is false is a
// prediction miss.
func (p Policy) PredictsFailure(f *probe.Facts) bool {
	if p.predictsFailureView(f) {
		return true
	}
	for i := range f.Also {
		if p.predictsFailureView(&f.Also[i]) {
			return true
		}
	}
	return false
}

func (p Policy) predictsFailureView(f *probe.Facts) bool {
	if f.Reported != probe.ReportedNone {
		// Exim's own report, not a prediction: a later report there is
		// still a miss of the probes' facts (and re-probes).
		return false
	}
	if f.Outcome == probe.Error && f.Stage == stage.Negotiate {
		return true
	}
	if f.Outcome != probe.OK {
		return false
	}
	if p.openssl() {
		return !p.worksOpenSSL(f).Has(Plain)
	}
	return p.weakDH(f)
}

func (p Policy) smallKey(f *probe.Facts) bool {
	return (f.KeyType == "RSA" || f.KeyType == "DSA") && f.KeyBits > 0 && f.KeyBits < p.keyMinBits()
}

// dsaOnly: the gnutls client cannot negotiate with the server and its
// certificate is DSA (GnuTLS's NORMAL has no DHE-DSS nor DSA signatures).
func dsaOnly(f *probe.Facts) bool {
	return f.KeyType == "DSA" && f.Outcome == probe.Error && f.Stage == stage.Negotiate
}

// tls13Saves: the client negotiates TLS 1.3 with the server, so the prime
// a TLS 1.2 hello gets does not matter.
func (p Policy) tls13Saves(f *probe.Facts) bool { return f.TLS13 && !p.NoTLS13 }

func (p Policy) weakDH(f *probe.Facts) bool {
	return f.Outcome == probe.OK && f.DHBits > 0 && f.DHBits < p.dhMinBits() && !p.tls13Saves(f)
}

// reasonView says why one view of an address gets its verdict (Reason
// joins the views).
func (p Policy) reasonView(f *probe.Facts) string {
	if p.openssl() {
		return p.reasonOpenSSL(f)
	}
	if s, ok := reasonReported(f); ok {
		return s
	}
	a := f.Addr.String()
	switch {
	case dsaOnly(f):
		return fmt.Sprintf("%s has only a %d-bit DSA certificate, which GnuTLS's NORMAL priority cannot use: remote_smtp_tls_smallprime (NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1) gets TLS", a, f.KeyBits)
	case p.smallKey(f):
		return fmt.Sprintf("%s presents a %d-bit %s certificate key, under key_min_bits %d", a, f.KeyBits, f.KeyType, p.keyMinBits())
	case p.weakDH(f):
		return fmt.Sprintf("%s sends a %d-bit DH prime to the %s client, under dh_min_bits %d (Exim's tls_dh_min_bits)", a, f.DHBits, f.Client, p.dhMinBits())
	}
	if s, ok := reasonCommon(f); ok {
		return s
	}
	switch {
	case f.DHBits > 0 && f.DHBits < p.dhMinBits() && f.TLS13:
		return fmt.Sprintf("%s negotiates TLS 1.3 with the %s client; only TLS 1.2-only clients get its %d-bit DH prime", a, f.Client, f.DHBits)
	case f.DHBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and a %d-bit DH prime", a, f.KeyBits, f.KeyType, f.DHBits)
	case f.KeyBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and no weak DH", a, f.KeyBits, f.KeyType)
	}
	return fmt.Sprintf("%s has no TLS quirk", a)
}

// reasonCommon is the reason for facts of a server without TLS or that
// could not be probed, whatever the client.
func reasonCommon(f *probe.Facts) (string, bool) {
	a := f.Addr.String()
	switch {
	case f.Outcome == probe.NoTLS:
		return fmt.Sprintf("%s does not offer STARTTLS (%s); Exim delivers in clear", a, f.Error), true
	case f.Outcome == probe.Error:
		return fmt.Sprintf("%s could not be probed at stage %s: %s", a, f.Stage, f.Error), true
	}
	return "", false
}
