package tlswire

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// testdata reads testdata/hello/<name> at the repository root.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(lab.Testdata(t, "hello/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// handshakeMessages splits a server flight (records) into its handshake
// messages, headers included, stopping at the first non-handshake record.
func handshakeMessages(t testing.TB, flight []byte) [][]byte {
	t.Helper()
	var stream []byte
	for len(flight) >= 5 && flight[0] == recordHandshake {
		n := int(flight[3])<<8 | int(flight[4])
		stream = append(stream, flight[5:5+n]...)
		flight = flight[5+n:]
	}
	var msgs [][]byte
	for len(stream) >= 4 {
		n := 4 + (int(stream[1])<<16 | int(stream[2])<<8 | int(stream[3]))
		msgs = append(msgs, stream[:n])
		stream = stream[n:]
	}
	if len(stream) != 0 {
		t.Fatalf("flight ends inside a handshake message")
	}
	return msgs
}

// record wraps data in one record of type typ (TLS 1.2 record version).
func record(typ uint8, data []byte) []byte {
	out := []byte{typ, 3, 3, byte(len(data) >> 8), byte(len(data))}
	return append(out, data...)
}

// records wraps a handshake stream in records cut at the given offsets.
func records(stream []byte, cuts ...int) []byte {
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		out = append(out, record(recordHandshake, stream[prev:c])...)
		prev = c
	}
	return out
}

// hsMsg builds a handshake message.
func hsMsg(typ uint8, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// stageOf returns the stage of a *stage.Error ("" if err is not one).
func stageOf(err error) stage.Stage {
	var se *stage.Error
	if errors.As(err, &se) {
		return se.Stage
	}
	return ""
}
