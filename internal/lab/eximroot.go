package lab

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// RootUserIDs returns the user and group ids of user name as the lab root
// knows them (its /etc/passwd), which need not match this machine's: Debian
// 13's root gives Debian-exim 100:101 where this Debian 12 machine has
// 102:105. Files an Exim inside the root must own (spool, log) are chowned
// to these.
func RootUserIDs(t testing.TB, root, name string) (uid, gid int) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatalf("lab root %s: %v", root, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) < 4 || fs[0] != name {
			continue
		}
		uid, uerr := strconv.Atoi(fs[2])
		gid, gerr := strconv.Atoi(fs[3])
		if uerr != nil || gerr != nil {
			t.Fatalf("lab root %s: bad passwd line %q", root, sc.Text())
		}
		return uid, gid
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("lab root %s: read /etc/passwd: %v", root, err)
	}
	t.Fatalf("lab root %s: no user %s in /etc/passwd", root, name)
	return 0, 0
}

// RootOverlay returns a writable copy of the lab root name for one test:
// an overlayfs mount whose lower layer is the cached root (never written)
// and whose upper layer is a temporary directory, so that installing and
// purging a package there costs only what changes. The mount is on this
// machine's mount table (the programs of RootCommand run in namespaces of
// their own, which inherit it) and is unmounted, with the upper layer
// removed, when the test ends.
func RootOverlay(t testing.TB, name string) string {
	t.Helper()
	lower := RootDir(t, name)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if out, err := exec.Command("mount", "-t", "overlay", "overlay", "-o", opts, merged).CombinedOutput(); err != nil {
		t.Fatalf("overlay of lab root %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "--lazy", merged).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", merged, err, out)
		}
	})
	return merged
}
