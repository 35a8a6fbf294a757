package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[answer]\nwait = \"1s\"\n"), 0o644)
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
	} {
		var out bytes.Buffer
		code := run(tc.args, &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tc.args, code, out.String(), tc.code, tc.out)
		}
	}
}

// buildDaemon builds tlsprobed from the tree.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tlsprobed")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var answer []byte
	var err error
	for ctx.Err() == nil {
		if answer, err = socket.Query(ctx, sock, "stats"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !bytes.Contains(answer, []byte(`"answers"`)) {
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
	if !strings.Contains(logs.String(), "msg=listen") || !strings.Contains(logs.String(), "msg=shutdown") {
		t.Errorf("logs lack listen/shutdown lines:\n%s", logs.String())
	}
}
