package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestOverrideDirectory: overrides.directory adds the lists of its *.toml
// files, in name order, to the main file's; problems name the file (and the
// line, for decoding errors) where they are.
func TestOverrideDirectory(t *testing.T) {
	dir := t.TempDir()
	od := filepath.Join(dir, "overrides.d")
	if err := os.Mkdir(od, 0o755); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "config.toml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(main, "[overrides]\nsmallkey = [\"main.example\"]\ndirectory = \""+od+"\"\n")
	write(filepath.Join(od, "20-more.toml"), "[overrides]\ntlsexport = [\"*.more.example\"]\nnone = [\"never.example\"]\n")
	write(filepath.Join(od, "10-classic.toml"), "# from tlsprobe import\n[overrides]\nsmallkey = [\"mx.old.example\"]\n")
	write(filepath.Join(od, "10-classic.toml.dpkg-old"), "not toml at all [")
	write(filepath.Join(od, ".hidden.toml"), "not toml at all [")
	cfg, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"main.example", "mx.old.example"}
	if !reflect.DeepEqual(cfg.OverrideLists.SmallKey, want) || !reflect.DeepEqual(cfg.OverrideLists.TLSExport, []string{"*.more.example"}) ||
		!reflect.DeepEqual(cfg.OverrideLists.None, []string{"never.example"}) {
		t.Errorf("lists %+v; want smallkey %v, tlsexport [*.more.example], none [never.example]", cfg.OverrideLists, want)
	}
	ov, _ := cfg.Overrides()
	if ov.Len() != 4 {
		t.Errorf("compiled %d overrides, want 4", ov.Len())
	}

	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"unknown key", "30-bad.toml", "[overrides]\n\nsmallkey = []\ndirectory = \"/x\"\n", []string{filepath.Join(od, "30-bad.toml") + ":4: overrides.directory: unknown key"}},
		{"other section", "30-bad.toml", "[probe]\nport = 26\n", []string{filepath.Join(od, "30-bad.toml") + ":1: probe: unknown key"}},
		{"bad item", "30-bad.toml", "[overrides]\nnone = [\"ok.example\", \"^(\"]\n", []string{filepath.Join(od, "30-bad.toml") + ": overrides.none[1]: "}},
		{"in two files", "30-bad.toml", "[overrides]\ntlsexport = [\"MX.old.example\"]\n", []string{
			filepath.Join(od, "30-bad.toml") + `: overrides.tlsexport[0]: "MX.old.example" is also in ` + filepath.Join(od, "10-classic.toml") + `: overrides.smallkey[0] ("mx.old.example")`}},
		{"in the main file and a file", "30-bad.toml", "[overrides]\nnone = [\"main.example\"]\n", []string{
			filepath.Join(od, "30-bad.toml") + `: overrides.none[0]: "main.example" is also in ` + main + `: overrides.smallkey[0]`}},
	} {
		write(filepath.Join(od, tc.file), tc.text)
		_, err := Load(main)
		os.Remove(filepath.Join(od, tc.file))
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant %q", tc.name, err, w)
			}
		}
	}

	// The directory must exist, and be absolute.
	write(main, "[overrides]\ndirectory = \""+filepath.Join(dir, "missing")+"\"\n")
	if _, err := Load(main); err == nil || !strings.Contains(err.Error(), main+": overrides.directory: read directory: "+filepath.Join(dir, "missing")+": no such file or directory") {
		t.Errorf("missing directory: %v", err)
	}
	write(main, "[overrides]\ndirectory = \"overrides.d\"\n")
	if _, err := Load(main); err == nil || !strings.Contains(err.Error(), "overrides.directory: must be an absolute path") {
		t.Errorf("relative directory: %v", err)
	}
}
