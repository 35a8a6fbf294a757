package socket

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request
		bad  bool
	}{
		{in: "example.org", want: Request{VerbDomain, "example.org"}},
		{in: "example.org\r", want: Request{VerbDomain, "example.org"}},
		{in: "  user@Example.ORG. ", want: Request{VerbDomain, "user@Example.ORG."}},
		{in: "explain example.org", want: Request{VerbExplain, "example.org"}},
		{in: "stats", want: Request{Verb: VerbStats}},
		{in: "flush all", want: Request{VerbFlush, "all"}},
		{in: "flush example.org", want: Request{VerbFlush, "example.org"}},
		{in: "list", want: Request{Verb: VerbList}},
		{in: "list smallkey", want: Request{VerbList, "smallkey"}},
		{in: "list  tlsexport ", want: Request{VerbList, "tlsexport"}},
		{in: "", bad: true},
		{in: "   ", bad: true},
		{in: "stats now", bad: true},
		{in: "explain", bad: true},
		{in: "explain a b", bad: true},
		{in: "list ok", bad: true},
		{in: "list smallkey tlsexport", bad: true},
		{in: "frobnicate example.org", bad: true},
		{in: "exa\x00mple.org", bad: true},
		{in: "example.org\x1b", bad: true},
		{in: strings.Repeat("a", MaxRequest+1), bad: true},
		{in: strings.Repeat("a", MaxRequest) + "\r", want: Request{VerbDomain, strings.Repeat("a", MaxRequest)}},
		{in: strings.Repeat("a", MaxRequest+1) + "\r", bad: true},
	} {
		got, err := ParseRequest([]byte(tc.in))
		if tc.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("ParseRequest(%q) = %+v, %v; want ErrBadRequest", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRequest(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"example.org", "explain example.org", "stats", "flush all", "list tlsexport", "user@b\xc3\xbccher.example", "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		if req.Verb == "" || len(req.Arg) > MaxRequest || strings.ContainsAny(req.Arg, " \n\r\x00") {
			t.Fatalf("ParseRequest(%q) = %+v", b, req)
		}
	})
}
