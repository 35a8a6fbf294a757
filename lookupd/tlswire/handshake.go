package tlswire

import (
	"errors"
	"fmt"
	"io"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// Handshake message types (RFC 8446 4, RFC 5246 7.4, RFC 6066 8).
const (
	typeHelloRequest       = 0
	typeServerHello        = 2
	typeCertificate        = 11
	typeServerKeyExchange  = 12
	typeCertificateRequest = 13
	typeServerHelloDone    = 14
	typeCertificateStatus  = 22
	handshakeHeaderLen     = 4
)

// handshakeReader reassembles handshake messages from records: a message may
// span records, and a record may hold several messages.
type handshakeReader struct {
	rr       recordReader
	buf      []byte // handshake bytes not yet returned
	consumed int    // bytes of buf returned by the last message call
	warning  *AlertError
	// transcript, when not nil, gets every message returned (header
	// included; HelloRequest excluded, RFC 5246 7.4.1.1), for Complete.
	transcript *[]byte
}

// message returns the next handshake message; the body is valid until the
// next call. st names what the caller expects, for the error: record
// framing and I/O errors get stage.TLSRecord, alerts and stray records get st.
func (hr *handshakeReader) message(st stage.Stage) (uint8, []byte, error) {
	hr.buf = hr.buf[hr.consumed:]
	hr.consumed = 0
	for {
		if len(hr.buf) >= handshakeHeaderLen {
			typ := hr.buf[0]
			n := int(hr.buf[1])<<16 | int(hr.buf[2])<<8 | int(hr.buf[3])
			if n > maxHandshakeLen {
				return 0, nil, &stage.Error{Stage: st, Err: fmt.Errorf("handshake message type %d of %d bytes: %w", typ, n, ErrTooLarge)}
			}
			if len(hr.buf) >= handshakeHeaderLen+n {
				hr.consumed = handshakeHeaderLen + n
				if typ == typeHelloRequest && n == 0 {
					// RFC 5246 7.4.1.1: ignored while negotiating.
					hr.buf = hr.buf[hr.consumed:]
					hr.consumed = 0
					continue
				}
				if hr.transcript != nil {
					*hr.transcript = append(*hr.transcript, hr.buf[:hr.consumed]...)
				}
				return typ, hr.buf[handshakeHeaderLen:hr.consumed], nil
			}
		}
		typ, payload, err := hr.rr.next()
		if err != nil {
			if hr.warning != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				// The server warned, then hung up: the warning is the reason.
				// (Not when the stream broke otherwise: a flood of warnings
				// ends as ErrTooLarge, a stall as a timeout.)
				return 0, nil, &stage.Error{Stage: st, Err: hr.warning}
			}
			return 0, nil, &stage.Error{Stage: stage.TLSRecord, Err: err}
		}
		switch typ {
		case recordHandshake:
			// Compact before growing; buf never exceeds one message plus one record.
			hr.buf = append(hr.buf, payload...)
		case recordAlert:
			if len(payload) < 2 {
				return 0, nil, &stage.Error{Stage: st, Err: fmt.Errorf("alert record of %d bytes: %w", len(payload), ErrMalformed)}
			}
			a := &AlertError{Level: payload[0], Description: payload[1]}
			if a.Level == alertLevelWarning && a.Description != alertCloseNotify {
				hr.warning = a // e.g. unrecognized_name; real clients go on
				continue
			}
			return 0, nil, &stage.Error{Stage: st, Err: a}
		default:
			return 0, nil, &stage.Error{Stage: st, Err: fmt.Errorf("record type %d during handshake: %w", typ, ErrUnexpectedMessage)}
		}
	}
}

// errUnexpected builds the error for a handshake message out of order.
func errUnexpected(st stage.Stage, typ uint8) error {
	return &stage.Error{Stage: st, Err: fmt.Errorf("handshake message type %d (%s): %w", typ, messageName(typ), ErrUnexpectedMessage)}
}

func messageName(typ uint8) string {
	switch typ {
	case 0:
		return "hello_request"
	case 1:
		return "client_hello"
	case typeServerHello:
		return "server_hello"
	case 4:
		return "new_session_ticket"
	case 8:
		return "encrypted_extensions"
	case typeCertificate:
		return "certificate"
	case typeServerKeyExchange:
		return "server_key_exchange"
	case typeCertificateRequest:
		return "certificate_request"
	case typeServerHelloDone:
		return "server_hello_done"
	case 15:
		return "certificate_verify"
	case 16:
		return "client_key_exchange"
	case 20:
		return "finished"
	case typeCertificateStatus:
		return "certificate_status"
	}
	return "unknown"
}
