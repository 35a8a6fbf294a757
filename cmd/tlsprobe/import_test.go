package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportCommand: the classic lists of DESIGN.md section 0, split over
// two Debian conf.d files as admins keep them, become [overrides] that
// load; tricky input is reported with file and line, and exits 1.
func TestImportCommand(t *testing.T) {
	macros := writeFile(t, "000_localmacros", `# local macros
MAIN_TLS_ENABLE = yes
domainlist smallkey = mx.old-example.net : \
                      mx2.example.org
`)
	lists := writeFile(t, "001_tlsquirks", "domainlist tlsexport = *.legacy-example.com\n")
	code, out, stderr := runCLI("import", macros, lists)
	t.Logf("import:\n%s", out)
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	cfg, err := config.Parse([]byte(out))
	if err != nil {
		t.Fatalf("the output does not load: %v", err)
	}
	want := config.OverrideLists{SmallKey: []string{"mx.old-example.net", "mx2.example.org"}, TLSExport: []string{"*.legacy-example.com"}, None: []string{}}
	if !reflect.DeepEqual(cfg.OverrideLists, want) {
		t.Errorf("overrides %+v, want %+v", cfg.OverrideLists, want)
	}
	for _, s := range []string{"\n  \"mx2.example.org\", # " + macros + ":4\n", "\n[overrides]\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}

	tricky := writeFile(t, "exim4.conf", `domainlist smallkey = <; mx.a.example ; !mx.b.example ; +old_list
domainlist tlsexport = mx.c.example : lsearch;/etc/exim4/tlsexport : 192.0.2.1
`)
	code, out, stderr = runCLI("import", tricky)
	t.Logf("import tricky:\n%s%s", out, stderr)
	if code != 1 {
		t.Errorf("exit %d with problems, want 1", code)
	}
	for _, s := range []string{
		tricky + `:1: domainlist smallkey: "!mx.b.example" not imported: a negated item`,
		tricky + `:1: domainlist smallkey: "+old_list" not imported: a reference to another named list`,
		tricky + `:2: domainlist tlsexport: "lsearch;/etc/exim4/tlsexport" not imported: a lookup`,
		tricky + `:2: domainlist tlsexport: "192.0.2.1" not imported: an IP address`,
	} {
		if !strings.Contains(stderr, "tlsprobe import: "+s) {
			t.Errorf("stderr lacks %q", s)
		}
	}
	if cfg, err := config.Parse([]byte(out)); err != nil || len(cfg.OverrideLists.SmallKey) != 1 || len(cfg.OverrideLists.TLSExport) != 1 {
		t.Errorf("the output with problems: %+v, %v", cfg.OverrideLists, err)
	}

	// Other list names.
	other := writeFile(t, "other", "hostlist weak_dh_hosts = mx.d.example\n")
	if code, out, _ := runCLI("import", "-tlsexport", "weak_dh_hosts", other); code != 0 || !strings.Contains(out, "tlsexport = [\n  \"mx.d.example\",") {
		t.Errorf("-tlsexport weak_dh_hosts: exit %d\n%s", code, out)
	}
	// A file without the lists, and a missing file: reported, exit 1.
	if code, _, stderr := runCLI("import", other, filepath.Join(t.TempDir(), "missing")); code != 1 ||
		!strings.Contains(stderr, "no such file") || !strings.Contains(stderr, "no domainlist or hostlist") {
		t.Errorf("nothing to import: exit %d, %q", code, stderr)
	}
	for _, args := range [][]string{{"import"}, {"import", "-smallkey", "x", "-tlsexport", "x", other}, {"import", "-nosuchflag", other}} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
