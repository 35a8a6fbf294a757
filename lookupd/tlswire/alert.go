package tlswire

// The alerts a client sends when it leaves a handshake it started (RFC 5246
// section 7.2, RFC 8446 section 6). Levels and descriptions are those of
// the RFCs; AlertRecord builds the plaintext record that carries one.
const (
	AlertLevelWarning = alertLevelWarning
	AlertLevelFatal   = alertLevelFatal

	AlertCloseNotify          = alertCloseNotify
	AlertHandshakeFailure     = 40
	AlertInsufficientSecurity = 71
	AlertUserCanceled         = 90
)

// AlertRecord returns one plaintext TLS 1.2 alert record (RFC 5246 section
// 6.2.1: type 21, version 3,3, length 2, level, description). It may be sent
// only before encryption starts: never after a TLS 1.3 ServerHello, where
// the server expects protected records (RFC 8446 section 5).
func AlertRecord(level, description uint8) []byte {
	return []byte{recordAlert, 3, 3, 0, 2, level, description}
}

// CancelRecords is how a client leaves a TLS 1.2 handshake it does not want
// to finish for a reason that is not a protocol failure (it read what it came
// for): a warning user_canceled followed by a warning close_notify, as RFC
// 5246 section 7.2.2 says user_canceled should be.
func CancelRecords() []byte {
	return append(AlertRecord(AlertLevelWarning, AlertUserCanceled), AlertRecord(AlertLevelWarning, AlertCloseNotify)...)
}
