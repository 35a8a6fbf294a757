package config

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func mustOverrides(t testing.TB, ls OverrideLists) *Overrides {
	t.Helper()
	o, errs := compileOverrides(ls)
	if len(errs) > 0 {
		t.Fatalf("compileOverrides: %v", errs)
	}
	return o
}

func TestMatchExiMSemantics(t *testing.T) {
	o := mustOverrides(t, OverrideLists{
		SmallKey:  []string{"mx.old-example.net", "MX2.Example.ORG.", "*.legacy-example.com"},
		TLSExport: []string{"*example.net", `^mx\d+\.weak\.test$`, "^smtp"},
		None:      []string{"*.mx.old-example.net", `^[a-z]+\.ok\.test`},
	})
	for _, tc := range []struct{ name, list, pattern string }{
		{"mx.old-example.net", ListSmallKey, "mx.old-example.net"}, // exact beats "*example.net"
		{"MX.OLD-EXAMPLE.NET.", ListSmallKey, "mx.old-example.net"},
		{"mx2.example.org", ListSmallKey, "MX2.Example.ORG."},
		{"a.legacy-example.com", ListSmallKey, "*.legacy-example.com"},
		{"a.b.legacy-example.com", ListSmallKey, "*.legacy-example.com"},
		{"legacy-example.com", "", ""}, // "*.x" needs the dot
		{"badexample.net", ListTLSExport, "*example.net"},
		{"example.net", ListTLSExport, "*example.net"},
		{"mx3.old-example.net", ListTLSExport, "*example.net"},
		{"a.mx.old-example.net", ListNone, "*.mx.old-example.net"}, // longer suffix wins
		{"mx12.weak.test", ListTLSExport, `^mx\d+\.weak\.test$`},
		{"MX12.WEAK.TEST", ListTLSExport, `^mx\d+\.weak\.test$`},
		{"mx12.weak.test.", ListTLSExport, `^mx\d+\.weak\.test$`},
		{"mx12.weak.test.org", "", ""}, // anchored by "$"
		{"xmx12.weak.test", "", ""},    // anchored by "^"
		{"smtp.anything.example", ListTLSExport, "^smtp"},
		{"mail.ok.test.example", ListNone, `^[a-z]+\.ok\.test`}, // unanchored at the end, as in Exim
		{"1.ok.test", "", ""},
		{"", "", ""},
		{"mx.old-example.nett", "", ""},
	} {
		list, pattern, ok := o.Match(tc.name)
		if list != tc.list || pattern != tc.pattern || ok != (tc.list != "") {
			t.Errorf("Match(%q) = %q, %q, %v; want %q, %q", tc.name, list, pattern, ok, tc.list, tc.pattern)
		}
	}
}

func TestMatchPrecedence(t *testing.T) {
	o := mustOverrides(t, OverrideLists{
		SmallKey:  []string{"^mx", "*.example.com"},
		TLSExport: []string{"^m", "mx.example.com"},
		None:      []string{"*x.example.com", "^a"},
	})
	for _, tc := range []struct{ name, list, pattern string }{
		{"mx.example.com", ListTLSExport, "mx.example.com"},  // exact first
		{"xx.example.com", ListNone, "*x.example.com"},       // longest suffix
		{"ab.example.com", ListSmallKey, "*.example.com"},    // suffix before regex ("^a")
		{"mx.example.org", ListSmallKey, "^mx"},              // regexes in list order
		{"ma.example.org", ListTLSExport, "^m"},              //
		{"a.example.org", ListNone, "^a"},                    //
		{"b.example.org", "", ""},                            //
		{"MX.EXAMPLE.COM.", ListTLSExport, "mx.example.com"}, //
	} {
		list, pattern, _ := o.Match(tc.name)
		if list != tc.list || pattern != tc.pattern {
			t.Errorf("Match(%q) = %q, %q; want %q, %q", tc.name, list, pattern, tc.list, tc.pattern)
		}
	}
	// "*" alone matches every name, after everything more specific.
	o = mustOverrides(t, OverrideLists{None: []string{"*"}, SmallKey: []string{"*.example"}})
	if l, _, _ := o.Match("a.example"); l != ListSmallKey {
		t.Errorf(`"*.example" lost to "*": %q`, l)
	}
	if l, p, _ := o.Match("anything"); l != ListNone || p != "*" {
		t.Errorf(`"*" did not match: %q %q`, l, p)
	}
}

