package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// eximOpenSSLPath is where scripts/build-exim-openssl leaves the Exim it
// builds from Debian's exim4 source package with OpenSSL: exim-openssl is a
// symbolic link to the directory of the current build
// (exim-openssl-<source version>-<Makefile hash>).
const eximOpenSSLPath = "/var/cache/exim-tlsprobe/exim-openssl/exim"

// supportsOpenSSL matches the -bV line of an Exim built with OpenSSL.
var supportsOpenSSL = regexp.MustCompile(`(?m)^Support for: .*\bOpenSSL\b`)

// eximOpenSSL checks the binary once per test binary.
var eximOpenSSL = sync.OnceValues(func() (string, error) { return checkEximOpenSSL(eximOpenSSLPath) })

// EximOpenSSLBinary returns the path of an Exim 4.96 built with OpenSSL 3
// instead of GnuTLS (same Debian source), for tests of what such an Exim
// does as a client (SendWithExim) or server (EximOptions.Binary). The
// binary is built by scripts/build-exim-openssl, which scripts/test runs
// before the tests, and not here: the build needs root, apt and the network,
// and test binaries running in parallel must not race to build it. It is
// checked once per test binary: a regular file, owned by root and writable
// by no one else (tests run it as root), whose -bV lists OpenSSL. Missing,
// the test is skipped (failed under CI=true).
func EximOpenSSLBinary(t testing.TB) string {
	t.Helper()
	RequireRoot(t, "the OpenSSL-built Exim runs as root with -C")
	path, err := eximOpenSSL()
	if errors.Is(err, os.ErrNotExist) {
		unavailable(t, fmt.Sprintf("no OpenSSL-built Exim: %v (scripts/build-exim-openssl builds it)", err))
	}
	if err != nil {
		t.Fatalf("OpenSSL-built Exim: %v", err)
	}
	return path
}

// checkEximOpenSSL resolves path and checks what EximOpenSSLBinary promises.
func checkEximOpenSSL(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	for _, p := range []string{real, filepath.Dir(real), filepath.Dir(filepath.Dir(real))} {
		if err := checkOwned(p, 0, false); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, real, "-C", "/dev/null", "-bV").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("run %s -bV: %w\n%s", real, err, out)
	}
	if !supportsOpenSSL.Match(out) {
		return "", fmt.Errorf("%s -bV lists no OpenSSL support:\n%s", real, out)
	}
	return real, nil
}
