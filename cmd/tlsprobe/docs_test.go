package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsInstall: every build command in the READMEs names the toolchain
// go.mod asks for (with GOTOOLCHAIN=local a machine's older, vulnerable Go
// would build silently), the Exim guide says where both commands go, and
// README.md starts with the package next to the two commands.
func TestDocsInstall(t *testing.T) {
	root := filepath.Join("..", "..")
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain (go\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod names no toolchain")
	}
	toolchain := string(m[1])
	docs := map[string]string{}
	for _, name := range []string{"README.md", "contrib/exim/README.md"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = string(b)
		n := 0
		for i, line := range strings.Split(string(b), "\n") {
			if !regexp.MustCompile(`\bgo (build|install) `).MatchString(line) {
				continue
			}
			n++
			if !strings.Contains(line, "GOTOOLCHAIN="+toolchain+" go ") {
				t.Errorf("%s:%d: %q builds without GOTOOLCHAIN=%s", name, i+1, strings.TrimSpace(line), toolchain)
			}
		}
		if n == 0 {
			t.Errorf("%s: no build command found; the test looks for none", name)
		}
	}
	exim := docs["contrib/exim/README.md"]
	for _, want := range []string{"/usr/bin/tlsprobe", "-o /usr/local/bin/tlsprobe ./cmd/tlsprobe", "sudo -g Debian-exim tlsprobe stats", "TLSPROBED_ENABLE = yes"} {
		if !strings.Contains(exim, want) {
			t.Errorf("contrib/exim/README.md does not say %q", want)
		}
	}
	// The first code block of README.md: the package, then the two commands.
	readme := docs["README.md"]
	block := regexp.MustCompile(`(?m)^(    \S.*\n)+`).FindString(readme)
	for _, want := range []string{"apt install ./dist/exim-tlsprobe_*.deb", "go run ./cmd/tlsprobed -socket /tmp/tlsprobed.sock", "sudo scripts/test"} {
		if !strings.Contains(block, want) {
			t.Errorf("README.md's first commands lack %q:\n%s", want, block)
		}
	}
	if strings.Index(readme, block) > 400 {
		t.Errorf("README.md does not start with its commands")
	}
}
