package tlswire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

func TestHandshakeReaderReassembly(t *testing.T) {
	a, b, c := hsMsg(2, []byte("first")), hsMsg(11, bytes.Repeat([]byte{7}, 40000)), hsMsg(14, nil)
	stream := concat(a, b, c)
	// a and the start of b in one record, b over four records, c with b's tail.
	wire := records(stream, len(a)+3, len(a)+15000, len(a)+30000, len(a)+len(b)-1)
	hr := handshakeReader{rr: recordReader{r: bytes.NewReader(wire)}}
	for i, want := range [][]byte{a, b, c} {
		typ, body, err := hr.message("test")
		if err != nil || typ != want[0] || !bytes.Equal(body, want[4:]) {
			t.Fatalf("message %d: type %d, %d bytes, %v", i, typ, len(body), err)
		}
	}
	if _, _, err := hr.message("test"); stageOf(err) != stage.TLSRecord {
		t.Errorf("after the end: %v", err)
	}
}

func TestHandshakeReaderCap(t *testing.T) {
	ok := hsMsg(11, make([]byte, maxHandshakeLen))
	hr := handshakeReader{rr: recordReader{r: bytes.NewReader(records(ok, 10000, 20000, 30000, 40000, 50000, 60000))}}
	if _, body, err := hr.message("test"); err != nil || len(body) != maxHandshakeLen {
		t.Fatalf("message of %d bytes: %d %v", maxHandshakeLen, len(body), err)
	}
	over := hsMsg(11, make([]byte, maxHandshakeLen+1))
	hr = handshakeReader{rr: recordReader{r: bytes.NewReader(records(over, 10000))}}
	if _, _, err := hr.message("test"); !errors.Is(err, ErrTooLarge) || stageOf(err) != "test" {
		t.Errorf("message over the cap: %v", err)
	}
	if hr.rr.records != 1 {
		t.Errorf("read %d records before refusing; want 1", hr.rr.records)
	}
}
