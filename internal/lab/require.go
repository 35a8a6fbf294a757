package lab

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sbinDirs are searched after $PATH: Exim lives in /usr/sbin, which a
// non-root PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// lookTool finds an executable in $PATH or, failing that, in sbinDirs.
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	if strings.ContainsRune(name, '/') {
		return "", err
	}
	for _, dir := range sbinDirs {
		if p, err2 := exec.LookPath(filepath.Join(dir, name)); err2 == nil {
			return p, nil
		}
	}
	return "", err
}

// Require checks that every tool is installed (exec.LookPath, plus /usr/sbin
// and /sbin). A missing tool fails the test when the environment has CI=true
// and skips it otherwise. scripts/test installs every tool the tests need.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := lookTool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "missing tools: "+strings.Join(missing, ", ")+" (scripts/test installs them)")
	}
}

// RequireRoot is Require for root privileges (Exim needs them to run as
// Debian-exim; mounts, users, chroots): a test without them fails under
// CI=true and is skipped otherwise.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root: "+why)
	}
}

// unavailable fails the test under CI=true and skips it otherwise.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

// Testdata returns the absolute path of <repo>/testdata/name. The repository
// root is the nearest directory above the working directory (go test runs in
// the package directory) that holds go.mod and testdata.
func Testdata(t testing.TB, name string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("find testdata: %v", err)
	}
	return filepath.Join(root, "testdata", filepath.FromSlash(name))
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, "testdata")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no directory with go.mod and testdata above the working directory")
		}
		dir = parent
	}
}

func isFile(p string) bool { fi, err := os.Stat(p); return err == nil && fi.Mode().IsRegular() }
func isDir(p string) bool  { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
