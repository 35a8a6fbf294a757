package verdict

import (
	"fmt"
	"strings"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// The openssl client models an Exim built with OpenSSL 3 (docs/design.md
// section 7, measured with Exim 4.96 on OpenSSL 3.0): tls_dh_min_bits is
// ignored; OpenSSL's security level refuses a DHE prime under its floor
// (2048 bits at level 2) with "dh key too small", and a prime under 1024
// bits at every level. An RSA-1024 certificate does not stop it. Two
// transports get around a weak prime: tls_require_ciphers = DEFAULT:!kDHE
// (a server that also has a key exchange without DHE) and
// DEFAULT:@SECLEVEL=1 (a prime of 1024 bits or more). OpenSSL 3 also
// refuses TLS 1.0 and 1.1, SHA-1 (and MD5) ServerKeyExchange signatures at
// level 1 and above, and reaches no DSA-only server there (measured: Exim 4.96
// on OpenSSL 3.0 gets X=TLS1.2:DHE-DSS-AES128-GCM-SHA256 only with
// ALL:@SECLEVEL=0): ALL:@SECLEVEL=0 is the last transport, chosen only where
// no stronger one gets TLS. TLS 1.0 or 1.1 with RSA key exchange has no
// ServerKeyExchange signature to refuse: measured, Exim 4.96 on OpenSSL 3.0
// at level 2 gets X=TLS1:AES256-SHA through remote_smtp from a TLS
// 1.0-only server (internal/e2e TestRemediesEverySender); openssl s_client
// 3.0.22 gets AES256-SHA over TLS 1.0 and 1.1 at levels 1 and 2, and no
// session at level 3 (TLS 1.0: "no protocols available"; TLS 1.1: handshake
// failure).

// Transports is a set of the openssl client's transports.
type Transports uint8

// The openssl client's transports, in the order an answer prefers them.
const (
	Plain     Transports = 1 << iota // remote_smtp: the client's default settings
	ViaNoDHE                         // remote_smtp_openssl_nodhe: DEFAULT:!kDHE
	ViaSecLv1                        // remote_smtp_openssl_seclevel1: DEFAULT:@SECLEVEL=1
	ViaSecLv0                        // remote_smtp_openssl_seclevel0: ALL:@SECLEVEL=0

	allTransports = Plain | ViaNoDHE | ViaSecLv1 | ViaSecLv0
)

// transportOrder pairs each transport with its answer, in preference order:
// the default first, then the one that keeps the security level.
var transportOrder = [...]struct {
	t Transports
	v Verdict
}{{Plain, None}, {ViaNoDHE, NoDHE}, {ViaSecLv1, SecLevel1}, {ViaSecLv0, SecLevel0}}

// Has reports whether t holds every transport of u.
func (t Transports) Has(u Transports) bool { return t&u == u }

// DHFloor is the shortest DHE prime OpenSSL 3 accepts at a security level:
// its security bits (80, 112, 128, 192, 256 for levels 1-5) as a prime size
// (NIST SP 800-57), and 80 bits at level 0 too ("no EDH keys weaker than
// 1024 bits even at level 0", ssl/t1_lib.c).
func DHFloor(level int) int {
	switch {
	case level <= 1:
		return 1024
	case level == 2:
		return 2048
	case level == 3:
		return 3072
	case level == 4:
		return 7680
	}
	return 15360
}

// legacyOpenSSL says why OpenSSL 3 at security level 1 or above refuses a
// handshake the facts show, or "": TLS 1.0 or 1.1 with a signed key
// exchange (not legacyRSAKX), a SHA-1 or MD5 ServerKeyExchange signature, a
// DSA certificate (no DSA signature algorithm or DHE-DSS suite there:
// measured with a DSA-only server).
func legacyOpenSSL(f *probe.Facts) string {
	switch {
	case f.TLS13 || legacyRSAKX(f):
		return ""
	case f.TLSVersion == "SSL3.0" || f.TLSVersion == "TLS1.0" || f.TLSVersion == "TLS1.1":
		return "it speaks " + f.TLSVersion + " at most"
	case f.SigHash == "SHA1" || f.SigHash == "MD5":
		return "it signs its key exchange with " + f.SigHash
	case f.KeyType == "DSA":
		return "it has only a DSA certificate"
	}
	return ""
}

// legacyRSAKX: the server speaks TLS 1.0 or 1.1 at most and negotiates RSA
// key exchange (no ServerKeyExchange, so no SHA-1 or MD5 signature).
func legacyRSAKX(f *probe.Facts) bool {
	return !f.TLS13 && (f.TLSVersion == "TLS1.0" || f.TLSVersion == "TLS1.1") && strings.HasPrefix(f.Cipher, "TLS_RSA_WITH_")
}

// legacyRSAKXMaxLevel is the highest security level at which OpenSSL 3
// gets TLS 1.0 or 1.1 with RSA key exchange (measured, see above).
const legacyRSAKXMaxLevel = 2

// dhOK: OpenSSL accepts the prime (if any) at level 0 and 1.
func dhOK(f *probe.Facts) bool { return f.DHBits == 0 || f.DHBits >= DHFloor(0) }

// worksOpenSSL is the set of transports that get TLS at the address.
func (p Policy) worksOpenSSL(f *probe.Facts) Transports {
	switch {
	case f.Reported == probe.ReportedDHTooSmall:
		// Exim's OpenSSL refused the prime: the default transport fails; the
		// size is not said, so the others are not ruled out.
		return allTransports &^ Plain
	case f.Reported != probe.ReportedNone:
		return 0
	case f.Outcome == probe.Error && f.Stage == stage.Negotiate:
		// The modelled client could not negotiate; the certificate was
		// read with every suite. Level 0 gets a DSA-only or pre-TLS 1.2
		// server (measured), if its prime passes.
		if legacyOpenSSL(f) != "" && dhOK(f) {
			return ViaSecLv0
		}
		return 0
	case f.Outcome != probe.OK:
		return 0
	case legacyRSAKX(f):
		if p.SecLevel <= legacyRSAKXMaxLevel {
			return allTransports
		}
		return ViaSecLv1 | ViaSecLv0
	case legacyOpenSSL(f) != "":
		if dhOK(f) {
			return ViaSecLv0
		}
		return 0
	}
	if f.DHBits == 0 || p.tls13Saves(f) {
		return allTransports // ECDHE, RSA key exchange or TLS 1.3: no DHE prime to refuse
	}
	var w Transports
	if f.DHBits >= DHFloor(p.SecLevel) {
		w |= Plain
	}
	if f.DHBits >= DHFloor(1) {
		w |= ViaSecLv1 | ViaSecLv0
	}
	if f.NoDHE == probe.NoDHEOK {
		w |= ViaNoDHE
	}
	return w
}

// judgeOpenSSL: the address's answer alone is the first transport in
// transportOrder that gets TLS there; None when the default does, and when
// none does (NoTLS says so).
func (p Policy) judgeOpenSSL(f *probe.Facts) Judgement {
	w := p.worksOpenSSL(f)
	j := Judgement{Works: w}
	switch {
	case w == 0:
		j.NoTLS = f.Outcome == probe.OK || f.Outcome == probe.Error && f.Stage == stage.Negotiate
	default:
		j.Verdict = firstOf(w)
	}
	return j
}

func firstOf(w Transports) Verdict {
	for _, o := range transportOrder {
		if w.Has(o.t) {
			return o.v
		}
	}
	return None
}

func transportName(v Verdict) string {
	switch v {
	case NoDHE:
		return "remote_smtp_openssl_nodhe (tls_require_ciphers = DEFAULT:!kDHE)"
	case SecLevel1:
		return "remote_smtp_openssl_seclevel1 (tls_require_ciphers = DEFAULT:@SECLEVEL=1)"
	case SecLevel0:
		return "remote_smtp_openssl_seclevel0 (tls_require_ciphers = ALL:@SECLEVEL=0)"
	}
	return "remote_smtp"
}

// reasonOpenSSL says what an OpenSSL Exim gets at the address and which
// transport it needs.
func (p Policy) reasonOpenSSL(f *probe.Facts) string {
	a := f.Addr.String()
	var key string
	if p.smallKey(f) {
		key = fmt.Sprintf("; its %d-bit %s key is under key_min_bits %d, which does not stop an OpenSSL Exim", f.KeyBits, f.KeyType, p.keyMinBits())
	}
	if s, ok := reasonReported(f); ok {
		return s
	}
	j := p.judgeOpenSSL(f)
	if why := legacyOpenSSL(f); why != "" && (f.Outcome == probe.OK || f.Outcome == probe.Error && f.Stage == stage.Negotiate) {
		if j.Works == 0 {
			return fmt.Sprintf("%s: %s and sends a %d-bit DH prime: no TLS possible from the openssl client, OpenSSL refuses DH primes under 1024 bits at every level%s", a, why, f.DHBits, key)
		}
		return fmt.Sprintf("%s: %s, which OpenSSL 3 refuses at security level 1 and above; %s gets TLS%s", a, why, transportName(j.Verdict), key)
	}
	if f.Outcome == probe.Error && f.Stage == stage.Negotiate {
		return fmt.Sprintf("%s: no TLS possible from the openssl client: %s%s", a, f.Error, key)
	}
	if s, ok := reasonCommon(f); ok {
		return s
	}
	floor := DHFloor(p.SecLevel)
	var b strings.Builder
	switch {
	case legacyRSAKX(f) && j.Works.Has(Plain):
		fmt.Fprintf(&b, "%s: remote_smtp gets TLS from the openssl client at security level %d (%s with %s: RSA key exchange, no key exchange signature to refuse)", a, p.SecLevel, f.TLSVersion, f.Cipher)
	case legacyRSAKX(f):
		fmt.Fprintf(&b, "%s: it speaks %s at most, which OpenSSL's security level %d refuses; %s gets TLS", a, f.TLSVersion, p.SecLevel, transportName(j.Verdict))
	case f.DHBits == 0 || p.tls13Saves(f) || j.Works.Has(Plain):
		fmt.Fprintf(&b, "%s: remote_smtp gets TLS from the openssl client at security level %d", a, p.SecLevel)
		switch {
		case p.tls13Saves(f):
			b.WriteString(" (TLS 1.3")
			if f.DHBits > 0 {
				fmt.Fprintf(&b, "; a TLS 1.2-only client would get a %d-bit DH prime", f.DHBits)
			}
			b.WriteString(")")
		case f.DHBits > 0:
			fmt.Fprintf(&b, " (a %d-bit DH prime, at least the level's %d bits)", f.DHBits, floor)
		case f.Cipher != "":
			fmt.Fprintf(&b, " (%s)", f.Cipher)
		}
	default:
		fmt.Fprintf(&b, "%s sends a %d-bit DH prime to the openssl client, under the %d bits of OpenSSL's security level %d (an OpenSSL Exim ignores tls_dh_min_bits)", a, f.DHBits, floor, p.SecLevel)
		switch {
		case j.Works == 0 && f.NoDHE == probe.NoDHERefused:
			b.WriteString("; no TLS possible from this client: OpenSSL refuses DH primes under 1024 bits at every level and the server refused a hello without DHE")
		case j.Works == 0:
			b.WriteString("; no TLS possible from this client: OpenSSL refuses DH primes under 1024 bits at every level")
			if f.NoDHE == probe.NoDHENotTried {
				b.WriteString(" (whether the server has a suite without DHE is not known)")
			}
		default:
			if f.NoDHE == probe.NoDHEOK {
				fmt.Fprintf(&b, "; without DHE it negotiates %s", f.NoDHECipher)
			}
			fmt.Fprintf(&b, "; %s gets TLS", transportName(j.Verdict))
		}
	}
	b.WriteString(key)
	return b.String()
}
