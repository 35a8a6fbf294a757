package decision

import "testing"

// The $event_data of Exim 4.96's msg:host:defer for a DH prime under the
// client's floor, GnuTLS and OpenSSL builds (docs/design.md section 7).
const (
	gnutlsDHText  = "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough)."
	opensslDHText = "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small"
)

func TestIsTLSFailure(t *testing.T) {
	for text, want := range map[string]bool{
		gnutlsDHText:  true,
		opensslDHText: true,
		"TLS session: (gnutls_handshake): rxd alert: handshake_failure":                            true,
		"TLS session: (gnutls_handshake): No supported cipher suites have been found.":             true,
		"TLS session: (gnutls_handshake): timed out":                                               false,
		"TLS session: (SSL_connect): timed out":                                                    false,
		"TLS session: (gnutls_handshake): ":                                                        false,
		"TLS session: (certificate verification failed): certificate invalid":                      false,
		"TLS session: (tls_init): no certificate":                                                  false,
		"SMTP error from remote mail server after RCPT TO:<user@example.org>: 451 4.7.1 try later": false,
		"Connection refused": false,
		"":                   false,
		"tls session: (gnutls_handshake): The Diffie-Hellman prime": false,
	} {
		if got := isTLSFailure(text); got != want {
			t.Errorf("isTLSFailure(%q) = %v, want %v", text, got, want)
		}
	}
}
