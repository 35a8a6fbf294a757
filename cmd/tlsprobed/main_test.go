package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[answer]\nwait = \"1s\"\n"), 0o644)
	nogroup := filepath.Join(dir, "nogroup.toml")
	os.WriteFile(nogroup, []byte("[listen]\ngroup = \"no-such-group-tlsprobe\"\n"), 0o644)
	regular := filepath.Join(dir, "file.sock")
	os.WriteFile(regular, nil, 0)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[answer]\nwait = \"1s\"\n[probe]\ntimout = \"3s\"\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{[]string{"-version"}, 0, "tlsprobed github.com/exim-tlsprobe/exim-tlsprobe"},
		{[]string{"-check", "-config", good}, 0, "ok"},
		{[]string{"-check", "-config", bad}, 1, "bad.toml:4: probe.timout: unknown key"},
		{[]string{"-check", "-config", filepath.Join(dir, "missing.toml")}, 1, "no such file"},
		{[]string{"-nosuchflag"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-log-format", "xml", "-check"}, 2, "neither text nor json"},
		// A group that does not exist, or a socket path longer than sun_path
		// allows (also given with -socket), fail the check, not the start.
		{[]string{"-check", "-config", nogroup}, 1, `listen.group: no group "no-such-group-tlsprobe" on this machine`},
		{[]string{"-check", "-config", good, "-socket", "/run/" + strings.Repeat("s", 103)}, 1, "-socket: listen.socket: longer than 107 bytes"},
		{[]string{"-check", "-config", good, "-socket", "/run/" + strings.Repeat("s", 102)}, 0, "ok"},
		// The socket's directory must exist, and the path be absent or a socket.
		{[]string{"-check", "-config", good, "-socket", "/missing/dir/x.sock"}, 1, "listen.socket: directory does not exist: /missing/dir"},
		{[]string{"-check", "-config", good, "-socket", regular}, 1, "listen.socket: " + regular + " is a regular file, not a socket"},
		{[]string{"-check", "-config", good, "-socket", good + "/x.sock"}, 1, "listen.socket: " + good + " is a regular file, not a directory"},
	} {
		var out bytes.Buffer
		code := run(tc.args, &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tc.args, code, out.String(), tc.code, tc.out)
		}
	}
}

