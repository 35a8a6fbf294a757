package config

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// Names of the override lists, as Match returns them.
const (
	ListSmallKey  = "smallkey"
	ListTLSExport = "tlsexport"
	ListNone      = "none"
)

// Overrides is the compiled form of the [overrides] lists. It is immutable and safe
// for concurrent use; a nil *Overrides matches nothing.
//
// Items follow Exim's domain-list syntax, case-insensitively and ignoring one
// trailing dot on both sides:
//   - "mx.example.com": exactly that name;
//   - "*.example.com", "*example.com": a name ending in the characters after the
//     asterisk ("*example.com" also matches "example.com" and "badexample.com";
//     "*" alone matches every name);
//   - "^regex": a Go RE2 regular expression (the circumflex is part of it), matched
//     case-insensitively against the lowercased name; like Exim it is anchored only
//     where the pattern anchors it (add "$" to anchor the end).
//
// Other Exim item forms (negation "!", "@", "@[]", "@mx_*", "+list", lookups "type;")
// are configuration errors.
//
// Precedence, most specific first: an exact name beats every pattern; among suffix
// patterns the longest suffix wins; suffix patterns beat regular expressions;
// regular expressions are tried in list order (smallkey, tlsexport, none) and then
// in their order within a list. The same item in two lists is a configuration error,
// so the answer never depends on list order except between regular expressions or
// between a regular expression and nothing.
type Overrides struct {
	exact   map[string]overrideHit // normalized name -> hit
	suffix  map[string]overrideHit // characters after '*', normalized -> hit
	lens    []int                  // distinct suffix lengths, longest first
	regexes []regexHit
	n       int
}

type overrideHit struct{ list, pattern string }

type regexHit struct {
	overrideHit
	re     *regexp.Regexp // compiled with (?i)
	prefix string         // lowercase ASCII literal every match starts with, or ""
	need   string         // lowercase ASCII literal every match contains, or ""
}

// Match reports which list name (a domain or MX host name) is on, and the item as
// written in the configuration. It does not allocate for names that are already
// lowercase ASCII.
func (o *Overrides) Match(name string) (list string, pattern string, ok bool) {
	if o == nil || o.n == 0 {
		return "", "", false
	}
	name, ascii := normalizeName(name)
	if h, ok := o.exact[name]; ok {
		return h.list, h.pattern, true
	}
	for _, l := range o.lens {
		if l > len(name) {
			continue
		}
		if h, ok := o.suffix[name[len(name)-l:]]; ok {
			return h.list, h.pattern, true
		}
	}
	for i := range o.regexes {
		r := &o.regexes[i]
		if ascii && (!strings.HasPrefix(name, r.prefix) || !strings.Contains(name, r.need)) {
			continue
		}
		if r.re.MatchString(name) {
			return r.list, r.pattern, true
		}
	}
	return "", "", false
}

// Len is the number of distinct items compiled.
func (o *Overrides) Len() int {
	if o == nil {
		return 0
	}
	return o.n
}

// Overrides returns the override lists as compiled by the last successful Validate
// (which Default, Parse and Load run): edit OverrideLists, then Validate, then call
// Overrides. On a Config never validated it compiles the lists on each call.
func (c *Config) Overrides() (*Overrides, error) {
	if c.overrides != nil {
		return c.overrides, nil
	}
	o, errs := compileOverrides(c.OverrideLists)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// normalizeName lowercases name and strips one trailing dot, reporting whether it is
// all ASCII. It returns name itself (no copy) when it is lowercase ASCII already.
func normalizeName(name string) (string, bool) {
	ascii, lower := true, true
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case ch >= utf8.RuneSelf:
			ascii = false
		case ch >= 'A' && ch <= 'Z':
			lower = false
		}
	}
	if !ascii || !lower {
		name = strings.ToLower(name)
	}
	return strings.TrimSuffix(name, "."), ascii
}

type seenItem struct {
	file    string // where it was written, "" for the main file when not merged
	key     string // "overrides.smallkey[3]"
	list    string
	pattern string
}

