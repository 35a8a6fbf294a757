package lab

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rootsDir is where scripts/build-root leaves the roots it builds: NAME is
// a symbolic link to the directory of the current build of that name.
const rootsDir = "/var/cache/exim-tlsprobe/roots"

// RootDir returns the path of the Debian root file system NAME that
// scripts/build-root builds with debootstrap ("trixie-exim": Debian 13's
// Exim 4.98 with GnuTLS 3.8; "trixie-postfix": Debian 13's Postfix). The
// root is built by scripts/build-root, which scripts/test runs before the
// tests, and not here: the build needs root, apt and the network, and test
// binaries running in parallel must not race to build it. Missing, the test
// is skipped (failed under CI=true).
func RootDir(t testing.TB, name string) string {
	t.Helper()
	RequireRoot(t, "chroot into a lab root needs root")
	Require(t, "unshare", "chroot", "mount")
	link := filepath.Join(rootsDir, name)
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		unavailable(t, fmt.Sprintf("no lab root %s: %v (scripts/build-root %s builds it)", name, err, name))
	}
	if !isFile(filepath.Join(real, ".exim-tlsprobe-root")) {
		t.Fatalf("lab root %s (%s) has no stamp: a build was interrupted; run scripts/build-root %s", name, real, name)
	}
	if err := checkOwned(real, 0, false); err != nil {
		t.Fatalf("lab root %s: %v", name, err)
	}
	return real
}

// RootCommand returns a command that runs args inside root with chroot, in
// a mount namespace of its own where /proc is mounted and each directory of
// binds (an absolute path on this machine) appears at the same path inside
// the root; with netns set, inside that network namespace (ip netns exec).
// The command's process is the program itself (unshare, sh and chroot each
// exec the next), so killing it, or its process group, stops the program.
// Nothing it mounts outlives it: the mounts belong to its own namespace.
func RootCommand(root, netns string, binds []string, args ...string) *exec.Cmd {
	script := `set -e
root=$1; shift
n=$1; shift
i=0
while [ "$i" -lt "$n" ]; do
	mkdir -p "$root$1"
	mount --bind "$1" "$root$1"
	shift; i=$((i + 1))
done
mount -t proc proc "$root/proc"
exec chroot "$root" "$@"`
	argv := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, fmt.Sprint(len(binds))}
	argv = append(argv, binds...)
	argv = append(argv, args...)
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	return cmd
}

// RootOutput runs args in root as RootCommand does and returns the combined
// output; a failure fails the test with that output.
func RootOutput(t testing.TB, root, netns string, binds []string, args ...string) string {
	t.Helper()
	out, err := RootCommand(root, netns, binds, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s", root, strings.Join(args, " "), err, out)
	}
	return string(out)
}
