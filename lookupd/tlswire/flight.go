package tlswire

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// Flight is what the server's first flight says.
type Flight struct {
	Version      uint16   // negotiated (0x0303, 0x0304...)
	CipherSuite  uint16   //
	HelloRetry   bool     // server sent HelloRetryRequest (TLS 1.3 chosen)
	Certificates [][]byte // DER, leaf first (TLS <= 1.2 only; empty for TLS 1.3)
	KeyExchange  string   // "DHE", "ECDHE", "RSA", "" (TLS 1.3)
	DHPrime      []byte   // DHE p, big-endian (TLS <= 1.2 DHE only)
	DHGenerator  []byte   //
	Curve        uint16   // ECDHE named curve / TLS 1.3 key share group
	SigHash      string   // ServerKeyExchange signature hash, TLS 1.2 (SigHashName); "" before TLS 1.2
	SigAlg       uint16   // ServerKeyExchange SignatureAndHashAlgorithm, TLS 1.2; 0 when none
	// ServerTLS13: TLS 1.2 was chosen for a hello that did not offer TLS 1.3,
	// and ServerHello.random ends in the RFC 8446 4.1.3 downgrade sentinel:
	// the server also speaks TLS 1.3.
	ServerTLS13 bool
}

// DHBits is the bit length of DHPrime (0 when none).
func (f Flight) DHBits() int { return bitLen(f.DHPrime) }

// ReadFlight reads the server's first flight from r: up to ServerHelloDone (TLS <= 1.2), or just the
// ServerHello / HelloRetryRequest when TLS 1.3 is chosen. Handshake messages are reassembled across records.
//
// h must be the hello that was sent: the chosen suite must be one it offered
// (else ErrBadSuite) and the version at most its MaxVersion. Errors are
// *stage.Error. On error the Flight holds what was read before it (e.g. the
// certificates when the key exchange is refused). ReadFlight reads no byte
// past ServerHelloDone's record; r should carry a deadline.
func ReadFlight(r io.Reader, h *Hello) (Flight, error) {
	return readFlight(r, h, nil)
}

// ReadFlightPending is ReadFlight keeping what Complete needs to finish a
// TLS 1.2 handshake on the same connection: the Pending is not nil when
// the flight was read whole (no error) up to ServerHelloDone. The Flight
// is exactly ReadFlight's.
func ReadFlightPending(r io.Reader, h *Hello) (Flight, *Pending, error) {
	p := &Pending{hello: h}
	f, err := readFlight(r, h, p)
	if err != nil || f.Version == tls.VersionTLS13 || f.HelloRetry {
		return f, nil, err
	}
	p.flight = f
	return f, p, nil
}

func readFlight(r io.Reader, h *Hello, p *Pending) (Flight, error) {
	var f Flight
	if h == nil {
		return f, &stage.Error{Stage: stage.ServerHello, Err: errors.New("read flight: no hello")}
	}
	hr := handshakeReader{rr: recordReader{r: r}}
	if p != nil {
		hr.transcript = &p.transcript
	}

	typ, body, err := hr.message(stage.ServerHello)
	if err != nil {
		return f, err
	}
	if typ != typeServerHello {
		return f, errUnexpected(stage.ServerHello, typ)
	}
	sh, err := parseServerHello(body)
	if err == nil {
		err = applyServerHello(sh, h, &f)
	}
	if err != nil {
		return f, &stage.Error{Stage: stage.ServerHello, Err: err}
	}
	if p != nil {
		p.serverRandom, p.ems, p.etm = append([]byte(nil), sh.random...), sh.ems, sh.etm
	}
	if f.Version == tls.VersionTLS13 {
		return f, nil // the rest is encrypted
	}

	if typ, body, err = hr.message(stage.Certificate); err != nil {
		return f, err
	}
	if typ != typeCertificate {
		return f, errUnexpected(stage.Certificate, typ)
	}
	if f.Certificates, err = parseCertificate(body); err != nil {
		return f, &stage.Error{Stage: stage.Certificate, Err: err}
	}

	// Certificate [CertificateStatus] [ServerKeyExchange] [CertificateRequest] ServerHelloDone
	needKX := f.KeyExchange == kxDHE || f.KeyExchange == kxECDHE
	var seenStatus, seenKX, seenRequest bool
	for {
		want := stage.ServerHelloDone
		if needKX && !seenKX {
			want = stage.KeyExchange
		}
		if typ, body, err = hr.message(want); err != nil {
			return f, err
		}
		switch {
		case typ == typeCertificateStatus && !seenStatus && !seenKX && !seenRequest:
			seenStatus = true // OCSP response (RFC 6066 8); not needed
		case typ == typeServerKeyExchange && needKX && !seenKX && !seenRequest:
			seenKX = true
			ke, err := parseServerKeyExchange(body, f.KeyExchange, f.Version)
			if err != nil {
				return f, &stage.Error{Stage: stage.KeyExchange, Err: err}
			}
			f.DHPrime, f.DHGenerator, f.Curve, f.SigHash, f.SigAlg = ke.prime, ke.generator, ke.curve, ke.sigHash, ke.sigAlg
			if p != nil {
				p.public = ke.public
			}
			if f.KeyExchange == kxECDHE && !offered(h.groups, f.Curve) {
				return f, &stage.Error{Stage: stage.KeyExchange, Err: fmt.Errorf("curve 0x%04x not offered: %w", f.Curve, ErrMalformed)}
			}
		case typ == typeCertificateRequest && !seenRequest && (seenKX || !needKX):
			seenRequest = true // the server asks for a client certificate; the probe has none
			if p != nil {
				p.certRequested = true
			}
		case typ == typeServerHelloDone && (seenKX || !needKX):
			if len(body) != 0 {
				return f, &stage.Error{Stage: stage.ServerHelloDone, Err: fmt.Errorf("server hello done of %d bytes: %w", len(body), ErrMalformed)}
			}
			return f, nil
		default:
			return f, errUnexpected(want, typ)
		}
	}
}
