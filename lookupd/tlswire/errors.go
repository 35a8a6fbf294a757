package tlswire

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped in a *stage.Error (lookupd/stage) by ReadFlight.
var (
	// ErrTooLarge: a record, handshake message, list or prime exceeds its cap.
	ErrTooLarge = errors.New("too large")
	// ErrUnexpectedMessage: a record or handshake message out of order.
	ErrUnexpectedMessage = errors.New("unexpected message")
	// ErrBadSuite: the server chose a cipher suite the hello did not offer.
	ErrBadSuite = errors.New("cipher suite not offered")
	// ErrMalformed: a message does not parse.
	ErrMalformed = errors.New("malformed message")
	// ErrNotTLS: the peer does not speak TLS (e.g. SMTP or HTTP text, SSLv2).
	ErrNotTLS = errors.New("not TLS")
)

// AlertError is an alert the server sent (RFC 8446 section 6).
type AlertError struct {
	Level, Description uint8
}

func (e *AlertError) Error() string {
	level := "fatal"
	if e.Level == alertLevelWarning {
		level = "warning"
	}
	return fmt.Sprintf("server sent %s alert %s", level, alertName(e.Description))
}

const (
	alertLevelWarning = 1
	alertLevelFatal   = 2
	alertCloseNotify  = 0
)

var alertNames = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
	21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
	40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
	43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
	46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error",
	60: "export_restriction", 70: "protocol_version", 71: "insufficient_security",
	80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
	100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
	111: "certificate_unobtainable", 112: "unrecognized_name",
	113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
	115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

// alertName is the RFC name of an alert description, e.g. "handshake_failure",
// or "alert(N)" when unknown.
func alertName(d uint8) string {
	if n, ok := alertNames[d]; ok {
		return n
	}
	return fmt.Sprintf("alert(%d)", d)
}