func TestMatchNil(t *testing.T) {
	var o *Overrides
	if _, _, ok := o.Match("x.example"); ok || o.Len() != 0 {
		t.Fatal("nil Overrides matched")
	}
}

func TestOverridesErrors(t *testing.T) {
	for _, tc := range []struct {
		ls   OverrideLists
		want string
	}{
		{OverrideLists{SmallKey: []string{"mx.example.com"}, None: []string{"MX.example.com."}},
			`overrides.none[0]: "MX.example.com." is also in overrides.smallkey[0] ("mx.example.com"): an item may be in one list only`},
		{OverrideLists{TLSExport: []string{"a.test", "*.example.com"}, None: []string{"*.EXAMPLE.com"}},
			`overrides.none[0]: "*.EXAMPLE.com" is also in overrides.tlsexport[1] ("*.example.com"): an item may be in one list only`},
		{OverrideLists{SmallKey: []string{`^mx\d`}, TLSExport: []string{`^mx\d`}},
			`overrides.tlsexport[0]: "^mx\\d" is also in overrides.smallkey[0] ("^mx\\d"): an item may be in one list only`},
		{OverrideLists{SmallKey: []string{"ok.test", "^a[", "ok2.test"}},
			"overrides.smallkey[1]: bad regular expression \"^a[\": error parsing regexp: missing closing ]: `[`"},
		{OverrideLists{None: []string{""}}, "overrides.none[0]: empty item"},
		{OverrideLists{None: []string{" a.test"}}, `overrides.none[0]: " a.test" has leading or trailing white space`},
		{OverrideLists{None: []string{"!a.test"}}, `overrides.none[0]: "!a.test": negated items are not supported; put the name in the none list`},
		{OverrideLists{None: []string{"@mx_any"}}, `overrides.none[0]: "@mx_any": only names, "*suffix" and "^regex" items are supported`},
		{OverrideLists{None: []string{"lsearch;/etc/x"}}, `overrides.none[0]: "lsearch;/etc/x": only names, "*suffix" and "^regex" items are supported`},
		{OverrideLists{None: []string{"a.*.test"}}, `overrides.none[0]: "a.*.test": character '*' is not allowed in a name (use "^regex" for patterns)`},
		{OverrideLists{None: []string{"bücher.test"}}, `overrides.none[0]: "bücher.test": write internationalized names as A-labels (xn--...)`},
		{OverrideLists{None: []string{"."}}, `overrides.none[0]: "." is not a name`},
	} {
		c := Default()
		c.OverrideLists = tc.ls
		err := c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%v) = %v\nwant %v", tc.ls, err, tc.want)
		}
		// Never validated: Overrides compiles and reports the same error.
		raw := Config{OverrideLists: tc.ls}
		if _, err2 := raw.Overrides(); err == nil || err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Overrides() on an unvalidated config = %v, want the Validate error", err2)
		}
	}
	// The same item twice in one list is harmless.
	o := mustOverrides(t, OverrideLists{None: []string{"a.test", "A.test", "*.b", "*.b"}})
	if o.Len() != 2 {
		t.Errorf("Len = %d, want 2", o.Len())
	}
}

