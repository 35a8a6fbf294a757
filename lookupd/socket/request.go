package socket

import (
	"bytes"
	"errors"
	"fmt"
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
	// nodhe, seclevel1) asks for the MX hosts and domains flagged now, from
	// cached data only; the answer is one JSON line (Listed).
	VerbList = "list"
)

// The lists the list verb takes: the non-empty answers (nodhe and
// seclevel1 are the openssl client's).
const (
	ListSmallKey  = "smallkey"
	ListTLSExport = "tlsexport"
	ListNoDHE     = "nodhe"
	ListSecLevel1 = "seclevel1"
)

// ErrBadRequest is wrapped by every error of ParseRequest.
var ErrBadRequest = errors.New("bad request")

// Request is one parsed request line.
type Request struct {
	Verb string
	Arg  string // the domain, "all" for flush, the list name or "" for list
}

// ParseRequest parses one request line, without its line ending (a trailing
// CR is removed). A line without a known verb is a domain for Exim.
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
			return Request{}, fmt.Errorf("%w: stats takes no argument", ErrBadRequest)
		}
		return Request{Verb: VerbStats}, nil
	case VerbList:
		switch string(rest) {
		case "", ListSmallKey, ListTLSExport, ListNoDHE, ListSecLevel1:
			return Request{Verb: VerbList, Arg: string(rest)}, nil
		}
		return Request{}, fmt.Errorf("%w: list takes smallkey, tlsexport, nodhe, seclevel1 or nothing", ErrBadRequest)
	case VerbExplain, VerbFlush:
		if len(rest) == 0 || bytes.ContainsAny(rest, " \t") {
			return Request{}, fmt.Errorf("%w: %s takes one argument", ErrBadRequest, word)
		}
		return Request{Verb: string(word), Arg: string(rest)}, nil
	}
	if len(rest) != 0 {
		return Request{}, fmt.Errorf("%w: unknown verb %q", ErrBadRequest, word)
	}
	return Request{Verb: VerbDomain, Arg: string(word)}, nil
}