// compileOverrides builds the matcher; errors name the list and index of each bad
// item, and both places of an item that is in two lists.
func compileOverrides(ls OverrideLists) (*Overrides, []error) {
	o := &Overrides{exact: map[string]overrideHit{}, suffix: map[string]overrideHit{}}
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	failAt := func(file, key, format string, args ...any) {
		errs = append(errs, &Error{File: file, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if n := len(ls.SmallKey) + len(ls.TLSExport) + len(ls.None); n > maxOverrides {
		fail("overrides", "more than %d items in all (got %d)", maxOverrides, n)
		return nil, errs
	}
	seen := map[string]seenItem{} // kind + normalized item -> first place
	lensSeen := map[int]bool{}
	for _, l := range []struct {
		name  string
		items []string
	}{{ListSmallKey, ls.SmallKey}, {ListTLSExport, ls.TLSExport}, {ListNone, ls.None}} {
		for i, raw := range l.items {
			file, key := ls.where(l.name, i)
			kind, norm, err := classifyItem(raw)
			if err != nil {
				failAt(file, key, "%v", err)
				continue
			}
			if prev, dup := seen[kind+norm]; dup {
				if prev.list != l.name {
					at := prev.key
					if prev.file != "" && prev.file != file {
						at = prev.file + ": " + prev.key
					}
					failAt(file, key, "%q is also in %s (%q): an item may be in one list only", raw, at, prev.pattern)
				}
				continue // a repeat within one list is harmless
			}
			seen[kind+norm] = seenItem{file: file, key: key, list: l.name, pattern: raw}
			h := overrideHit{list: l.name, pattern: raw}
			switch kind {
			case "=":
				o.exact[norm] = h
			case "*":
				o.suffix[norm] = h
				if !lensSeen[len(norm)] {
					lensSeen[len(norm)] = true
					o.lens = append(o.lens, len(norm))
				}
			case "^":
				re, err := regexp.Compile("(?i)" + raw)
				if err != nil {
					failAt(file, key, "bad regular expression %q: %v", raw, err)
					continue
				}
				prefix, need := regexFilter(raw)
				o.regexes = append(o.regexes, regexHit{overrideHit: h, re: re, prefix: prefix, need: need})
			}
			o.n++
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Longest suffix first: the most specific pattern wins.
	slices.Sort(o.lens)
	slices.Reverse(o.lens)
	return o, nil
}

// classifyItem returns the kind of an override item ("=" exact, "*" suffix, "^"
// regex) and its normalized form (regexes are kept as written).
func classifyItem(raw string) (kind, norm string, err error) {
	switch {
	case raw == "":
		return "", "", fmt.Errorf("empty item")
	case strings.TrimSpace(raw) != raw:
		return "", "", fmt.Errorf("%q has leading or trailing white space", raw)
	case raw[0] == '^':
		return "^", raw, nil
	case raw[0] == '!':
		return "", "", fmt.Errorf("%q: negated items are not supported; put the name in the none list", raw)
	case raw[0] == '@' || raw[0] == '+' || strings.Contains(raw, ";"):
		return "", "", fmt.Errorf("%q: only names, \"*suffix\" and \"^regex\" items are supported", raw)
	}
	kind, name := "=", raw
	if raw[0] == '*' {
		kind, name = "*", raw[1:]
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_') {
			if ch >= utf8.RuneSelf {
				return "", "", fmt.Errorf("%q: write internationalized names as A-labels (xn--...)", raw)
			}
			return "", "", fmt.Errorf("%q: character %q is not allowed in a name (use \"^regex\" for patterns)", raw, ch)
		}
	}
	if kind == "=" && name == "" {
		return "", "", fmt.Errorf("%q is not a name", raw)
	}
	return kind, name, nil
}

// regexFilter returns two cheap tests a name must pass before a regex item is run:
// prefix, the literal right after the leading "^", which every match starts with; and
// need, the longest literal of the pattern's top-level sequence, which every match
// contains. Both are lowercase ASCII ("" = no test). They are exact filters for
// ASCII names only (case folding maps some non-ASCII runes onto ASCII letters), so
// Match skips them for other names.
func regexFilter(raw string) (prefix, need string) {
	re, err := syntax.Parse(raw, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat {
		return "", ""
	}
	for i, sub := range re.Sub {
		if sub.Op != syntax.OpLiteral {
			continue
		}
		lit, ok := asciiLower(sub.Rune)
		if !ok {
			continue
		}
		if i == 1 && re.Sub[0].Op == syntax.OpBeginText {
			prefix = lit
		}
		if len(lit) > len(need) {
			need = lit
		}
	}
	return prefix, need
}

func asciiLower(rs []rune) (string, bool) {
	b := make([]byte, len(rs))
	for i, r := range rs {
		if r >= utf8.RuneSelf {
			return "", false
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b[i] = byte(r)
	}
	return string(b), true
}
