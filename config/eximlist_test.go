package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// classicExim is the classic hand-kept set-up of docs/design.md section 0, in a
// main section with its usual neighbours.
const classicExim = `# /etc/exim4/conf.d/main/000_localmacros
MAIN_TLS_ENABLE = yes
domainlist local_domains = @:localhost
domainlist smallkey = mx.old-example.net : mx2.example.org
domainlist tlsexport = *.legacy-example.com
hostlist relay_from_hosts = <; 127.0.0.1 ; ::1
`

func TestParseEximListsClassic(t *testing.T) {
	got := ParseEximLists("000_localmacros", []byte(classicExim), nil)
	want := EximLists{
		Lists: []EximList{
			{Kind: "domainlist", Name: "smallkey", List: ListSmallKey, File: "000_localmacros", Line: 4},
			{Kind: "domainlist", Name: "tlsexport", List: ListTLSExport, File: "000_localmacros", Line: 5},
		},
		Items: []EximItem{
			{List: ListSmallKey, Kind: "domainlist", Text: "mx.old-example.net", File: "000_localmacros", Line: 4},
			{List: ListSmallKey, Kind: "domainlist", Text: "mx2.example.org", File: "000_localmacros", Line: 4},
			{List: ListTLSExport, Kind: "domainlist", Text: "*.legacy-example.com", File: "000_localmacros", Line: 5},
		},
		Macros: []string{"MAIN_TLS_ENABLE"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseEximLists:\n got %+v\nwant %+v", got, want)
	}
}

func TestSplitEximList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a : b:c", []string{"a", "b", "c"}},
		{"  a  ", []string{"a"}},
		{"", nil},
		{"a :: b : c", []string{"a : b", "c"}},           // a doubled separator is one in the item
		{"::1 : a", []string{":1", "a"}},                 // a leading doubled separator too
		{"a : : b", []string{"a", "", "b"}},              // an empty item
		{"a : b :", []string{"a", "b"}},                  // a trailing separator ends the list
		{"<; a ; b:c ;; d", []string{"a", "b:c ; d"}},    // a new separator
		{"<;a;b", []string{"a", "b"}},                    //
		{"<, ::1 , fe80::1", []string{"::1", "fe80::1"}}, // IPv6 with "<,"
		{"<a : b", []string{"<a", "b"}},                  // "<" before a letter changes nothing
		{"<", nil},                                       // "<" and the C string's NUL
		{"<\t a \t b", []string{"a", "b"}},               // a control separator: white space skipped, but not the separator
		{`a\ : b`, []string{`a\ `, "b"}},                 // trailing white space after a backslash is kept
		{"^mx[0-9]+\\.a :: b$", []string{"^mx[0-9]+\\.a : b$"}},
	} {
		var got []string
		for _, it := range splitEximList(tc.in) {
			got = append(got, it.text)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitEximList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogicalLines(t *testing.T) {
	in := "  a = 1 \r\n" +
		"# comment\n" +
		"b = x : \\\n" +
		"    # a comment between continuation lines\n" +
		"   y : \\  \n" +
		"\tz\n" +
		"\n" +
		"c = 1 \\\n" +
		"\n" + // an empty line ends a continued line
		"d = 2 \\"
	var got []string
	var lines []int
	for _, l := range logicalLines([]byte(in)) {
		got = append(got, l.text)
		lines = append(lines, l.line(0))
	}
	want := []string{"a = 1", "b = x : y : z", "c = 1", "d = 2"}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(lines, []int{1, 3, 8, 10}) {
		t.Errorf("logicalLines = %q at %v, want %q at [1 3 8 10]", got, lines, want)
	}
	l := logicalLines([]byte(in))[1]
	for at, line := range map[int]int{0: 3, 7: 3, 8: 5, 11: 5, 12: 6} {
		if got := l.line(at); got != line {
			t.Errorf("offset %d of %q: line %d, want %d", at, l.text, got, line)
		}
	}
}

// importText runs the whole import on one file.
func importText(t *testing.T, text string) (EximImport, string) {
	t.Helper()
	im := ImportEximLists(ParseEximLists("exim.conf", []byte(text), nil))
	var b bytes.Buffer
	if err := im.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(b.Bytes())
	if err != nil {
		t.Fatalf("the imported TOML does not load: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(cfg.OverrideLists, im.Overrides()) {
		t.Errorf("loaded %+v, imported %+v", cfg.OverrideLists, im.Overrides())
	}
	return im, b.String()
}

func TestImportClassic(t *testing.T) {
	im, out := importText(t, classicExim)
	want := `# [overrides] imported by tlsprobe import from Exim named lists
#   exim.conf:4: domainlist smallkey -> smallkey
#   exim.conf:5: domainlist tlsexport -> tlsexport
[overrides]
smallkey = [
  "mx.old-example.net", # exim.conf:4
  "mx2.example.org", # exim.conf:4
]
tlsexport = [
  "*.legacy-example.com", # exim.conf:5
]
`
	if out != want {
		t.Errorf("TOML:\n%s\nwant:\n%s", out, want)
	}
	if ps := im.Problems(); len(ps) != 0 {
		t.Errorf("problems in the classic example: %v", ps)
	}
}

// TestImportTricky: separators, continuations, comments and the items that
// overrides cannot express, each reported with its file and line.
func TestImportTricky(t *testing.T) {
	const text = `SMALLKEY_EXTRA = mx.extra.example
OLDMX = mx.macro.example
.include /etc/exim4/more-lists
domainlist_cache smallkey = <; mx.old-example.net ; \
  # retired: mx.gone.example ; \
  MX.Upper-Case.Example. ; *.bad-keys.example ; \
  ^mx[0-9]+\.dsa\.example$ ; \N^smtp[0-9]+[.]legacy[.]example$\N ; \
  !mx.good.example ; +other_list ; @mx_any ; \
  /etc/exim4/smallkey.txt ; ${lookup{x}lsearch{/f}} ; SMALLKEY_EXTRA ; \
  OLDMX.example ; \N^(?<=x)y\N ; bad name ; bücher.example ; \
  ; mx.old-example.net

.ifdef WANT_EXPORT
domainlist tlsexport = *.legacy-example.com : mx.old-example.net : weird::name : \
    lsearch;/etc/exim4/tlsexport : mx3.example.org
.endif
hostlist tlsexport = <; 192.0.2.1 ; 2001:db8::/32 ; mx4.example.org
domainlist tlsexport = mx5.example.org
`
	im, out := importText(t, text)
	t.Logf("TOML:\n%s", out)
	ov := im.Overrides()
	wantSmall := []string{"mx.old-example.net", "MX.Upper-Case.Example.", "*.bad-keys.example", "^smtp[0-9]+[.]legacy[.]example$"}
	wantExport := []string{"*.legacy-example.com", "mx3.example.org", "mx4.example.org", "mx5.example.org"}
	if !reflect.DeepEqual(ov.SmallKey, wantSmall) || !reflect.DeepEqual(ov.TLSExport, wantExport) {
		t.Errorf("imported\n smallkey %q\ntlsexport %q\nwant\n smallkey %q\ntlsexport %q", ov.SmallKey, ov.TLSExport, wantSmall, wantExport)
	}
	var got []string
	for _, p := range im.Problems() {
		got = append(got, p.String())
	}
	for _, want := range []string{
		"exim.conf:3: .include not followed",
		"exim.conf:14: domainlist tlsexport is inside the .ifdef/.ifndef of line 13",
		"exim.conf:18: domainlist tlsexport is defined again (first at exim.conf:14)",
		`exim.conf:7: domainlist smallkey: "^mx[0-9]+\\.dsa\\.example$" not imported: expansion changes`,
		`exim.conf:8: domainlist smallkey: "!mx.good.example" not imported: a negated item`,
		`exim.conf:8: domainlist smallkey: "+other_list" not imported: a reference to another named list`,
		`exim.conf:8: domainlist smallkey: "@mx_any" not imported: "@" items`,
		`exim.conf:15: domainlist tlsexport: "lsearch;/etc/exim4/tlsexport" not imported: a lookup`,
		`exim.conf:9: domainlist smallkey: "/etc/exim4/smallkey.txt" not imported: a file of items`,
		`exim.conf:9: domainlist smallkey: "${lookup{x}lsearch{/f}}" not imported: an expansion`,
		`exim.conf:9: domainlist smallkey: "SMALLKEY_EXTRA" not imported: macro SMALLKEY_EXTRA is not expanded`,
		`exim.conf:10: domainlist smallkey: "OLDMX.example" not imported: macro OLDMX is not expanded`,
		`exim.conf:10: domainlist smallkey: "^(?<=x)y" not imported: not a name, "*suffix" or "^regex" for [overrides]: bad regular expression`,
		`exim.conf:10: domainlist smallkey: "bad name" not imported: not a name`,
		`exim.conf:10: domainlist smallkey: "bücher.example" not imported: not a name, "*suffix" or "^regex" for [overrides]: "bücher.example": write internationalized names as A-labels`,
		`exim.conf:14: domainlist tlsexport: "mx.old-example.net" not imported: also in smallkey at exim.conf:4, which wins`,
		`exim.conf:14: domainlist tlsexport: "weird:name" not imported: not a name`,
		`exim.conf:17: hostlist tlsexport: "192.0.2.1" not imported: an IP address`,
		`exim.conf:17: hostlist tlsexport: "2001:db8::/32" not imported: an IP network`,
	} {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, want)
		}
		if !found {
			t.Errorf("no problem reported like %q", want)
		}
	}
	if len(got) != 19 {
		t.Errorf("%d problems, want 19:\n%s", len(got), strings.Join(got, "\n"))
	}
	// The items left out are in the TOML as comments, in their list.
	if !strings.Contains(out, "  # not imported: \"!mx.good.example\" (exim.conf:8: a negated item") {
		t.Errorf("TOML lacks the comment of a left-out item")
	}
}

func TestImportNothing(t *testing.T) {
	im, out := importText(t, "domainlist local_domains = @\n")
	if ps := im.Problems(); len(ps) != 1 || !strings.Contains(ps[0].String(), "no domainlist or hostlist") {
		t.Errorf("problems %v", ps)
	}
	if !strings.Contains(out, "smallkey = [\n]") {
		t.Errorf("TOML:\n%s", out)
	}
}

func TestImportOtherNames(t *testing.T) {
	names := map[string]string{"small_dh": ListTLSExport, "bad_keys": ListSmallKey}
	im := ImportEximLists(ParseEximLists("a", []byte("domainlist small_dh = a.example\nhostlist bad_keys = b.example\ndomainlist smallkey = c.example\n"), names))
	ov := im.Overrides()
	if !reflect.DeepEqual(ov.TLSExport, []string{"a.example"}) || !reflect.DeepEqual(ov.SmallKey, []string{"b.example"}) {
		t.Errorf("overrides %+v", ov)
	}
}

func FuzzParseEximLists(f *testing.F) {
	f.Add([]byte(classicExim))
	f.Add([]byte("domainlist smallkey = <; a ; b::c ; \\\n # c\n  ^x\\.y$ ; \\N^a\"b\\N\n.ifdef X\nhostlist tlsexport = ::1 : *.a\n.endif\n"))
	f.Add([]byte("domainlist tlsexport = \"quoted\"\ndomainlist smallkey = \x00\x7f\xff : \\N^\\x00\\N"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls := ParseEximLists("f", data, nil)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, it := range ls.Items {
			if it.Line < 1 || it.Line > lines || it.Text == "" {
				t.Fatalf("item %+v (of %d lines)", it, lines)
			}
		}
		im := ImportEximLists(ls)
		var b bytes.Buffer
		if err := im.WriteTOML(&b); err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(b.Bytes())
		if err != nil {
			t.Fatalf("the imported TOML does not load: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(cfg.OverrideLists, im.Overrides()) {
			t.Fatalf("loaded %+v, imported %+v", cfg.OverrideLists, im.Overrides())
		}
	})
}
