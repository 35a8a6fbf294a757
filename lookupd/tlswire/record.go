package tlswire

import (
	"errors"
	"fmt"
	"io"
)

// Record content types (RFC 8446 5.1).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	// recordHandshake = 22 (hello.go)
	recordApplicationData = 23
	recordHeartbeat       = 24
)

// Caps on what a server may make the reader hold.
const (
	maxRecordLen    = 1<<14 + 2048 // TLSCiphertext limit (RFC 5246 6.2.3); a plaintext flight stays below
	maxHandshakeLen = 64 << 10     // one handshake message (a certificate chain is the big one)
	maxFlightBytes  = 256 << 10    // everything read, record headers included
	recordHeaderLen = 5
)

// recordReader reads TLS records (RFC 5246 6.2.1) one at a time, bounded.
type recordReader struct {
	r       io.Reader
	total   int // bytes read so far
	records int
	hdr     [recordHeaderLen]byte
	buf     []byte // payload of the last record; reused
}

// next returns the next record. Its payload is valid until the next call.
// The first record must look like TLS, or the error is ErrNotTLS.
func (rr *recordReader) next() (uint8, []byte, error) {
	n, err := io.ReadFull(rr.r, rr.hdr[:])
	if err != nil {
		if n > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("read record header: %w", err)
	}
	typ, major, minor := rr.hdr[0], rr.hdr[1], rr.hdr[2]
	length := int(rr.hdr[3])<<8 | int(rr.hdr[4])
	if typ < recordChangeCipherSpec || typ > recordHeartbeat || major != 3 || minor > 4 {
		if rr.records == 0 {
			return 0, nil, fmt.Errorf("first bytes %q: %w", printable(rr.hdr[:]), ErrNotTLS)
		}
		return 0, nil, fmt.Errorf("record header % x: %w", rr.hdr[:], ErrMalformed)
	}
	rr.records++
	if length > maxRecordLen {
		return 0, nil, fmt.Errorf("record of %d bytes: %w", length, ErrTooLarge)
	}
	if rr.total+recordHeaderLen+length > maxFlightBytes {
		return 0, nil, fmt.Errorf("flight over %d bytes: %w", maxFlightBytes, ErrTooLarge)
	}
	rr.total += recordHeaderLen + length
	if cap(rr.buf) < length {
		rr.buf = make([]byte, length) // length checked above
	}
	rr.buf = rr.buf[:length]
	if _, err := io.ReadFull(rr.r, rr.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("read record body: %w", err)
	}
	return typ, rr.buf, nil
}

// printable shows bytes as text where they are text, for ErrNotTLS messages
// (a server that answers in SMTP or HTTP shows its words).
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
