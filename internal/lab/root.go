package lab

import (
	"context"
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
	mounts := make([]Mount, 0, len(binds))
	for _, b := range binds {
		mounts = append(mounts, Mount{Src: b, Dst: b})
	}
	return RootCommandContext(context.Background(), root, netns, mounts, args...)
}

// Mount is one bind mount of RootCommandContext: Src (a file or directory
// on this machine) appears at Dst inside the root.
type Mount struct {
	Src, Dst string
}

// RootCommandContext is RootCommand with a context (killing the program
// when it is done) and mounts whose target inside the root may differ from
// the source, e.g. a per-test file over the root's /etc/resolv.conf. The
// root's /tmp is a fresh tmpfs first, so a mount point made under /tmp (a
// test's temporary directory) never lands in the cached root; a missing
// mount point elsewhere is created in the root (a directory, or an empty
// file for a file source).
func RootCommandContext(ctx context.Context, root, netns string, mounts []Mount, args ...string) *exec.Cmd {
	script := `set -e
root=$1; shift
n=$1; shift
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
i=0
while [ "$i" -lt "$n" ]; do
	if [ -d "$1" ]; then
		mkdir -p "$root$2"
	elif [ ! -e "$root$2" ]; then
		mkdir -p "$(dirname "$root$2")"
		: >"$root$2"
	fi
	mount --bind "$1" "$root$2"
	shift 2; i=$((i + 1))
done
mount -t proc proc "$root/proc"
exec chroot "$root" "$@"`
	argv := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, fmt.Sprint(len(mounts))}
	for _, m := range mounts {
		argv = append(argv, m.Src, m.Dst)
	}
	argv = append(argv, args...)
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
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
