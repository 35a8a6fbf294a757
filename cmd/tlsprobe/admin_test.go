package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestAdminView: stats, explain and list against a daemon core on a
// socket that has probed real servers: aligned text by default, the
// daemon's JSON with -json.
func TestAdminView(t *testing.T) {
	cfg := cliLab(t)
	sock := startDaemon(t, cfg)
	for domain, want := range map[string]string{"small.test": "smallkey", "example.test": "tlsexport", "modern.test": "", "weak.test": "tlsexport"} {
		if code, out, stderr := runCLI("query", "-socket", sock, domain); code != 0 || out != want+"\n" {
			t.Fatalf("query %s: exit %d, %q %q", domain, code, out, stderr)
		}
	}

	checkExplain(t, sock)
	checkStats(t, sock)
	checkList(t, sock)
	for _, args := range [][]string{{"list", "ok"}, {"list", "smallkey", "tlsexport"}, {"stats", "-json", "x"}, {"query", "-json", "a.test"}} {
		if code, _, _ := runCLI(append(args[:1:1], append([]string{"-socket", sock}, args[1:]...)...)...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// checkExplain: explain's text for a domain and for an override, and
// its JSON.
func checkExplain(t *testing.T, sock string) {
	t.Helper()
	code, out, stderr := runCLI("explain", "-socket", sock, "example.test")
	t.Logf("explain example.test:\n%s", out)
	if code != 0 {
		t.Fatalf("explain: exit %d, %s", code, stderr)
	}
	for _, re := range []string{
		`(?m)^example\.test: tlsexport$`,
		`(?m)^  source: mx$`,
		`(?m)^  MX host +pref +address +source +age +verdict +TLS +key +DH +time +cipher$`,
		`(?m)^  mx-modern\.test +10 +127\.0\.0\.\d+:\d+ +cache +\d+s +- +TLS1\.3 +RSA-2048 +- `,
		`(?m)^  mx-weak\.test +20 +127\.0\.0\.\d+:\d+ +cache +\d+s +tlsexport +TLS1\.2 +RSA-2048 +768 `,
		`(?m)^  why: 127\.0\.0\.\d+:\d+ sends a 768-bit DH prime to the gnutls client, under dh_min_bits 1024`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("explain text does not match %s", re)
		}
	}
	checkColumns(t, out, "MX host", "address", "source", "verdict", "key")
	if _, out, _ := runCLI("explain", "-socket", sock, "weak.test"); !strings.Contains(out, `source: override (override "weak.test")`) {
		t.Errorf("explain of an override:\n%s", out)
	}
	code, out, _ = runCLI("explain", "-json", "-socket", sock, "example.test")
	var d decision.Decision
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d.Verdict != verdict.TLSExport || len(d.MX) != 2 || strings.Count(out, "\n") != 1 {
		t.Errorf("explain -json: exit %d, %v: %q", code, err, out)
	}
}

// checkStats: stats' text, its aligned cache table, and its JSON.
func checkStats(t *testing.T, sock string) {
	t.Helper()
	code, out, _ := runCLI("stats", "-socket", sock)
	t.Logf("stats:\n%s", out)
	if code != 0 {
		t.Errorf("stats: exit %d", code)
	}
	for _, re := range []string{
		`(?m)^uptime +\d`,
		`(?m)^answers +4 +\(2 smallkey|(?m)^answers +4 +\(1 smallkey, 2 tlsexport, 1 empty\)$`,
		`(?m)^from overrides +1 +\(an override of the domain or of an MX host matched\)$`,
		`(?m)^probes +3 +\(one per address at a time, however many names lead to it\)$`,
		`(?m)^ *cache +entries +hits +stale +misses +loads +errors +in flight$`,
		`(?m)^ *domains +3 +\d+ +0 +3 +3 +0 +0$`,
		`(?m)^ *names +3 +\d+ +0 +3 +3 +0 +0$`,
		`(?m)^ *addresses +3 +\d+ +0 +3 +3 +0 +0$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stats text does not match %s", re)
		}
	}
	// The cache table is right-aligned: its rows end in the same column.
	var ends []int
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "cache" || f[0] == "domains" || f[0] == "names" || f[0] == "addresses") {
			ends = append(ends, len(l))
		}
	}
	if len(ends) != 4 || ends[0] != ends[1] || ends[1] != ends[2] || ends[2] != ends[3] {
		t.Errorf("cache table rows end at %v", ends)
	}
	code, out, _ = runCLI("stats", "-json", "-socket", sock)
	var st lookupd.Stats
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Answers.SmallKey != 1 || st.Answers.TLSExport != 2 {
		t.Errorf("stats -json: exit %d, %v: %q", code, err, out)
	}
}

// checkList: list's text of the flagged servers, domains and override
// items, and its JSON and filtered forms.
func checkList(t *testing.T, sock string) {
	t.Helper()
	code, out, _ := runCLI("list", "-socket", sock)
	t.Logf("list:\n%s", out)
	for _, re := range []string{
		`(?m)^servers flagged: 2$`,
		`(?m)^  127\.0\.0\.\d+:\d+  smallkey  key RSA-1024  DH -  probed \d+s ago\n    why: 127\.0\.0\.\d+:\d+ presents a 1024-bit RSA certificate key, under key_min_bits 2048\n    names: mx-small\.test\n    domains: small\.test$`,
		`(?m)^  127\.0\.0\.\d+:\d+  tlsexport  key RSA-2048  DH 768  probed \d+s ago\n    why: .* sends a 768-bit DH prime .*\n    names: mx-weak\.test\n    domains: example\.test$`,
		`(?m)^domains flagged: 2$`,
		`(?m)^  domain +verdict +via$`,
		`(?m)^  small\.test +smallkey +mx-small\.test$`,
		`(?m)^  example\.test +tlsexport +mx-weak\.test$`,
		`(?m)^override items flagging: 1\n  weak\.test  tlsexport$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("list text does not match %s", re)
		}
	}
	if code != 0 || strings.Contains(out, "modern") {
		t.Errorf("list: exit %d", code)
	}
	checkColumns(t, out, "domain", "verdict", "via")
	code, out, _ = runCLI("list", "-json", "-socket", sock, "smallkey")
	var l decision.Listed
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || len(l.Addrs) != 1 || len(l.Domains) != 1 || l.Domains[0].Domain != "small.test" {
		t.Errorf("list -json smallkey: exit %d, %v: %q", code, err, out)
	}
	if _, out, _ := runCLI("list", "-socket", sock, "tlsexport"); strings.Contains(out, "small") || !strings.Contains(out, "mx-weak.test") {
		t.Errorf("list tlsexport:\n%s", out)
	}
}

// checkColumns checks that in the table whose header line holds every
// name, each name starts at the same column as in that header, in every
// following line up to a blank or unindented one.
func checkColumns(t *testing.T, text string, names ...string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		ok := true
		for _, n := range names {
			ok = ok && strings.Contains(l, n)
		}
		if !ok {
			continue
		}
		var cols []int
		for _, n := range names[1:] {
			cols = append(cols, strings.Index(l, n))
		}
		for _, row := range lines[i+1:] {
			if !strings.HasPrefix(row, "  ") || strings.HasPrefix(row, "  why:") || strings.HasPrefix(row, "  note ") || strings.HasPrefix(row, "    ") {
				break
			}
			for _, c := range cols {
				if c >= len(row) || row[c-1] != ' ' || row[c] == ' ' {
					t.Errorf("row %q is not aligned with header %q at column %d", row, l, c)
				}
			}
		}
		return
	}
	t.Errorf("no header with %q in:\n%s", names, text)
}
