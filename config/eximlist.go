package config

// Import of the classic hand-kept Exim named lists (docs/design.md section 0) into
// [overrides]. The syntax is the Exim specification's: chapter 6 ("The Exim
// run time configuration file": comments, continuation lines, macros, .include
// and .ifdef) and chapter 10 ("Domain, host, address, and local part lists":
// named lists, ":" separators with "::" escapes, "<X" separator changes, the
// kinds of item). What [overrides] cannot express is reported, never dropped
// silently.

import (
	"fmt"
	"slices"
	"strings"
)

// EximListNames maps the names of the classic Exim lists to the override
// lists they become.
var EximListNames = map[string]string{"smallkey": ListSmallKey, "tlsexport": ListTLSExport}

// EximList is a definition of a wanted named list.
type EximList struct {
	Kind string // "domainlist" or "hostlist"
	Name string // the Exim list name
	List string // the override list it goes to
	File string
	Line int
}

// EximItem is one item of a wanted named list.
type EximItem struct {
	List string // the override list: ListSmallKey or ListTLSExport
	Kind string // "domainlist" or "hostlist"
	Text string // the item, separators unescaped and white space trimmed
	File string
	Line int
	Why  string // set by ImportEximLists when the item is not imported: why
}

// EximProblem is something an import reports: FILE:LINE: MSG.
type EximProblem struct {
	File string
	Line int
	Msg  string
	// Lost is set when something may not have been imported (an item, a
	// list, a file not followed); a note about what was imported anyway
	// (a list defined twice, inside an .ifdef) leaves it false.
	Lost bool
}

