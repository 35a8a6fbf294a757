package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRoots runs each lab root's programs: Debian 13's Exim says its
// version and GnuTLS, Postfix its version, and a directory bound into the
// root is seen there.
func TestRoots(t *testing.T) {
	exim := RootDir(t, "trixie-exim")
	out := RootOutput(t, exim, "", nil, "exim4", "-C", "/dev/null", "-bV")
	if !regexp.MustCompile(`(?m)^Exim version 4\.9[8-9]`).MatchString(out) || !strings.Contains(out, "GnuTLS") {
		t.Errorf("trixie-exim: exim4 -bV says:\n%s", out)
	}
	postfix := RootDir(t, "trixie-postfix")
	if out := RootOutput(t, postfix, "", nil, "postconf", "-h", "mail_version"); !regexp.MustCompile(`^3\.\d+\.\d+\n$`).MatchString(out) {
		t.Errorf("trixie-postfix: postconf mail_version says %q", out)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "seen"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := RootOutput(t, exim, "", []string{dir}, "cat", filepath.Join(dir, "seen")); out != "from the host\n" {
		t.Errorf("bound directory: cat inside the root says %q", out)
	}
	if _, err := os.Stat(filepath.Join(exim, dir, "seen")); err == nil {
		t.Errorf("the bind mount outlived the command: %s is visible outside its namespace", filepath.Join(exim, dir, "seen"))
	}
}
