package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// daemon is the real tlsprobed, built from this tree, running in the namespace.
type daemon struct {
	ns     *netns
	bin    string
	config string
	socket string
	p      *proc
}

// newDaemon prepares the real tlsprobed of a test, not started: its run
// directory (root:Debian-exim 0750, as systemd's RuntimeDirectory with
// Group=) and its configuration, named after what, with the socket Exim
// reaches as Debian-exim and the probe settings every test shares
// (from probeAddr, the EHLO name, no ignored network), probe's lines added
// to [probe], then rest (more sections).
func newDaemon(t *testing.T, ns *netns, bin, what, probe, rest string) *daemon {
	t.Helper()
	runDir := filepath.Join(ns.dir, "run")
	if err := os.MkdirAll(runDir, 0o750); err != nil {
		t.Fatal(err)
	}
	_, eximGID := eximIDs(t)
	if err := os.Chown(runDir, 0, eximGID); err != nil {
		t.Fatal(err)
	}
	d := &daemon{ns: ns, bin: bin, config: filepath.Join(ns.dir, "tlsprobed.toml"), socket: filepath.Join(runDir, "tlsprobed.sock")}
	writeFile(t, d.config, fmt.Sprintf(`# tlsprobed for %s
[listen]
socket = %q
mode = "0660"
group = "Debian-exim"

[probe]
helo = "probe.sender.test"
timeout = "10s"
source_address = %q
ignore_networks = []
%s
%s`, what, d.socket, probeAddr, probe, rest), 0o644)
	return d
}

// buildDaemon builds ./cmd/tlsprobed into dir.
func buildDaemon(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		//lint:ignore SA1019 the test binary runs where it was built, so its GOROOT is real
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "tlsprobed")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/tlsprobed")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the daemon (go build ./cmd/tlsprobed): %v\n%s", err, out)
	}
	return bin
}

// start runs the daemon in the namespace and waits until its socket answers.
func (d *daemon) start(t *testing.T) {
	t.Helper()
	d.p = d.ns.start(t, "tlsprobed", nil, d.bin, "-config", d.config, "-socket", d.socket)
	d.p.waitFor(t, "answer on "+d.socket, 20*time.Second, func() bool {
		_, err := query(d.socket, "stats", 2*time.Second)
		return err == nil
	})
}

// stop ends the daemon (SIGTERM) and waits for it.
func (d *daemon) stop(t *testing.T) { d.p.stop(t) }

// probeLines returns the daemon's log lines of its probes of ap ("ADDR:25"
// or "[V6]:25"): one per probe.
func (d *daemon) probeLines(t *testing.T, ap string) []string {
	t.Helper()
	logText, err := os.ReadFile(d.p.log)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, "msg=probe ") && strings.Contains(line, " addr="+ap+" ") {
			lines = append(lines, line)
		}
	}
	return lines
}

// query sends one request the way Exim's ${readsocket} does (the bare
// string, then a half-close) and reads the answer until the daemon closes.
func query(socket, req string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// waitAnswer polls the daemon until its answer for domain is want.
func (d *daemon) waitAnswer(t *testing.T, domain, want string, timeout time.Duration) {
	t.Helper()
	var last string
	d.p.waitFor(t, "answer "+want+" for "+domain, timeout, func() bool {
		a, err := query(d.socket, domain, 5*time.Second)
		if err != nil {
			last = err.Error()
			return false
		}
		last = a
		return a == want
	})
	t.Logf("tlsprobed answers %q for %s (last: %q)", want, domain, last)
}

// explain returns the daemon's `explain DOMAIN` answer, for failure messages.
func (d *daemon) explain(domain string) string {
	a, err := query(d.socket, "explain "+domain, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(a)
}

// writeFile writes a file or fails the test.
func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}
