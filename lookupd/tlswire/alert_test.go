package tlswire

import (
	"bytes"
	"testing"
)

// TestCancelRecords: a warning user_canceled then a warning close_notify,
// each a well-formed plaintext alert record that the flight reader reports
// as the alert it is.
func TestCancelRecords(t *testing.T) {
	b := CancelRecords()
	want := []byte{21, 3, 3, 0, 2, 1, 90, 21, 3, 3, 0, 2, 1, 0}
	if !bytes.Equal(b, want) {
		t.Fatalf("% x, want % x", b, want)
	}
	if got := alertName(b[6]) + " " + alertName(b[13]); got != "user_canceled close_notify" {
		t.Errorf("names %q", got)
	}
	if r := AlertRecord(AlertLevelFatal, AlertInsufficientSecurity); !bytes.Equal(r, []byte{21, 3, 3, 0, 2, 2, 71}) {
		t.Errorf("fatal insufficient_security: % x", r)
	}
}
