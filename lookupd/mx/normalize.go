package mx

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrBadDomain: Normalize refused the name.
var ErrBadDomain = errors.New("bad domain")

// Length limits of RFC 1035 section 2.3.4 (253 = 255 octets of wire format
// less the length octets of the first label and the root).
const (
	maxLabel = 63
	maxName  = 253
)

// Normalize turns what a mail system may call a domain into the lowercase
// A-label name that is looked up: "local@" (up to the last "@") is dropped,
// one trailing dot is stripped, U-labels become A-labels (IDNA2008 through
// idna.Lookup, UTS #46 mapping, so "Bücher.Example" -> "xn--bcher-kva.example")
// and the result is checked: labels of 1 to 63 octets, at most 253 octets in
// all, letters, digits, hyphen and underscore only, no hyphen at either end of
// a label. Errors wrap ErrBadDomain.
//
// Underscore is allowed although RFC 5321 domains are letters-digits-hyphen:
// DNS itself permits it, some real MX targets carry one, and refusing would
// only stop a lookup that is harmless to make. ASCII labels are checked here
// rather than by idna.Lookup, whose STD3 and hyphen rules would also refuse
// real names such as "r3--sn-abc.example".
func Normalize(domain string) (string, error) {
	s := domain
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", fmt.Errorf("%w: %q: empty", ErrBadDomain, domain)
	}
	if len(s) > 4*maxName { // no valid name is longer, whatever its U-labels
		return "", fmt.Errorf("%w: %q: longer than %d octets", ErrBadDomain, clip(domain), maxName)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %q: not UTF-8", ErrBadDomain, clip(domain))
	}
	labels := strings.Split(s, ".")
	for i, l := range labels {
		if l == "" {
			return "", fmt.Errorf("%w: %q: empty label", ErrBadDomain, clip(domain))
		}
		if isASCII(l) && !strings.HasPrefix(strings.ToLower(l), "xn--") {
			labels[i] = strings.ToLower(l)
			continue
		}
		a, err := idna.Lookup.ToASCII(l)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrBadDomain, clip(domain), err)
		}
		labels[i] = a // may hold dots: idna maps U+3002 and kin to "."
	}
	name := strings.Join(labels, ".")
	if len(name) > maxName {
		return "", fmt.Errorf("%w: %q: longer than %d octets", ErrBadDomain, clip(domain), maxName)
	}
	for _, l := range strings.Split(name, ".") {
		if err := checkLabel(l); err != nil {
			return "", fmt.Errorf("%w: %q: %s", ErrBadDomain, clip(domain), err)
		}
	}
	return name, nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > maxLabel:
		return fmt.Errorf("label longer than %d octets", maxLabel)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("label %q holds %q", l, c)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// clip shortens an untrusted name quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
