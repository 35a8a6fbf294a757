package lookupd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// ensureUser creates a system user (and its group) unless it exists, with
// the supplementary groups given; it returns its uid and gid.
func ensureUser(t *testing.T, name string, groups ...string) (uid, gid string) {
	t.Helper()
	for _, g := range groups {
		if _, err := user.LookupGroup(g); err != nil {
			if out, err := exec.Command("groupadd", "-r", g).CombinedOutput(); err != nil {
				if _, err2 := user.LookupGroup(g); err2 != nil { // a parallel test may have won
					t.Fatalf("groupadd %s: %v: %s", g, err, out)
				}
			}
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		args := []string{"-r", "-M", "-s", "/usr/sbin/nologin", "-U"}
		if len(groups) > 0 {
			args = append(args, "-G", strings.Join(groups, ","))
		}
		if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
			if _, err2 := user.Lookup(name); err2 != nil {
				t.Fatalf("useradd %s: %v: %s", name, err, out)
			}
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	return u.Uid, u.Gid
}

// TestSocketPermissions: the socket's mode and group are enforced by the
// kernel: a user outside the group is refused, a user in it is answered.
func TestSocketPermissions(t *testing.T) {
	lab.RequireRoot(t, "creates test users and runs clients as them")
	lab.Require(t, "setpriv", "socat", "useradd", "groupadd")
	const group = "tlsprobe-test"
	outUID, outGID := ensureUser(t, "tlsprobe-test-out")
	inUID, inGID := ensureUser(t, "tlsprobe-test-in", group)
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := mustLookup(t, "tlsprobe-test-out").GroupIds(); contains(ids, g.Gid) {
		t.Fatalf("tlsprobe-test-out is in group %s", group)
	}

	// A directory every user may traverse (t.TempDir's are 0700).
	dir, err := os.MkdirTemp("", "tlsprobe-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "tlsprobed.sock")

	s := warmService(t, hostileConfig(t, "127.0.0.1:9", 9, nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := socket.ListenUnix(path, 0o660, group)
	if err != nil {
		t.Fatal(err)
	}
	srv := &socket.Server{Handler: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { srv.Shutdown(context.Background()); <-done })

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || strconv.Itoa(int(sys.Gid)) != g.Gid {
		t.Errorf("socket mode %v group %d, want 0660 group %s (%s)", fi.Mode().Perm(), sys.Gid, g.Gid, group)
	}

	query := func(uid, gid string, groups ...string) (string, string, error) {
		args := []string{"--reuid=" + uid, "--regid=" + gid}
		if len(groups) == 0 {
			args = append(args, "--clear-groups")
		} else {
			args = append(args, "--groups="+strings.Join(groups, ","))
		}
		args = append(args, "socat", "-t", "5", "-", "UNIX-CONNECT:"+path)
		cmd := exec.Command("setpriv", args...)
		cmd.Stdin = strings.NewReader("warm.test")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := query(outUID, outGID)
	t.Logf("figure: uid %s (tlsprobe-test-out, not in %s): %q %v %s", outUID, group, out, err, strings.TrimSpace(errOut))
	if err == nil || out != "" || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("user outside the group: answer %q, err %v, stderr %q; want permission denied", out, err, errOut)
	}
	out, errOut, err = query(inUID, inGID, g.Gid)
	t.Logf("figure: uid %s (tlsprobe-test-in, in %s): %q %v", inUID, group, out, err)
	if err != nil || out != "smallkey" {
		t.Errorf("user in the group: answer %q, err %v, stderr %q; want smallkey", out, err, errOut)
	}
	if srv.Stats().Accepted != 1 {
		t.Errorf("server accepted %d connections, want 1 (the refused user never reached it)", srv.Stats().Accepted)
	}
}

func mustLookup(t *testing.T, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
