package socket

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
)

// MaxRequest is the longest request line, without its line ending.
const MaxRequest = 1024

// Request verbs.
const (
	VerbDomain  = "domain" // the bare domain Exim sends
	VerbExplain = "explain"
	VerbStats   = "stats"
	VerbFlush   = "flush"
	// VerbList: "list" or "list WORD" (an answer word: smallkey, tlsexport,
	// nodhe, seclevel1, seclevel0) asks for the MX hosts and domains flagged now, from
	// cached data only; the answer is one JSON line (Listed).
	VerbList = "list"
	// VerbReport: "report ADDRESS TEXT", from Exim's transport event
	// msg:host:defer: the delivery to ADDRESS ($host_address: a bare IPv4
	// or IPv6 literal, "[v6]" accepted too) failed with TEXT ($event_data,
	// the rest of the line, may be empty). Arg is the address in its
	// canonical form, Text the text.
	VerbReport = "report"
)

// The lists the list verb takes: the non-empty answers (nodhe and
// seclevel1, seclevel0 are the openssl client's).
const (
	ListSmallKey  = "smallkey"
	ListTLSExport = "tlsexport"
	ListNoDHE     = "nodhe"
	ListSecLevel1 = "seclevel1"
	ListSecLevel0 = "seclevel0"
)

// ErrBadRequest is wrapped by every error of ParseRequest.
var ErrBadRequest = errors.New("bad request")

// Request is one parsed request line.
type Request struct {
	Verb string
	Arg  string     // the domain, "all" for flush, the list name or "" for list, the address for report
	Text string     // report only: what Exim says went wrong
	Addr netip.Addr // report only: the address, parsed (Arg is its canonical form)
}

// ParseRequest parses one request line, without its line ending (a trailing
// CR is removed). A line without a known verb is a domain for Exim.
// On an error the Request is zero, except that its Verb is set when the
// verb was recognised (an admin verb with bad arguments, a report with a
// bad address), so that the server can answer an admin verb with an error
// line and tell the handler (MalformedObserver) which verb was malformed.
func ParseRequest(line []byte) (Request, error) {
	// The CR of a CRLF is not part of the line: trim it before the length
	// check, or a request of exactly MaxRequest bytes ended by CRLF would be
	// refused.
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > MaxRequest {
		return Request{}, fmt.Errorf("%w: longer than %d bytes", ErrBadRequest, MaxRequest)
	}
	for _, c := range line {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return Request{}, fmt.Errorf("%w: control byte 0x%02x", ErrBadRequest, c)
		}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return Request{}, fmt.Errorf("%w: empty", ErrBadRequest)
	}
	word, rest, _ := bytes.Cut(line, []byte(" "))
	rest = bytes.TrimSpace(rest)
	switch string(word) {
	case VerbStats:
		if len(rest) != 0 {
			return Request{Verb: VerbStats}, fmt.Errorf("%w: stats takes no argument", ErrBadRequest)
		}
		return Request{Verb: VerbStats}, nil
	case VerbList:
		switch string(rest) {
		case "", ListSmallKey, ListTLSExport, ListNoDHE, ListSecLevel1, ListSecLevel0:
			return Request{Verb: VerbList, Arg: string(rest)}, nil
		}
		return Request{Verb: VerbList}, fmt.Errorf("%w: list takes smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing", ErrBadRequest)
	case VerbExplain, VerbFlush:
		if len(rest) == 0 || bytes.ContainsAny(rest, " \t") {
			return Request{Verb: string(word)}, fmt.Errorf("%w: %s takes one argument", ErrBadRequest, word)
		}
		return Request{Verb: string(word), Arg: string(rest)}, nil
	case VerbReport:
		return parseReport(rest)
	}
	if len(rest) != 0 {
		return Request{}, fmt.Errorf("%w: unknown verb %q", ErrBadRequest, word)
	}
	return Request{Verb: VerbDomain, Arg: string(word)}, nil
}

// parseReport parses the arguments of a report: an address, then the
// text (the rest of the line, spaces and tabs kept inside it).
func parseReport(rest []byte) (Request, error) {
	bad := Request{Verb: VerbReport}
	word, text, _ := bytes.Cut(rest, []byte(" "))
	if i := bytes.IndexByte(word, '\t'); i >= 0 {
		word, text = word[:i], rest[i+1:]
	}
	if len(word) == 0 {
		return bad, fmt.Errorf("%w: report takes an address and a text", ErrBadRequest)
	}
	a, err := parseReportAddr(word)
	if err != nil {
		return bad, err
	}
	return Request{Verb: VerbReport, Arg: a.String(), Addr: a, Text: string(bytes.TrimSpace(text))}, nil
}

// parseReportAddr parses Exim's $host_address: an IPv4 or IPv6 literal,
// without a zone; "[v6]" is accepted, an IPv4-mapped IPv6 address is taken
// as its IPv4 address.
func parseReportAddr(b []byte) (netip.Addr, error) {
	s := string(b)
	bracketed := len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']'
	if bracketed {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%w: report: not an IP address: %q", ErrBadRequest, b)
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("%w: report: an address with a zone: %q", ErrBadRequest, b)
	case bracketed && !a.Is6():
		return netip.Addr{}, fmt.Errorf("%w: report: brackets around an IPv4 address: %q", ErrBadRequest, b)
	}
	return a.Unmap(), nil
}
