// Package probe classifies one MX host the way the configured Exim client
// would meet it: it connects to port 25, does EHLO and STARTTLS (RFC 5321,
// RFC 3207), sends a ClientHello that models Exim's TLS library and reads the
// server's first flight (RFC 5246, RFC 8446) to learn the certificate key and
// the ephemeral Diffie-Hellman prime (RFC 7919 for the FFDHE groups).
//
// No handshake is completed and no key is trusted: the probe reads what the
// server sends up to ServerHelloDone, sends an alert and closes. The only
// exception is a TLS 1.3-only server, whose certificate is encrypted; there
// crypto/tls completes a handshake to read it.
//
// The package takes plain Options and imports no configuration, so the daemon
// and the command line share it. It does not log; callers log one line per
// Result.
package probe
