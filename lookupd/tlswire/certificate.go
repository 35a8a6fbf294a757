package tlswire

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// maxCertificates caps the chain length; real chains have 1-5 entries.
const maxCertificates = 32

// parseCertificate parses a TLS 1.2 Certificate body (RFC 5246 7.4.2) and
// returns copies of the DER certificates, leaf first.
func parseCertificate(body []byte) ([][]byte, error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) {
		return nil, fmt.Errorf("certificate list longer than message: %w", ErrMalformed)
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%d bytes after certificate list: %w", len(s), ErrMalformed)
	}
	if list.Empty() {
		return nil, fmt.Errorf("empty certificate list: %w", ErrMalformed)
	}
	var certs [][]byte
	for !list.Empty() {
		if len(certs) == maxCertificates {
			return nil, fmt.Errorf("more than %d certificates: %w", maxCertificates, ErrTooLarge)
		}
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return nil, fmt.Errorf("certificate %d longer than list: %w", len(certs), ErrMalformed)
		}
		if der.Empty() {
			return nil, fmt.Errorf("certificate %d empty: %w", len(certs), ErrMalformed)
		}
		certs = append(certs, append([]byte(nil), der...))
	}
	return certs, nil
}
