package mx

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	l63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(l63+".", 3) + strings.Repeat("b", 61) // 3*64 + 61 = 253
	tests := []struct{ in, want string }{
		{"example.org", "example.org"},
		{"Example.ORG.", "example.org"},
		{"postmaster@Example.Org", "example.org"},
		{`"a@b"@example.org`, "example.org"},
		{"Bücher.Example", "xn--bcher-kva.example"},
		{"user@Bücher.Example.", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"ＢÜＣＨＥＲ.example", "xn--bcher-kva.example"}, // full-width letters map (UTS #46)
		{"bücher。example", "xn--bcher-kva.example"}, // ideographic full stop separates labels
		{"straße.de", "xn--strae-oqa.de"},           // IDNA2008: not mapped to "ss"
		{"例え.テスト", "xn--r8jz45g.xn--zckzah"},
		{"a_b.example", "a_b.example"},               // underscore allowed (documented)
		{"r3--sn-abc.example", "r3--sn-abc.example"}, // hyphens in 3rd and 4th place are fine in ASCII
		{"localhost", "localhost"},
		{l63 + ".example", l63 + ".example"},
		{name253, name253},
		{name253 + ".", name253},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, in := range []string{
		"", ".", "..", "example..org", ".example.org", "example.org..", "user@",
		strings.Repeat("a", 64) + ".example",
		strings.Repeat("a.", 126) + "ab", // 254 octets
		"-a.example", "a-.example",
		"exa mple.org", "example.org\n", "exa\x00mple.org", "[192.0.2.1]", "a*b.example", "a/b.example",
		"xn--zz.example",         // bad punycode
		"a\u200db.example",       // ZWJ without context
		"\u0663.example",         // Arabic digit alone: bidi rule
		"ex\xffample.org",        // not UTF-8
		strings.Repeat("ü", 300), // long before conversion
	} {
		if got, err := Normalize(in); !errors.Is(err, ErrBadDomain) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrBadDomain", in, got, err)
		}
	}
}

// FuzzNormalize checks that whatever Normalize accepts is a valid name that
// it maps to itself.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"example.org", "postmaster@Example.Org.", "Bücher.Example", "xn--bcher-kva.example",
		"例え.テスト", "bücher。example", "a_b.example", "r3--sn-abc.example", "xn--zz.example",
		"ＢÜＣＨＥＲ.example", "straße.de", "a..b", strings.Repeat("a", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrBadDomain) {
				t.Fatalf("error not ErrBadDomain: %v", err)
			}
			return
		}
		if len(out) == 0 || len(out) > maxName {
			t.Fatalf("%q -> %q: length %d", in, out, len(out))
		}
		for _, l := range strings.Split(out, ".") {
			if err := checkLabel(l); err != nil {
				t.Fatalf("%q -> %q: %v", in, out, err)
			}
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}
