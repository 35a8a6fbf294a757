package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestInstall: "go install ./cmd/..." builds both commands, and the
// installed binaries print the module, its version and build settings.
func TestInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both commands")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "./cmd/...")
	cmd.Dir = filepath.Join("..", "..")
	// buildvcs=auto stamps the revision when building from a git checkout
	// (whatever GOFLAGS says), and quietly does without it elsewhere.
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=auto")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install ./cmd/...: %v\n%s", err, out)
	}
	for _, prog := range []string{"tlsprobe", "tlsprobed"} {
		out, err := exec.Command(filepath.Join(bin, prog), "-version").CombinedOutput()
		t.Logf("%s -version: %s", prog, out)
		// "tlsprobe github.com/exim-tlsprobe/exim-tlsprobe v0.0.0-... revision=... go1.26.8"
		re := regexp.MustCompile(`^` + prog + ` github\.com/exim-tlsprobe/exim-tlsprobe (\(devel\)|v\S+)( \S+=\S+)* go1\.\d+\S*\n$`)
		if err != nil || !re.Match(out) {
			t.Errorf("%s -version: %v, %q; want it to match %s", prog, err, out, re)
		}
		if _, err := os.Stat(filepath.Join("..", "..", ".git")); err == nil && !regexp.MustCompile(` v0\.0\.0-\d{14}-[0-9a-f]{12}(\+dirty)? revision=[0-9a-f]{40} `).Match(out) {
			t.Errorf("%s -version: %q; built from a git checkout, want its pseudo-version and revision", prog, out)
		}
	}
}
