// Package tlswire writes a TLS ClientHello and reads the server's first flight,
// so a prober can see what a real client would be offered: the chosen version
// and cipher suite, the certificate chain and the ephemeral key exchange
// parameters (a finite-field Diffie-Hellman prime, which Go's crypto/tls never
// negotiates). Complete then finishes a TLS 1.2 DHE or ECDHE handshake on the
// same connection (RFC 5246 7.3, 8.1; RFC 7627 extended master secret; AES-GCM
// RFC 5288, ChaCha20-Poly1305 RFC 7905, AES-CBC with RFC 7366
// encrypt_then_mac), without checking the certificate, so that the connection
// ends as a clean session rather than an aborted handshake.
//
// The ClientHello models a real client byte for byte in structure: GnuTLS 3.7.9
// with priority NORMAL (the library Debian's Exim uses) or OpenSSL 3.0's
// s_client. The layouts were taken from captures stored in testdata/hello.
//
// References: TLS 1.2 (RFC 5246), TLS 1.3 (RFC 8446), FFDHE groups (RFC 7919),
// ECC cipher suites (RFC 4492, RFC 8422), TLS extensions (RFC 6066, RFC 7627,
// RFC 7366, RFC 8449, RFC 5746, RFC 7685). The package does no I/O beyond
// the reader or connection it is given and never logs.
package tlswire
