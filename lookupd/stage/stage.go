// Package stage names the steps of a probe at which it can fail: the SMTP
// session up to STARTTLS (RFC 5321, RFC 3207), the TLS hello and the
// server's first flight (RFC 5246, RFC 8446), and the probe's own steps
// around them. Error is the one error type that says at which step
// something failed; smtp, tlswire and probe all return it.
package stage

import (
	"errors"
	"net"
)

// Stage is a step of a probe.
type Stage string

// The stages, in the order a probe meets them.
const (
	Address         Stage = "address"           // the address may not be probed (an ignored network)
	Connect         Stage = "connect"           // TCP connect
	Banner          Stage = "banner"            // the SMTP greeting
	EHLO            Stage = "ehlo"              // EHLO and its reply
	StartTLS        Stage = "starttls"          // STARTTLS and its reply
	TLSHello        Stage = "tls-hello"         // building or sending the ClientHello
	TLSRecord       Stage = "tls-record"        // TLS record framing and I/O
	ServerHello     Stage = "server-hello"      // the ServerHello (and alerts in its place)
	Certificate     Stage = "certificate"       // the Certificate message
	KeyExchange     Stage = "key-exchange"      // the ServerKeyExchange message
	ServerHelloDone Stage = "server-hello-done" // the ServerHelloDone message
	Negotiate       Stage = "negotiate"         // the modelled client (or every hello) was refused
	TLS13           Stage = "tls13-certificate" // a TLS 1.3 handshake to read the certificate
	Timeout         Stage = "timeout"           // a deadline passed outside any named step
	Unknown         Stage = "unknown"           // an error that names no step
)

// All are the stages, in order (for metrics that export every label).
var All = []Stage{Address, Connect, Banner, EHLO, StartTLS, TLSHello, TLSRecord, ServerHello, Certificate,
	KeyExchange, ServerHelloDone, Negotiate, TLS13, Timeout, Unknown}

// Error says at which stage Err happened.
type Error struct {
	Stage Stage
	Err   error
}

func (e *Error) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Of is the stage err names: that of the outermost *Error in its chain,
// Timeout for a network timeout outside any, else Unknown.
func Of(err error) Stage {
	var se *Error
	if errors.As(err, &se) {
		return se.Stage
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Unknown
}
