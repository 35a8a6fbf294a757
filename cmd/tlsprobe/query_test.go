package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestQueryMessages: bad arguments are refused before anything is sent,
// with what is wrong and the usage; a daemon that cannot be reached is
// described once, without the error chain repeating the address.
func TestQueryMessages(t *testing.T) {
	dir := t.TempDir()
	// A socket file nobody listens on: connecting is refused.
	dead := filepath.Join(dir, "dead.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: dead}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	// A live socket, to show that bad arguments never reach it.
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	missing := filepath.Join(dir, "missing.sock")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string // the whole of stderr
	}{
		{[]string{"explain", "-socket", live, "bad domain"}, 2,
			"tlsprobe explain: \"bad domain\" is not a domain name: label \"bad domain\" holds ' '\nusage: tlsprobe explain [-socket PATH] [-json] DOMAIN\n"},
		{[]string{"query", "-socket", live, "a", "b"}, 2,
			"tlsprobe query: takes one domain, got 2 arguments: \"a\" \"b\"\nusage: tlsprobe query [-socket PATH] DOMAIN\n"},
		{[]string{"query", "-socket", live}, 2, "tlsprobe query: which domain?\nusage: tlsprobe query [-socket PATH] DOMAIN\n"},
		{[]string{"stats", "-socket", live, "x"}, 2, "tlsprobe stats: takes no argument, got \"x\"\nusage: tlsprobe stats [-socket PATH] [-json]\n"},
		{[]string{"list", "-socket", live, "weak"}, 2, "tlsprobe list: \"weak\" is not a list: want smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing\nusage: tlsprobe list [-socket PATH] [-json] [smallkey|tlsexport|nodhe|seclevel1|seclevel0]\n"},
		{[]string{"flush", "-socket", live, "a..b"}, 2, "tlsprobe flush: \"a..b\" is not a domain name: empty label\nusage: tlsprobe flush [-socket PATH] DOMAIN|all\n"},
		{[]string{"stats", "-socket", dead}, 1, "tlsprobe stats: cannot connect to " + dead + ": connection refused (is tlsprobed running?)\n"},
		{[]string{"query", "-socket", missing, "a.example"}, 1, "tlsprobe query: cannot connect to " + missing + ": no such socket (is tlsprobed running? -socket names another path)\n"},
		{[]string{"stats", "-socket", "inet:127.0.0.1:1"}, 1, "tlsprobe stats: cannot connect to inet:127.0.0.1:1: connection refused (is tlsprobed running?)\n"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.code || stderr != tc.stderr {
			t.Errorf("%q: exit %d, stderr\n%s\nwant %d and\n%s", tc.args, code, stderr, tc.code, tc.stderr)
		}
		if strings.Count(stderr, dead)+strings.Count(stderr, missing) > 1 {
			t.Errorf("%q: the path is repeated: %s", tc.args, stderr)
		}
	}
	if len(accepted) != 0 {
		t.Errorf("%d connections to the live socket; bad arguments must not be sent", len(accepted))
	}
	// Control: good arguments do reach it.
	runCLI("query", "-socket", live, "a.example")
	if len(accepted) != 1 {
		t.Errorf("control: a good query made %d connections, want 1", len(accepted))
	}
}

// TestDescribePermissionDenied: root is never refused by the socket's mode,
// so the message is checked on the error a non-member of the group gets,
// and names the README where the package installs it.
func TestDescribePermissionDenied(t *testing.T) {
	err := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	got := describeQueryError("/run/tlsprobed/tlsprobed.sock", err)
	t.Log(got)
	want := `cannot connect to /run/tlsprobed/tlsprobed.sock: permission denied (see "Admins without root" in /usr/share/doc/exim-tlsprobe/README.exim.md (contrib/exim/README.md in the source))`
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	nfpm, rerr := os.ReadFile("../../packaging/deb/nfpm.yaml")
	if rerr != nil || !strings.Contains(string(nfpm), "src: contrib/exim/README.md\n    dst: /usr/share/doc/exim-tlsprobe/README.exim.md\n") {
		t.Errorf("packaging/deb/nfpm.yaml does not install contrib/exim/README.md as README.exim.md (%v)", rerr)
	}
}
