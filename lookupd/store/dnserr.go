package store

import (
	"errors"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
)

// DNSFailure is the kind of a failed DNS lookup, a closed set: what the
// metrics, the failure log (dnswatch.go) and errors.Is tell apart.
type DNSFailure string

const (
	DNSServFail DNSFailure = "servfail" // mx.ErrServFail
	DNSTimeout  DNSFailure = "timeout"  // mx.ErrTimeout
	DNSOther    DNSFailure = "other"    // anything else
)

// DNSFailureOf is err's kind.
func DNSFailureOf(err error) DNSFailure {
	switch {
	case errors.Is(err, mx.ErrServFail):
		return DNSServFail
	case errors.Is(err, mx.ErrTimeout):
		return DNSTimeout
	}
	return DNSOther
}

// dnsError is a DNS failure as a cache entry holds it (its text and kind,
// entry fields Err and ErrKind): errors.Is(err, mx.ErrServFail) and
// mx.ErrTimeout hold for it as for the resolver's error it was made of,
// also once cached, saved and loaded again.
type dnsError struct {
	text string
	kind DNSFailure
}

func (e *dnsError) Error() string { return e.text }

// Is matches the resolver's sentinel of e's kind.
func (e *dnsError) Is(target error) bool {
	switch e.kind {
	case DNSServFail:
		return target == mx.ErrServFail
	case DNSTimeout:
		return target == mx.ErrTimeout
	}
	return false
}

// StoredDNSError is the error of an entry's Err and ErrKind; nil when Err
// is empty.
func StoredDNSError(text string, kind DNSFailure) error {
	if text == "" {
		return nil
	}
	if kind == "" {
		kind = DNSOther // an entry saved before kinds were
	}
	return &dnsError{text: text, kind: kind}
}
