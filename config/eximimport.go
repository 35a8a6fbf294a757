package config

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EximImport is the result of ImportEximLists.
type EximImport struct {
	Lists []EximList    // the list definitions found
	Items []EximItem    // every item, in file order; Why is set on those not imported
	Notes []EximProblem // what the files hold that an import cannot follow (.include, .ifdef, lists defined twice...)
}

// Problems is everything to report: the notes, then the items not imported.
func (im EximImport) Problems() []EximProblem {
	ps := slices.Clone(im.Notes)
	for _, it := range im.Items {
		if it.Why != "" {
			ps = append(ps, EximProblem{File: it.File, Line: it.Line, Lost: true,
				Msg: fmt.Sprintf("%s %s: %q not imported: %s", it.Kind, it.List, it.Text, it.Why)})
		}
	}
	return ps
}

// Complete reports whether everything found was imported: no problem is
// Lost (notes about lists imported anyway do not count).
func (im EximImport) Complete() bool {
	for _, p := range im.Problems() {
		if p.Lost {
			return false
		}
	}
	return true
}

// ImportEximLists checks the items ParseEximLists found in one or more
// files of one Exim configuration and keeps those [overrides] can express:
// names, "*suffix" and "^regex" (RE2) items. Negations, list references,
// "@" items, lookups, files, expansions, macros and IP addresses are not
// imported but reported. An item in both lists stays in smallkey, as with
// the classic routers, which test smallkey first.
func ImportEximLists(files ...EximLists) EximImport {
	var im EximImport
	var macros []string
	for _, f := range files {
		im.Lists = append(im.Lists, f.Lists...)
		im.Items = append(im.Items, f.Items...)
		macros = append(macros, f.Macros...)
		im.Notes = append(im.Notes, f.Problems...)
	}
	seenList := map[string]EximList{}
	for _, l := range im.Lists {
		key := l.Kind + " " + l.Name
		if first, dup := seenList[key]; dup {
			im.Notes = append(im.Notes, EximProblem{File: l.File, Line: l.Line,
				Msg: fmt.Sprintf("%s is defined again (first at %s:%d); Exim refuses a name defined twice in one configuration, the import takes both", key, first.File, first.Line)})
			continue
		}
		seenList[key] = l
	}
	if len(im.Lists) == 0 {
		im.Notes = append(im.Notes, EximProblem{Lost: true, Msg: "no domainlist or hostlist of the wanted names found"})
	}

	// smallkey first, so that it keeps an item that is in both lists.
	seen := map[string]*EximItem{}
	kept := 0
	for _, list := range []string{ListSmallKey, ListTLSExport} {
		for i := range im.Items {
			it := &im.Items[i]
			if it.List != list {
				continue
			}
			it.Why = eximItemProblem(it, macros)
			if it.Why == "" {
				kind, norm, _ := classifyItem(it.Text)
				switch first := seen[kind+norm]; {
				case first != nil && first.List != it.List:
					it.Why = fmt.Sprintf("also in %s at %s:%d, which wins (the classic routers test smallkey first)", first.List, first.File, first.Line)
				case first != nil:
					continue // a repeat within one list: harmless, kept once
				case kept >= maxOverrides:
					it.Why = fmt.Sprintf("more than %d items in all", maxOverrides)
				default:
					seen[kind+norm] = it
					kept++
				}
			}
		}
	}
	return im
}

