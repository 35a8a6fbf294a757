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

// TestImportCommand: the classic lists of docs/design.md section 0, split over
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

// TestImportExitStatus: a list defined in two files is noted, but when every
// item was imported the exit status is 0; 1 means something was not.
func TestImportExitStatus(t *testing.T) {
	a := writeFile(t, "000_localmacros", "domainlist smallkey = mx.a.example\n")
	b := writeFile(t, "001_more", "domainlist smallkey = mx.b.example\n")
	code, out, stderr := runCLI("import", a, b)
	t.Logf("stderr: %s", stderr)
	if code != 0 || !strings.Contains(stderr, "tlsprobe import: "+b+":1: domainlist smallkey is defined again (first at "+a+":1)") {
		t.Errorf("list in two files: exit %d, stderr %q; want 0 and the note", code, stderr)
	}
	if cfg, err := config.Parse([]byte(out)); err != nil || !reflect.DeepEqual(cfg.OverrideLists.SmallKey, []string{"mx.a.example", "mx.b.example"}) {
		t.Errorf("list in two files: %+v, %v; want both items", cfg.OverrideLists, err)
	}
	inc := writeFile(t, "exim4.conf", ".include /etc/exim4/lists\ndomainlist smallkey = mx.a.example\n")
	if code, _, stderr := runCLI("import", inc); code != 1 || !strings.Contains(stderr, ".include not followed") {
		t.Errorf("an .include not followed: exit %d, %q; want 1", code, stderr)
	}
}

// TestImportIntoOverrideDirectory is the migration of the README in its
// three commands: import into a file of overrides.directory (the main file
// stays as it is), check, reload (config.Load is what -check and the reload
// do).
func TestImportIntoOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	od := filepath.Join(dir, "overrides.d")
	os.Mkdir(od, 0o755)
	mainFile := filepath.Join(dir, "config.toml")
	mainText := "[listen]\ngroup = \"\"\n\n[overrides]\nnone = [\"never.example\"]\ndirectory = \"" + od + "\"\n"
	os.WriteFile(mainFile, []byte(mainText), 0o644)
	macros := writeFile(t, "000_localmacros", "domainlist smallkey = mx.old-example.net\ndomainlist tlsexport = *.legacy-example.com\n")
	for _, name := range []string{"classic.toml", "again.toml"} { // twice: a second import is a second file
		code, out, stderr := runCLI("import", macros)
		if code != 0 {
			t.Fatalf("import: exit %d, %s", code, stderr)
		}
		os.WriteFile(filepath.Join(od, name), []byte(out), 0o644)
	}
	cfg, err := config.Load(mainFile)
	if err != nil {
		t.Fatalf("load with the imported files: %v", err)
	}
	want := config.OverrideLists{SmallKey: []string{"mx.old-example.net", "mx.old-example.net"}, TLSExport: []string{"*.legacy-example.com", "*.legacy-example.com"}, None: []string{"never.example"}, Directory: od}
	if !reflect.DeepEqual(cfg.OverrideLists.SmallKey, want.SmallKey) || !reflect.DeepEqual(cfg.OverrideLists.TLSExport, want.TLSExport) || !reflect.DeepEqual(cfg.OverrideLists.None, want.None) {
		t.Errorf("overrides %+v, want %+v", cfg.OverrideLists, want)
	}
	ov, _ := cfg.Overrides()
	if ov.Len() != 3 {
		t.Errorf("%d overrides compiled, want 3 (repeats within a list count once)", ov.Len())
	}
	if b, _ := os.ReadFile(mainFile); string(b) != mainText {
		t.Errorf("the main file changed")
	}
}
