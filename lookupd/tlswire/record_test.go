package tlswire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRecordReader(t *testing.T) {
	wire := concat(record(recordHandshake, []byte("abc")), record(recordAlert, []byte{2, 40}), record(recordHandshake, nil))
	rr := recordReader{r: bytes.NewReader(wire)}
	for i, want := range []struct {
		typ  uint8
		data string
	}{{recordHandshake, "abc"}, {recordAlert, "\x02\x28"}, {recordHandshake, ""}} {
		typ, data, err := rr.next()
		if err != nil || typ != want.typ || string(data) != want.data {
			t.Fatalf("record %d: %d %q %v", i, typ, data, err)
		}
	}
	if _, _, err := rr.next(); !errors.Is(err, io.EOF) {
		t.Errorf("at end: %v", err)
	}
	if rr.total != len(wire) || rr.records != 3 {
		t.Errorf("total %d records %d", rr.total, rr.records)
	}
}

func TestRecordReaderLimits(t *testing.T) {
	max := record(recordHandshake, make([]byte, maxRecordLen))
	rr := recordReader{r: bytes.NewReader(max)}
	if _, data, err := rr.next(); err != nil || len(data) != maxRecordLen {
		t.Fatalf("record of %d bytes: %d %v", maxRecordLen, len(data), err)
	}
	// The length field is checked before anything is allocated or read.
	rr = recordReader{r: bytes.NewReader([]byte{22, 3, 3, 0xff, 0xff})}
	if _, _, err := rr.next(); !errors.Is(err, ErrTooLarge) || rr.buf != nil {
		t.Errorf("65535-byte record: %v, buf %d", err, cap(rr.buf))
	}
	for _, first := range []string{"220 ", "EHLO ", "\x80\x2e\x01", "\x16\x02\x00\x00\x01", "\x19\x03\x03\x00\x00", "\x16\x03\x05\x00\x00"} {
		rr := recordReader{r: bytes.NewReader([]byte(first + "..........."))}
		if _, _, err := rr.next(); !errors.Is(err, ErrNotTLS) {
			t.Errorf("%q: %v", first, err)
		}
	}
	if got := printable([]byte("220 \x00")); got != "220 ." {
		t.Errorf("printable: %q", got)
	}
}
