package socket

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request // with bad: the Request returned with the error
		bad  bool
	}{
		{in: "example.org", want: Request{Verb: VerbDomain, Arg: "example.org"}},
		{in: "example.org\r", want: Request{Verb: VerbDomain, Arg: "example.org"}},
		{in: "  user@Example.ORG. ", want: Request{Verb: VerbDomain, Arg: "user@Example.ORG."}},
		{in: "explain example.org", want: Request{Verb: VerbExplain, Arg: "example.org"}},
		{in: "stats", want: Request{Verb: VerbStats}},
		{in: "flush all", want: Request{Verb: VerbFlush, Arg: "all"}},
		{in: "flush example.org", want: Request{Verb: VerbFlush, Arg: "example.org"}},
		{in: "list", want: Request{Verb: VerbList}},
		{in: "list smallkey", want: Request{Verb: VerbList, Arg: "smallkey"}},
		{in: "list  tlsexport ", want: Request{Verb: VerbList, Arg: "tlsexport"}},
		{in: "report 192.0.2.10 TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).",
			want: Request{Verb: VerbReport, Arg: "192.0.2.10", Addr: netip.MustParseAddr("192.0.2.10"), Text: "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough)."}},
		{in: "report 2001:DB8::a  TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small \r",
			want: Request{Verb: VerbReport, Arg: "2001:db8::a", Addr: netip.MustParseAddr("2001:db8::a"), Text: "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small"}},
		{in: "report [2001:db8::a] a\tb  c", want: Request{Verb: VerbReport, Arg: "2001:db8::a", Addr: netip.MustParseAddr("2001:db8::a"), Text: "a\tb  c"}},
		{in: "report\t192.0.2.1\tx", want: Request{Verb: VerbDomain, Arg: "report\t192.0.2.1\tx"}}, // verbs end at a space
		{in: "report 192.0.2.1\tx y", want: Request{Verb: VerbReport, Arg: "192.0.2.1", Addr: netip.MustParseAddr("192.0.2.1"), Text: "x y"}},
		{in: "report ::ffff:192.0.2.1 x", want: Request{Verb: VerbReport, Arg: "192.0.2.1", Addr: netip.MustParseAddr("192.0.2.1"), Text: "x"}},
		{in: "report 192.0.2.1", want: Request{Verb: VerbReport, Arg: "192.0.2.1", Addr: netip.MustParseAddr("192.0.2.1")}},
		{in: "", bad: true},
		{in: "   ", bad: true},
		{in: "stats now", want: Request{Verb: VerbStats}, bad: true},
		{in: "explain", want: Request{Verb: VerbExplain}, bad: true},
		{in: "explain a b", want: Request{Verb: VerbExplain}, bad: true},
		{in: "list ok", want: Request{Verb: VerbList}, bad: true},
		{in: "list smallkey tlsexport", want: Request{Verb: VerbList}, bad: true},
		{in: "flush", want: Request{Verb: VerbFlush}, bad: true},
		{in: "frobnicate example.org", bad: true},
		{in: "exa\x00mple.org", bad: true},
		{in: "example.org\x1b", bad: true},
		{in: strings.Repeat("a", MaxRequest+1), bad: true},
		{in: strings.Repeat("a", MaxRequest) + "\r", want: Request{Verb: VerbDomain, Arg: strings.Repeat("a", MaxRequest)}},
		{in: strings.Repeat("a", MaxRequest+1) + "\r", bad: true},
	} {
		got, err := ParseRequest([]byte(tc.in))
		if tc.bad {
			if got != tc.want {
				t.Errorf("ParseRequest(%q) = %+v with an error; want %+v", tc.in, got, tc.want)
			}
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

// TestParseReportBad: a report with a bad address is an error that still
// names the verb (the handler counts it as a malformed report).
func TestParseReportBad(t *testing.T) {
	for _, in := range []string{
		"report", "report ", "report mx.example.org TLS session: x", "report 192.0.2.300 x", "report [192.0.2.1] x",
		"report fe80::1%eth0 x", "report [2001:db8::1 x", "report 2001:db8::1] x", "report 192.0.2.1/24 x", "report 192.0.2.1:25 x",
		"report 192.0.2.1 x\x00y", "report " + strings.Repeat("1", MaxRequest),
	} {
		got, err := ParseRequest([]byte(in))
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseRequest(%q) = %+v, %v; want ErrBadRequest", in, got, err)
			continue
		}
		// Bytes rejected before the verb is read (control bytes, length)
		// give the zero Request; a bad address names the verb.
		want := Request{Verb: VerbReport}
		if strings.ContainsRune(in, 0) || len(in) > MaxRequest {
			want = Request{}
		}
		if got != want {
			t.Errorf("ParseRequest(%q) = %+v, want %+v with the error", in, got, want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"example.org", "explain example.org", "stats", "flush all", "list tlsexport", "user@b\xc3\xbccher.example", "\x00\xff",
		"report 192.0.2.1 TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).",
		"report [2001:db8::1] TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small", "report ::ffff:10.0.0.1\tx",
		"report fe80::1%eth0 x", "report [1.2.3.4]", "report"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			if req != (Request{Verb: req.Verb}) || req.Verb == VerbDomain {
				t.Fatalf("ParseRequest(%q) = %+v with error %v", b, req, err)
			}
			return
		}
		if req.Verb == "" || len(req.Arg) > MaxRequest || strings.ContainsAny(req.Arg, " \n\r\x00") {
			t.Fatalf("ParseRequest(%q) = %+v", b, req)
		}
		if req.Verb == VerbReport {
			a, err := netip.ParseAddr(req.Arg)
			if err != nil || a != req.Addr || a.Zone() != "" || a.Is4In6() || a.String() != req.Arg || len(req.Text) > MaxRequest || strings.ContainsAny(req.Text, "\n\r\x00") {
				t.Fatalf("ParseRequest(%q) = %+v", b, req)
			}
		} else if req.Text != "" {
			t.Fatalf("ParseRequest(%q) = %+v: a text outside a report", b, req)
		}
	})
}