func (p EximProblem) String() string {
	switch {
	case p.File == "":
		return p.Msg
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return p.File + ": " + p.Msg
}

// EximLists is what ParseEximLists found in one file.
type EximLists struct {
	Lists    []EximList    // definitions of wanted lists
	Items    []EximItem    // their items, in file order
	Macros   []string      // names of the macros the file defines
	Problems []EximProblem // what the file holds that an import cannot follow
}

// ParseEximLists reads one Exim configuration file (or a Debian conf.d
// fragment) and returns the items of the named domain and host lists whose
// names are keys of names (nil means EximListNames), with the override list
// each goes to. It does not expand macros or follow .include, and it takes
// every branch of .ifdef; it reports those.
func ParseEximLists(file string, data []byte, names map[string]string) EximLists {
	if names == nil {
		names = EximListNames
	}
	var out EximLists
	depth, ifLine := 0, 0 // .ifdef nesting, and where the outermost began
	for _, ll := range logicalLines(data) {
		s := ll.text
		if s[0] == '.' {
			word, _, _ := strings.Cut(s, " ")
			word, _, _ = strings.Cut(word, "\t")
			switch word {
			case ".ifdef", ".ifndef":
				if depth == 0 {
					ifLine = ll.line(0)
				}
				depth++
			case ".endif":
				depth = max(depth-1, 0)
			case ".include", ".include_if_exists":
				out.Problems = append(out.Problems, EximProblem{File: file, Line: ll.line(0), Lost: true,
					Msg: fmt.Sprintf("%s not followed: name that file to the import too", word)})
			}
			continue
		}
		if name, ok := macroDefinition(s); ok {
			out.Macros = append(out.Macros, name)
			continue
		}
		kind, name, valueAt, ok := namedList(s)
		if !ok {
			continue
		}
		list, wanted := names[name]
		if !wanted {
			continue
		}
		def := EximList{Kind: kind, Name: name, List: list, File: file, Line: ll.line(0)}
		out.Lists = append(out.Lists, def)
		if depth > 0 {
			out.Problems = append(out.Problems, EximProblem{File: file, Line: def.Line,
				Msg: fmt.Sprintf("%s %s is inside the .ifdef/.ifndef of line %d: imported whatever the condition", kind, name, ifLine)})
		}
		value := s[valueAt:]
		if strings.HasPrefix(value, `"`) {
			out.Problems = append(out.Problems, EximProblem{File: file, Line: def.Line, Lost: true,
				Msg: fmt.Sprintf("%s %s: a quoted value is not supported: write the list without quotes", kind, name)})
			continue
		}
		for _, it := range splitEximList(value) {
			if it.text == "" {
				continue // an empty item matches nothing a probe could flag
			}
			out.Items = append(out.Items, EximItem{List: list, Kind: kind, Text: it.text, File: file, Line: ll.line(valueAt + it.at)})
		}
	}
	return out
}

// logicalLine is a configuration line with its continuations joined, and
// where each joined piece came from.
type logicalLine struct {
	text  string
	parts []linePart
}

type linePart struct{ at, line int } // offset in text, 1-based line in the file

// line is the file line of offset at of the logical line.
func (l logicalLine) line(at int) int {
	i, _ := slices.BinarySearchFunc(l.parts, at, func(p linePart, at int) int {
		if p.at <= at {
			return -1
		}
		return 1
	})
	return l.parts[max(i-1, 0)].line
}

// logicalLines splits data as Exim reads its configuration: leading and
// trailing white space is ignored, lines whose first non-blank is "#" are
// comments (also between continuation lines), a line ending in a backslash
// continues on the next one, and empty logical lines are skipped.
func logicalLines(data []byte) []logicalLine {
	var (
		out []logicalLine
		cur logicalLine
		buf []byte
		in  bool // inside a continued line
	)
	emit := func() {
		for len(buf) > 0 && isSpace(buf[len(buf)-1]) {
			buf = buf[:len(buf)-1] // a continued line at the end of the file
		}
		if len(buf) > 0 {
			cur.text = string(buf)
			out = append(out, cur)
		}
		cur, buf, in = logicalLine{}, nil, false
	}
	for n, raw := range strings.Split(string(data), "\n") {
		s := strings.TrimLeft(raw, " \t\r\v\f")
		if strings.HasPrefix(s, "#") {
			continue
		}
		cur.parts = append(cur.parts, linePart{at: len(buf), line: n + 1})
		buf = append(buf, s...)
		for len(buf) > 0 && isSpace(buf[len(buf)-1]) {
			buf = buf[:len(buf)-1]
		}
		if len(buf) > 0 && buf[len(buf)-1] == '\\' {
			buf = buf[:len(buf)-1]
			in = true
			continue
		}
		if len(buf) > 0 || in {
			emit()
		} else {
			cur = logicalLine{}
		}
	}
	emit()
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isPunct and isCntrl are C's, in the C locale.
func isPunct(c byte) bool { return c > ' ' && c < 0x7f && !isAlnum(c) }
func isCntrl(c byte) bool { return c < ' ' || c == 0x7f }

// macroDefinition reports whether s defines a macro ("NAME = value" or
// "NAME == value", NAME starting with an upper-case letter) and its name.
func macroDefinition(s string) (string, bool) {
	if s[0] < 'A' || s[0] > 'Z' {
		return "", false
	}
	i := 1
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
		i++
	}
	name := s[:i]
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return name, i < len(s) && s[i] == '='
}

// namedList parses "domainlist NAME = VALUE" (also hostlist, and the
// _cache forms) and returns the kind, the name and where VALUE starts.
func namedList(line string) (kind, name string, valueAt int, ok bool) {
	i := 0
	for _, k := range [...]string{"domainlist", "hostlist"} {
		if strings.HasPrefix(line, k) {
			kind, i = k, len(k)
			break
		}
	}
	if kind == "" {
		return "", "", 0, false
	}
	if strings.HasPrefix(line[i:], "_cache") {
		i += len("_cache")
	}
	if i >= len(line) || !isSpace(line[i]) {
		return "", "", 0, false
	}
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	j := i
	for j < len(line) && (isAlnum(line[j]) || line[j] == '_') {
		j++
	}
	name = line[i:j]
	for j < len(line) && isSpace(line[j]) {
		j++
	}
	if name == "" || j >= len(line) || line[j] != '=' {
		return "", "", 0, false
	}
	j++
	for j < len(line) && isSpace(line[j]) {
		j++
	}
	return kind, name, j, true
}

type listItem struct {
	text string
	at   int // offset of the item's first byte in the list
}

// splitEximList splits an Exim list as Exim's string_nextinlist does: items
// are separated by ":" (or by X after a leading "<X", X punctuation or a
// control character), white space around items is dropped, and a doubled
// separator stands for one inside an item (not for a control character).
func splitEximList(s string) []listItem {
	var items []listItem
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	sep := byte(':')
	if i < len(s) && s[i] == '<' {
		next := byte(0) // the C string's terminating NUL
		if i+1 < len(s) {
			next = s[i+1]
		}
		if isPunct(next) || isCntrl(next) {
			sep = next
			i = min(i+2, len(s))
			for i < len(s) && isSpace(s[i]) && s[i] != sep {
				i++
			}
			if next == 0 {
				return nil
			}
		}
	}
	special := isCntrl(sep)
	for {
		for i < len(s) && isSpace(s[i]) && s[i] != sep {
			i++
		}
		if i >= len(s) {
			return items
		}
		start := i
		if s[i] == sep {
			i++
			if i >= len(s) || s[i] != sep || special {
				items = append(items, listItem{"", start})
				continue
			}
		}
		var b strings.Builder
		for {
			j := i + 1
			for j < len(s) && s[j] != sep {
				j++
			}
			b.WriteString(s[i:j])
			i = j
			if i >= len(s) {
				break
			}
			i++ // the separator
			if i >= len(s) || s[i] != sep || special {
				break
			}
		}
		text := b.String()
		for len(text) > 0 && isSpace(text[len(text)-1]) && (len(text) == 1 || text[len(text)-2] != '\\') {
			text = text[:len(text)-1]
		}
		items = append(items, listItem{text, start})
	}
}