// regexFilter's tests are only filters; FuzzMatch checks they never reject a name
// the regex matches.
func TestRegexFilter(t *testing.T) {
	for re, want := range map[string][2]string{
		`^mx\d+\.example`:    {"mx", ".example"},
		`^MX-`:               {"mx-", "mx-"},
		`^mx|^ab`:            {"", ""},
		`^(mx)\.long`:        {"", ".long"},
		`^m*x`:               {"", "x"},
		`^mx*`:               {"m", "m"},
		`^`:                  {"", ""},
		`^ſx`:                {"", ""},
		`^a(?i)b`:            {"a", "a"},
		`^(?i)AB`:            {"ab", "ab"},
		`^.*\.bad\.example$`: {"", ".bad.example"},
	} {
		if p, n := regexFilter(re); p != want[0] || n != want[1] {
			t.Errorf("regexFilter(%q) = %q, %q; want %q, %q", re, p, n, want[0], want[1])
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	o := benchOverrides(t)
	for _, name := range benchNames {
		if n := testing.AllocsPerRun(100, func() { o.Match(name) }); n != 0 {
			t.Errorf("Match(%q): %v allocations", name, n)
		}
	}
}

var benchNames = []string{
	"mx4711.exact.example",     // exact hit
	"a.b.host777.suffix.test",  // suffix hit
	"mx42.regex99.example.net", // regex hit (the last regex)
	"mail.nowhere.example.org", // miss: every check runs
}

// benchOverrides has 10,000 items: 6,000 exact names, 3,900 suffixes, 100 regexes.
func benchOverrides(t testing.TB) *Overrides {
	var ls OverrideLists
	for i := range 6000 {
		ls.SmallKey = append(ls.SmallKey, fmt.Sprintf("mx%d.exact.example", i))
	}
	for i := range 3900 {
		ls.TLSExport = append(ls.TLSExport, fmt.Sprintf("*.host%d.suffix.test", i))
	}
	for i := range 100 {
		ls.None = append(ls.None, fmt.Sprintf(`^mx\d+\.regex%d\.example\.net$`, i))
	}
	return mustOverrides(t, ls)
}

func BenchmarkMatch(b *testing.B) {
	o := benchOverrides(b)
	for _, name := range benchNames {
		b.Run(strings.SplitN(name, ".", 2)[1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := o.Match(name); ok != !strings.Contains(name, "nowhere") {
					b.Fatal("wrong result")
				}
			}
		})
	}
}

// refMatch is the specification of Match for one item, written plainly.
func refMatch(item, name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	switch {
	case strings.HasPrefix(item, "^"):
		return regexp.MustCompile("(?i)" + item).MatchString(name)
	case strings.HasPrefix(item, "*"):
		return strings.HasSuffix(name, strings.TrimSuffix(strings.ToLower(item[1:]), "."))
	default:
		return name == strings.TrimSuffix(strings.ToLower(item), ".")
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"mx.example.com", "mx.example.com"},
		{"*.example.com", "a.EXAMPLE.com."},
		{"*example.com", "example.com"},
		{`^mx\d+\.example\.net$`, "MX12.example.net"},
		{"^k", "\u212a.example"},
		{"^s", "\u017f.example"},
		{"^(?i)ST", "st.example"},
		{"*", ""},
		{"^", "."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, item, name string) {
		o, errs := compileOverrides(OverrideLists{SmallKey: []string{item}})
		if len(errs) > 0 {
			return
		}
		list, pattern, ok := o.Match(name)
		if want := refMatch(item, name); ok != want {
			t.Fatalf("Match(%q) with %q = %v, reference says %v", name, item, ok, want)
		}
		if ok && (list != ListSmallKey || pattern != item) {
			t.Fatalf("Match(%q) = %q, %q; want smallkey, %q", name, list, pattern, item)
		}
		// ASCII case never matters.
		if _, _, ok2 := o.Match(strings.ToUpper(strings.ToLower(name))); isASCII(name) && ok2 != ok {
			t.Fatalf("Match(%q) = %v but the upper-case name gives %v", name, ok, ok2)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