// buildDaemon builds tlsprobed from the tree.
func buildDaemon(t *testing.T, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tlsprobed")
	out, err := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDefaultsStart is the README's first command: the daemon on built-in
// defaults (no config file), with -socket in a writable place.
func TestDefaultsStart(t *testing.T) {
	if _, err := os.Stat("/etc/tlsprobed/config.toml"); err == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("a config file exists at the default path: the built-in defaults cannot be tested")
		}
		t.Skip("a config file exists at the default path on this machine")
	}
	bin := buildDaemon(t)
	sock := filepath.Join(t.TempDir(), "tlsprobed.sock")
	var logs lab.LogBuffer
	cmd := exec.Command(bin, "-socket", sock)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logsOnFailure(t, &logs)
	waitAnswering(t, sock)
	answer, err := tryQuery(sock, "stats")
	if err != nil || !strings.Contains(answer, `"answers"`) {
		t.Fatalf("stats: %q, %v\nlogs:\n%s", answer, err, logs.String())
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v, %v; want 0660", fi, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\nlogs:\n%s", err, logs.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if !strings.Contains(logs.String(), `msg=config file="/etc/tlsprobed/config.toml absent: built-in defaults"`) {
		t.Errorf("logs do not say that the built-in defaults are in use:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "msg=listen") || !strings.Contains(logs.String(), "msg=shutdown") {
		t.Errorf("logs lack listen/shutdown lines:\n%s", logs.String())
	}
}

// TestStartFailures: what keeps the daemon from starting is logged as
// msg=start with the reason, the exit status is 1, and nothing says
// "shutdown".
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("[answer]\nwait = \"1s\"\n"), 0o644)

	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0); err != nil {
		t.Fatal(err)
	}
	inUse := filepath.Join(dir, "inuse.sock")
	ln, err := net.Listen("unix", inUse)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct{ name, socket, want string }{
		{"regular file", file, "is a regular file, not a socket"},
		{"socket in use", inUse, "socket in use by a running server"},
		{"no directory", filepath.Join(dir, "missing", "tlsprobed.sock"), "directory does not exist: " + filepath.Join(dir, "missing")},
	} {
		var out bytes.Buffer
		code := run([]string{"-config", cfg, "-socket", tc.socket}, &out, &out)
		t.Logf("%s: exit %d: %s", tc.name, code, out.String())
		if code != 1 || !strings.Contains(out.String(), "msg=start result=failed") ||
			!strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), "msg=shutdown") {
			t.Errorf("%s: exit %d, log %q; want 1 and msg=start result=failed with %q", tc.name, code, out.String(), tc.want)
		}
	}

	// bind: permission denied, from a user who may not write the directory
	// (nobody, when the test runs as root). Everything it must read lives
	// in a directory of mode 0755.
	pub, err := os.MkdirTemp("", "tlsprobed-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(pub)
	os.Chmod(pub, 0o755)
	bin := filepath.Join(pub, "tlsprobed")
	if b, err := os.ReadFile(buildDaemon(t)); err != nil || os.WriteFile(bin, b, 0o755) != nil {
		t.Fatalf("copy the daemon: %v", err)
	}
	pubCfg := filepath.Join(pub, "config.toml")
	os.WriteFile(pubCfg, []byte("[answer]\nwait = \"1s\"\n"), 0o644)
	locked := filepath.Join(pub, "locked")
	os.Mkdir(locked, 0o755)
	cmd := exec.Command(bin, "-config", pubCfg, "-socket", filepath.Join(locked, "tlsprobed.sock"))
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else {
		os.Chmod(locked, 0o555)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("permission denied: %v: %s", err, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "msg=start result=failed") ||
		!strings.Contains(string(out), "bind: permission denied") {
		t.Errorf("permission denied: %v, log %q; want exit 1 and msg=start result=failed ... bind: permission denied", err, out)
	}
}

// TestReloadRefusesMissingFile: the daemon started without -config and no
// file at the default path runs on built-in defaults and says so; SIGHUP
// loads a file created there since; SIGHUP after that file was removed keeps
// the configuration in use (its overrides too), as for a broken file.
func TestReloadRefusesMissingFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	bin := buildDaemon(t, "-ldflags=-X=main.defaultConfigPath="+cfg)
	sock := filepath.Join(dir, "tlsprobed.sock")
	var logs lab.LogBuffer
	cmd := exec.Command(bin, "-socket", sock)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	logsOnFailure(t, &logs)
	ask := func(want string) {
		t.Helper()
		lab.WaitFor(t, fmt.Sprintf("answer %q for kept.example", want), func() bool {
			got, err := tryQuery(sock, "kept.example")
			return err == nil && got == want
		})
	}
	waitLog := func(n int, subs ...string) {
		t.Helper()
		lab.WaitFor(t, fmt.Sprintf("%d log lines with %q", n, subs), func() bool { return logs.Count(subs...) >= n })
	}
	waitLog(1, "msg=listen")
	if logs.Count("msg=config", cfg+" absent: built-in defaults") != 1 {
		t.Errorf("the log does not say that built-in defaults are in use:\n%s", logs.String())
	}
	ask("")
	os.WriteFile(cfg, []byte("[overrides]\nsmallkey = [\"kept.example\"]\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(1, "msg=reload result=ok")
	ask("smallkey")
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(1, "msg=reload result=refused", "no such file or directory")
	t.Logf("logs:\n%s", logs.String())
	if n := logs.Count("msg=reload result=ok"); n != 1 {
		t.Errorf("%d reloads ok, want 1 (the removed file must be refused)", n)
	}
	ask("smallkey")
}
