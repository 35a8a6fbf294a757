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
	"syscall"
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

var eximOpenSSL struct {
	once sync.Once
	path string
	err  error
}

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
	requireRoot(t, "the OpenSSL-built Exim runs as root with -C")
	eximOpenSSL.once.Do(func() { eximOpenSSL.path, eximOpenSSL.err = checkEximOpenSSL(eximOpenSSLPath) })
	if errors.Is(eximOpenSSL.err, os.ErrNotExist) {
		unavailable(t, fmt.Sprintf("no OpenSSL-built Exim: %v (scripts/build-exim-openssl builds it)", eximOpenSSL.err))
	}
	if eximOpenSSL.err != nil {
		t.Fatalf("OpenSSL-built Exim: %v", eximOpenSSL.err)
	}
	return eximOpenSSL.path
}

// checkEximOpenSSL resolves path and checks what EximOpenSSLBinary promises.
func checkEximOpenSSL(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	for _, p := range []string{real, filepath.Dir(real), filepath.Dir(filepath.Dir(real))} {
		if err := checkRootOwned(p); err != nil {
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

// checkRootOwned refuses a file or directory that someone other than root
// could have replaced.
func checkRootOwned(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 || !(fi.Mode().IsRegular() || fi.IsDir()) {
		return fmt.Errorf("%s: not a file or directory owned by root and writable only by root", p)
	}
	return nil
}
