package lab

import (
	"bufio"
	"os"
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
