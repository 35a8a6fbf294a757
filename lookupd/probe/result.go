package probe

import (
	"fmt"
	"time"
)

// Outcome is what a probe learnt about one MX host.
type Outcome string

// The outcomes of a probe, in the order the verdict prefers them.
const (
	// SmallKey: the certificate's RSA or DSA key is shorter than KeyMinBits.
	SmallKey Outcome = "smallkey"
	// TLSExport: the modelled client would get a DHE prime shorter than DHMinBits.
	TLSExport Outcome = "tlsexport"
	// OK: TLS works for the modelled client with a strong enough key and prime.
	OK Outcome = "ok"
	// NoTLS: the server does not offer STARTTLS or refuses it; Exim sends in clear.
	NoTLS Outcome = "notls"
	// Error: the probe could not finish; Stage and Error say where and why.
	Error Outcome = "error"
)

// Stages at which a probe fails, besides those of lookupd/smtp ("banner",
// "ehlo", "starttls") and lookupd/tlswire ("tls-record", "server-hello",
// "certificate", "key-exchange", "server-hello-done").
const (
	StageAddress   = "address"   // no usable address
	StageConnect   = "connect"   // TCP connect failed
	StageTLSWrite  = "tls-hello" // sending the ClientHello failed
	StageNegotiate = "negotiate" // the server refused every hello
	StageTLS13     = "tls13-certificate"
)

// Result is the outcome of probing one MX host, with what the server showed.
type Result struct {
	Host       string        `json:"host"`
	Addr       string        `json:"addr,omitempty"` // the address that gave this result
	Outcome    Outcome       `json:"outcome"`
	Stage      string        `json:"stage,omitempty"`
	Error      string        `json:"error,omitempty"`
	TLSVersion string        `json:"tls_version,omitempty"` // what the modelled client negotiates, when known
	Cipher     string        `json:"cipher,omitempty"`
	KeyType    string        `json:"key_type,omitempty"` // "RSA", "DSA", "ECDSA", "Ed25519"
	KeyBits    int           `json:"key_bits,omitempty"`
	DHBits     int           `json:"dh_bits,omitempty"` // DHE prime sent to a TLS 1.2 hello
	TLS13      bool          `json:"tls13,omitempty"`   // the server negotiates TLS 1.3 with the modelled client
	Note       string        `json:"note,omitempty"`
	Time       time.Time     `json:"time"`
	Duration   time.Duration `json:"duration_ns"`
	// Settings the verdict was taken with, for Reason.
	KeyMinBits int `json:"key_min_bits,omitempty"`
	DHMinBits  int `json:"dh_min_bits,omitempty"`
}

// Reason says in one sentence why the host got its outcome.
func (r Result) Reason() string {
	switch r.Outcome {
	case SmallKey:
		return fmt.Sprintf("%s presents a %d-bit %s certificate key, under key_min_bits %d", r.Host, r.KeyBits, r.KeyType, r.KeyMinBits)
	case TLSExport:
		return fmt.Sprintf("%s sends a %d-bit DH prime to TLS 1.2 clients; Exim's tls_dh_min_bits is %d", r.Host, r.DHBits, r.DHMinBits)
	case NoTLS:
		return fmt.Sprintf("%s does not offer STARTTLS (%s); Exim delivers in clear", r.Host, r.Error)
	case Error:
		return fmt.Sprintf("%s could not be probed at stage %s: %s", r.Host, r.Stage, r.Error)
	}
	switch {
	case r.DHBits > 0 && r.DHBits < r.DHMinBits && r.TLS13:
		return fmt.Sprintf("%s negotiates TLS 1.3 with Exim; only TLS 1.2-only clients get its %d-bit DH prime", r.Host, r.DHBits)
	case r.DHBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and a %d-bit DH prime", r.Host, r.KeyBits, r.KeyType, r.DHBits)
	case r.KeyBits > 0:
		return fmt.Sprintf("%s uses a %d-bit %s key and no weak DH", r.Host, r.KeyBits, r.KeyType)
	}
	return fmt.Sprintf("%s has no TLS quirk", r.Host)
}
