package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadReportsFileLineAndKey(t *testing.T) {
	doc := `# comment
[listen]
socket = "/run/x.sock"

[probe]
port = 25
timout = "30s"
`
	p := writeFile(t, "config.toml", doc)
	_, err := Load(p)
	if err == nil {
		t.Fatal("Load accepted an unknown key")
	}
	if want := p + ":7: probe.timout: unknown key"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 7 || ce.Key != "probe.timout" || ce.File != p {
		t.Fatalf("errors.As: %+v", ce)
	}
}

func TestParseReportsEveryUnknownKey(t *testing.T) {
	_, err := Parse([]byte("[probe]\ntimout = \"3s\"\n[bogus]\nx = 1\n[cache]\nsize = 3\n"))
	want := "line 2: probe.timout: unknown key\nline 3: bogus: unknown key\nline 6: cache.size: unknown key"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// A key written above every section names the section it belongs in.
func TestParseUnknownTopLevelKeyHintsSection(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"ttl = \"24h\"\n", "line 1: ttl: unknown key; ttl belongs in [cache]"},
		{"timeout = \"3s\"\n", "line 1: timeout: unknown key; timeout belongs in [dns] or [probe] or [redis]"},
		{"bogus = 1\n", "line 1: bogus: unknown key"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestParseDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[probe]\nport = \"25\"\n", "line 2: probe.port: want an integer, not a TOML string"},
		{"[listen]\nmode = 0o660\n", "line 2: listen.mode: want a string, not a TOML integer"},
		{"[probe]\nignore_networks = \"10.0.0.0/8\"\n", "line 2: probe.ignore_networks: want an array of strings"},
		{"\n\n[answer]\nwait = 2\n", "line 4: answer.wait: parse duration \"2\": want a number with a unit"},
		{"[answer]\nwait = 2.5\n", "line 2: answer.wait: parse duration"},
		{"answer.wait = 3\n", "line 1: answer.wait: parse duration"},
		{"[probe]\nrate_per_address = -1\n", "line 2: probe.rate_per_address: parse rate \"-1\""},
		{"[probe]\ntimeout = \"3x\"\n", "line 2: probe.timeout: parse duration \"3x\""},
		{"[cache]\nttl = \"1d\"\n", "line 2: cache.ttl: parse duration \"1d\": days are not a unit; write hours, e.g. \"24h\""},
		{"[cache]\nttl = \"7d\"\n", "e.g. \"168h\""},
		{"[probe\n", "line 1: expected ']'"},
		{"probe = 3\n", "line 1: probe: want a table, not a TOML integer"},
		{"[probe]\nport = 25\nport = 26\n", "line 3:"},
		{"[probe]\nrate_per_address = { every = \"10s\" }\n", "line 2: probe.every: unknown key"}, // go-toml names inline-table keys without their parent
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// Absent keys keep their defaults; arrays replace the default array entirely.
func TestParseOverlaysDefaults(t *testing.T) {
	c, err := Parse([]byte(`
[probe]
ignore_networks = ["10.0.0.0/8"]
client = "openssl"
[overrides]
none = ["mx.example.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	want.Probe.Client = tlswire.ClientOpenSSL
	want.OverrideLists.None = []string{"mx.example.com"}
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if n := c.Probe.Networks(); len(n) != 1 || n[0].String() != "10.0.0.0/8" {
		t.Fatalf("Networks = %v", n)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "[listen]\n[dns]\n"} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("Parse(%q): %v", doc, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Fatalf("Parse(%q) differs from Default()", doc)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.toml")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := LoadOrDefault(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadOrDefault(missing explicit file) = %v, want fs.ErrNotExist", err)
	}
	// At the default path a missing file means defaults.
	c, err := loadOrDefault(missing, missing)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("loadOrDefault(missing default) = %+v, %v; want Default()", c, err)
	}
	// A present default file is read, and its errors reported.
	p := writeFile(t, "config.toml", "[probe]\nport = 2525\n")
	c, err = loadOrDefault(p, p)
	if err != nil || c.Probe.Port != 2525 {
		t.Fatalf("loadOrDefault(present default) = port %d, %v", c.Probe.Port, err)
	}
	bad := writeFile(t, "config.toml", "[probe]\nport = 0\n")
	if _, err := loadOrDefault(bad, bad); err == nil || !strings.HasPrefix(err.Error(), bad+": probe.port:") {
		t.Fatalf("loadOrDefault(bad default) = %v", err)
	}
}

func TestLoadDirectoryAndTooLarge(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("Load(directory) succeeded")
	}
	big := writeFile(t, "big.toml", "#"+strings.Repeat("x", maxFileSize)+"\n")
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(big) = %v", err)
	}
}

// Validation errors from Load carry the file name on every line.
func TestLoadValidationErrorsNameFile(t *testing.T) {
	p := writeFile(t, "c.toml", "[probe]\nport = 0\n[answer]\nwait = \"5m\"\n")
	_, err := Load(p)
	want := p + ": probe.port: must be between 1 and 65535 (got 0)\n" +
		p + ": answer.wait: must be between 10ms and 1m (got 5m)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %q\nwant %q", err, want)
	}
}

// fuzzSeeds are contrib-like configurations: the first two as contrib/exim/README.md
// and internal/e2e write them.
var fuzzSeeds = []string{
	`[listen]
socket = "/run/tlsprobed/tlsprobed.sock"
mode = "0660"
group = "Debian-exim"

[cache]
file = "/var/lib/tlsprobed/cache.json"
`,
	`# tlsprobed for the end-to-end test
[listen]
socket = "/tmp/e2e/run/tlsprobed.sock"
mode = "0660"
group = "Debian-exim"

[probe]
helo = "probe.sender.test"
timeout = "10s"
source_address = "192.0.2.10"
ignore_networks = []

[answer]
wait = "1s"

[cache]
file = "/tmp/e2e/tlsprobed-cache.json"

[overrides]
tlsexport = ["override.test"]
`,
	"",
	`[listen]
group = "Debian-exim"
tcp = "127.0.0.1:8125"
[cache]
file = "/var/lib/tlsprobed/cache.json"
[overrides]
smallkey = ["mx.old-example.net", "mx2.example.org"]
tlsexport = ["*.legacy-example.com"]
none = ["^mx[0-9]+\\.example\\.net$"]
`,
	`[dns]
servers = ["127.0.0.1", "[::1]:5353"]
timeout = "1s"
[probe]
helo = "mail.example.org"
client = "openssl"
tls13 = false
rate_per_address = 0.5
rate_burst = 1
ignore_networks = []
[answer]
wait = "500ms"
`,
	"probe.port = 2525\nanswer = { wait = \"1s\" }\n",
	"[listen]\nmode = \"0600\"\n[metrics]\nlisten = \"127.0.0.1:9100\"\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if full, err := os.ReadFile("../contrib/config.example.toml"); err == nil {
		f.Add(full)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error %q (%T) is not a *config.Error", err, err)
			}
			return
		}
		// A valid configuration survives a marshal and parse unchanged.
		out, err := marshalTOML(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip differs:\n%s", out)
		}
	})
}

func TestParseSeedsAreValid(t *testing.T) {
	for _, s := range fuzzSeeds {
		if _, err := Parse([]byte(s)); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}
