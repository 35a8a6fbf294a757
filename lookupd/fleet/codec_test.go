package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type testValue struct {
	A string `json:"a"`
	N int    `json:"n,omitempty"`
}

func TestCodecRoundTrip(t *testing.T) {
	in := testValue{A: "x\r\ny", N: 7}
	b, err := Encode("tlsprobed:f:gnutls:192.0.2.1:25", in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("tp1 ")) {
		t.Errorf("value %q does not start with its version", b)
	}
	var out testValue
	if err := Decode("tlsprobed:f:gnutls:192.0.2.1:25", b, &out); err != nil || out != in {
		t.Fatalf("decode: %+v, %v; want %+v", out, err, in)
	}
}

// TestCodecRejects: what is not exactly a value written for that key, by
// this version, is ErrVersion or ErrCorrupt, never a value.
func TestCodecRejects(t *testing.T) {
	const key = "p:f:gnutls:192.0.2.1:25"
	good, err := Encode(key, testValue{A: "a", N: 1})
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	flip[len(flip)-3] ^= 1 // a digit of "n":1 ... stays JSON, changes the value
	other, _ := Encode("p:f:gnutls:192.0.2.2:25", testValue{A: "a", N: 1})
	cases := []struct {
		name string
		key  string
		b    []byte
		want error
	}{
		{"empty", key, nil, ErrCorrupt},
		{"junk", key, []byte("hello"), ErrCorrupt},
		{"plain json", key, []byte(`{"a":"a","n":1}`), ErrCorrupt},
		{"version 2", key, append([]byte("tp2 "), good[4:]...), ErrVersion},
		{"version 0", key, []byte("tp0 00000000 {}"), ErrVersion},
		{"no checksum", key, []byte("tp1 {}"), ErrCorrupt},
		{"bad checksum digits", key, append([]byte("tp1 zzzzzzzz "), good[13:]...), ErrCorrupt},
		{"bit flip", key, flip, ErrCorrupt},
		{"another key's value", key, other, ErrCorrupt},
		{"truncated", key, good[:len(good)-2], ErrCorrupt},
		{"too long", key, append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxValue)...), ErrCorrupt},
	}
	for _, tc := range cases {
		var v testValue
		err := Decode(tc.key, tc.b, &v)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Valid checksums over bad JSON: an unknown field, trailing data.
	for _, payload := range []string{`{"a":"a","x":1}`, `{"a":"a"} {}`, `{"a":"a"}x`, `[1]`, `{"n":"str"}`} {
		b := []byte("tp1 ")
		b = fmt.Appendf(b, "%08x %s", checksum(key, []byte(payload)), payload)
		var v testValue
		if err := Decode(key, b, &v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("payload %s: %v, want ErrCorrupt", payload, err)
		}
	}
	if _, err := Encode(key, testValue{A: strings.Repeat("x", MaxValue)}); err == nil {
		t.Error("Encode took a value longer than MaxValue")
	}
}

// FuzzDecode: any bytes decode to a value or to ErrVersion/ErrCorrupt,
// never a panic; what decodes encodes back to a value that decodes the same.
func FuzzDecode(f *testing.F) {
	const key = "tlsprobed:n:mx.example.com"
	good, _ := Encode(key, testValue{A: "a", N: 3})
	f.Add(good)
	f.Add([]byte("tp1 00000000 {}"))
	f.Add([]byte("tp9 x"))
	f.Add([]byte(`{"a":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v testValue
		err := Decode(key, b, &v)
		if err != nil {
			if !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is neither ErrVersion nor ErrCorrupt", err)
			}
			return
		}
		again, err := Encode(key, v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var w testValue
		if err := Decode(key, again, &w); err != nil || w != v {
			t.Fatalf("round trip: %+v, %v; want %+v", w, err, v)
		}
	})
}
