package verdict

import (
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// TestTallyOpenSSL folds addresses into a domain's answer: the first
// transport that gets TLS at every address where one does.
func TestTallyOpenSSL(t *testing.T) {
	p := Policy{Client: ClientOpenSSL, SecLevel: 2}
	modern := &probe.Facts{Client: ClientOpenSSL, Outcome: probe.OK, TLS13: true}
	dhe2048only := dhe(2048, probe.NoDHERefused)
	dhe1024ecdhe := dhe(1024, probe.NoDHEOK)
	dhe1024only := dhe(1024, probe.NoDHERefused)
	dhe768ecdhe := dhe(768, probe.NoDHEOK)
	dhe768only := dhe(768, probe.NoDHERefused)
	for _, tc := range []struct {
		name  string
		addrs []*probe.Facts
		force Verdict
		want  Verdict
		split bool
	}{
		{"nothing known", nil, None, None, false},
		{"modern", []*probe.Facts{modern, dhe2048only}, None, None, false},
		{"one 1024 with ecdhe beside modern", []*probe.Facts{modern, dhe1024ecdhe}, None, NoDHE, false},
		{"1024 with ecdhe and 1024 dhe-only: seclevel1 serves both", []*probe.Facts{dhe1024ecdhe, dhe1024only}, None, SecLevel1, false},
		{"nodhe would break a dhe-only 2048 server", []*probe.Facts{dhe2048only, dhe1024ecdhe}, None, SecLevel1, false},
		{"768 with ecdhe beside modern", []*probe.Facts{modern, dhe768ecdhe}, None, NoDHE, false},
		{"no TLS possible is left out", []*probe.Facts{dhe768only, modern}, None, None, false},
		{"only no TLS possible", []*probe.Facts{dhe768only}, None, None, false},
		{"split: 768+ecdhe and 1024 dhe-only", []*probe.Facts{dhe768ecdhe, dhe1024only, dhe1024only}, None, SecLevel1, true},
		{"split: the default wins a tie", []*probe.Facts{dhe768ecdhe, dhe2048only}, None, None, true},
		{"a host override decides", []*probe.Facts{dhe768ecdhe}, TLSExport, TLSExport, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One host per address, merged, must equal one host with all.
			var flat, merged Tally
			for _, f := range tc.addrs {
				flat.Add(p.Judge(f))
				var h Tally
				h.Add(p.Judge(f))
				merged.Merge(h)
			}
			if tc.force != None {
				flat.Force(tc.force)
				var h Tally
				h.Force(tc.force)
				merged.Merge(h)
			}
			for name, tl := range map[string]*Tally{"flat": &flat, "merged": &merged} {
				if got := tl.Verdict(); got != tc.want {
					t.Errorf("%s: Verdict = %q, want %q", name, got, tc.want)
				}
				if got := tl.Split(); got != tc.split {
					t.Errorf("%s: Split = %v, want %v", name, got, tc.split)
				}
			}
		})
	}
}

// TestTallyGnuTLS: the gnutls answer is the largest verdict, as before.
func TestTallyGnuTLS(t *testing.T) {
	var p Policy
	weak := &probe.Facts{Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, DHBits: 768}
	small := &probe.Facts{Outcome: probe.OK, KeyType: "RSA", KeyBits: 1024, DHBits: 2048}
	modern := &probe.Facts{Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLS13: true}
	var tl Tally
	for _, f := range []*probe.Facts{modern, weak} {
		tl.Add(p.Judge(f))
	}
	if got := tl.Verdict(); got != TLSExport {
		t.Errorf("modern + weak DH = %q, want tlsexport", got)
	}
	tl.Add(p.Judge(small))
	if got := tl.Verdict(); got != SmallKey {
		t.Errorf("+ small key = %q, want smallkey", got)
	}
	var o Tally
	o.Add(p.Judge(modern))
	o.Force(TLSExport)
	if got := o.Verdict(); got != TLSExport || o.Split() {
		t.Errorf("host override = %q (split %v), want tlsexport", got, o.Split())
	}
}

func TestVerdictWords(t *testing.T) {
	for v := range Count {
		w := Verdict(v).String()
		p, err := Parse(w)
		if err != nil || p != Verdict(v) {
			t.Errorf("Parse(%q) = %v, %v; want %v", w, p, err, Verdict(v))
		}
	}
}
