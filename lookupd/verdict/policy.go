package verdict

import (
	"fmt"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// Policy is what the configuration says about facts: [probe] key_min_bits,
// dh_min_bits and tls13. The zero value of each field is Exim's default.
type Policy struct {
	// KeyMinBits: an RSA or DSA certificate key shorter than this is
	// SmallKey. Zero means 2048.
	KeyMinBits int
	// DHMinBits is Exim's tls_dh_min_bits: a DHE prime shorter than this,
	// negotiated by the modelled client, is TLSExport. Zero means 1024.
	DHMinBits int
	// NoTLS13 models a client that offers TLS 1.2 at most: a server that
	// would give it a weak prime is TLSExport even if it speaks TLS 1.3.
	NoTLS13 bool
}

func (p Policy) keyMinBits() int {
	if p.KeyMinBits <= 0 {
		return 2048
	}
	return p.KeyMinBits
}

func (p Policy) dhMinBits() int {
	if p.DHMinBits <= 0 {
		return 1024
	}
	return p.DHMinBits
}

// Of is the verdict of one address's facts. SmallKey is about the
// certificate the server presents, whatever client asks (so a key read from
// a server the modelled client cannot talk to counts). TLSExport needs a
// handshake the modelled client would reach with the weak prime: not when
// it negotiates TLS 1.3 instead (unless NoTLS13), and not when it cannot
// negotiate at all. EC and Ed25519 keys never count.
func (p Policy) Of(f *probe.Facts) Verdict {
	switch {
	case p.smallKey(f):
		return SmallKey
	case p.weakDH(f):
		return TLSExport
	}
	return None
}

func (p Policy) smallKey(f *probe.Facts) bool {
	return (f.KeyType == "RSA" || f.KeyType == "DSA") && f.KeyBits > 0 && f.KeyBits < p.keyMinBits()
}

func (p Policy) weakDH(f *probe.Facts) bool {
	return f.Outcome == probe.OK && f.DHBits > 0 && f.DHBits < p.dhMinBits() && !(f.TLS13 && !p.NoTLS13)
}

// Reason says in one sentence why the address gets Of's verdict under p.
func (p Policy) Reason(f *probe.Facts) string {
	a := f.Addr.String()
	switch {
	case p.smallKey(f):
		return fmt.Sprintf("%s presents a %d-bit %s certificate key, under key_min_bits %d", a, f.KeyBits, f.KeyType, p.keyMinBits())
	case p.weakDH(f):
		return fmt.Sprintf("%s sends a %d-bit DH prime to the %s client, under dh_min_bits %d (Exim's tls_dh_min_bits)", a, f.DHBits, f.Client, p.dhMinBits())
	case f.Outcome == probe.NoTLS:
		return fmt.Sprintf("%s does not offer STARTTLS (%s); Exim delivers in clear", a, f.Error)
	case f.Outcome == probe.Error:
		return fmt.Sprintf("%s could not be probed at stage %s: %s", a, f.Stage, f.Error)
	case f.DHBits > 0 && f.DHBits < p.dhMinBits() && f.TLS13:
		return fmt.Sprintf("%s negotiates TLS 1.3 with the %s client; only TLS 1.2-only clients get its %d-bit DH prime", a, f.Client, f.DHBits)
	case f.DHBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and a %d-bit DH prime", a, f.KeyBits, f.KeyType, f.DHBits)
	case f.KeyBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and no weak DH", a, f.KeyBits, f.KeyType)
	}
	return fmt.Sprintf("%s has no TLS quirk", a)
}