// eximItemProblem says why an item cannot become an override item; "" if it can.
func eximItemProblem(it *EximItem, macros []string) string {
	s := it.Text
	if inner, ok := strings.CutPrefix(s, `\N`); ok && strings.HasSuffix(inner, `\N`) && len(inner) >= 2 {
		// \N...\N protects a regex from expansion: its content is taken as is.
		s = strings.TrimSuffix(inner, `\N`)
		if !strings.HasPrefix(s, "^") {
			return `only a "^regex" is imported from a \N...\N item`
		}
		it.Text = s
	} else {
		switch {
		case strings.HasPrefix(s, "!"):
			return `a negated item is not supported: put the name in [overrides] none, which beats patterns`
		case strings.HasPrefix(s, "+"):
			return "a reference to another named list is not followed: import that list's items by hand"
		case strings.HasPrefix(s, "@"):
			return `"@" items (the local host, @mx_any, @[]...) have no override equivalent`
		case strings.HasPrefix(s, "^") && strings.ContainsAny(s, `$\`):
			return `expansion changes "$" and "\" in a named list: write the regex as \N^...\N`
		case strings.HasPrefix(s, "^"):
		case strings.Contains(s, ";"):
			return "a lookup is not followed: import its keys by hand"
		case strings.HasPrefix(s, "/"):
			return "a file of items is not read: import its lines by hand"
		case strings.Contains(s, "$"):
			return "an expansion is not supported"
		case strings.Contains(s, `\`):
			return `a backslash is an expansion escape in a named list: write a regex as \N^...\N, or the name without it`
		}
		if m := macroIn(s, macros); m != "" {
			return fmt.Sprintf("macro %s is not expanded: import its value by hand", m)
		}
		if _, err := netip.ParsePrefix(s); err == nil {
			return "an IP network is not supported: overrides match names"
		}
		if _, err := netip.ParseAddr(s); err == nil {
			return "an IP address is not supported: overrides match names"
		}
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	// What [overrides] accepts is what compiles as an override list.
	if _, errs := compileOverrides(OverrideLists{SmallKey: []string{s}}); len(errs) > 0 {
		msg := errs[0].Error()
		if e, ok := errs[0].(*Error); ok {
			msg = e.Msg
		}
		return "not a name, \"*suffix\" or \"^regex\" for [overrides]: " + msg
	}
	return ""
}

// macroIn returns the macro an item uses: a defined macro name at the start
// of a word (Exim replaces those wherever they appear), or an item that is
// all upper case like a macro name.
func macroIn(s string, macros []string) string {
	upper := s != "" && s[0] >= 'A' && s[0] <= 'Z'
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			upper = false
		}
		if c < 'A' || c > 'Z' || i > 0 && (isAlnum(s[i-1]) || s[i-1] == '_') {
			continue
		}
		for _, m := range macros {
			if strings.HasPrefix(s[i:], m) {
				return m
			}
		}
	}
	if upper {
		return s
	}
	return ""
}

// Overrides returns the imported items as override lists.
func (im EximImport) Overrides() OverrideLists {
	ls := OverrideLists{SmallKey: []string{}, TLSExport: []string{}, None: []string{}}
	for _, it := range im.imported() {
		switch it.List {
		case ListSmallKey:
			ls.SmallKey = append(ls.SmallKey, it.Text)
		case ListTLSExport:
			ls.TLSExport = append(ls.TLSExport, it.Text)
		}
	}
	return ls
}

// imported returns the items kept, without repeats within a list.
func (im EximImport) imported() []EximItem {
	var out []EximItem
	seen := map[string]bool{}
	for _, it := range im.Items {
		if it.Why != "" || it.Text == "" {
			continue
		}
		kind, norm, err := classifyItem(it.Text)
		if err != nil || seen[it.List+kind+norm] {
			continue
		}
		seen[it.List+kind+norm] = true
		out = append(out, it)
	}
	return out
}

// WriteTOML writes the [overrides] section of the import: one item per
// line with the place it came from, and, as comments in their list, the
// items not imported with the reason. The result loads with Parse.
func (im EximImport) WriteTOML(w io.Writer) error {
	bw := bufio.NewWriter(w)
	comment := func(format string, args ...any) {
		bw.WriteString(tomlComment(fmt.Sprintf(format, args...)))
	}
	comment("# [overrides] imported by tlsprobe import from Exim named lists")
	for _, l := range im.Lists {
		comment("#   %s:%d: %s %s -> %s", l.File, l.Line, l.Kind, l.Name, l.List)
	}
	for _, p := range im.Notes {
		comment("# note: %s", p)
	}
	bw.WriteString("[overrides]\n")
	kept := im.imported()
	for _, list := range []string{ListSmallKey, ListTLSExport} {
		fmt.Fprintf(bw, "%s = [\n", list)
		for _, it := range im.Items {
			if it.List != list || it.Why == "" {
				continue
			}
			comment("  # not imported: %q (%s:%d: %s)", it.Text, it.File, it.Line, it.Why)
		}
		for _, it := range kept {
			if it.List != list {
				continue
			}
			fmt.Fprintf(bw, "  %s,", tomlString(it.Text))
			comment(" # %s:%d", it.File, it.Line)
		}
		bw.WriteString("]\n")
	}
	return bw.Flush()
}

// tomlComment returns s as one comment line: control characters and
// invalid UTF-8 (which TOML does not allow in comments) become "?".
func tomlComment(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"), r < ' ' && r != '\t', r == 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// tomlString quotes s as a TOML basic string (s is valid UTF-8).
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
			b.WriteString(`\u00` + strconv.FormatInt(int64(r)>>4, 16) + strconv.FormatInt(int64(r)&15, 16))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
