package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// unitFile is the [Service] section of a systemd unit, and its
// Documentation= entries.
type unitFile struct {
	service map[string][]string
	docs    []string
}

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{service: map[string][]string{}}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch section {
		case "[Service]":
			u.service[k] = append(u.service[k], v)
		case "[Unit]":
			if k == "Documentation" {
				u.docs = append(u.docs, strings.Fields(v)...)
			}
		}
	}
	for _, d := range u.docs {
		if p, ok := strings.CutPrefix(d, "file:"); ok {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("the unit's Documentation=%s: %v", d, err)
			}
		}
	}
	return u
}

// one returns the single value of a [Service] key.
func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	v := u.service[key]
	if len(v) != 1 {
		t.Fatalf("the unit has %d %s= lines, want 1", len(v), key)
	}
	return v[0]
}

// unitDaemon is the daemon started as the unit starts it.
type unitDaemon struct {
	p   *proc
	uid uint32
}

// startAsUnit does what systemd does for the unit (without systemd here):
// RuntimeDirectory and StateDirectory with their modes, owned by User and
// Group; then ExecStart as User with Group as its primary group and User's
// supplementary groups, UMask, Environment and NoNewPrivileges, in the
// lab's network namespace. It waits until the socket answers.
func startAsUnit(t *testing.T, ns *netns, u unitFile) *unitDaemon {
	t.Helper()
	usr, grp := u.one(t, "User"), u.one(t, "Group")
	pw, err := user.Lookup(usr)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := user.LookupGroup(grp)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pw.Uid)
	gid, _ := strconv.Atoi(gr.Gid)
	for _, dir := range []struct{ key, base string }{{"RuntimeDirectory", "/run"}, {"StateDirectory", "/var/lib"}} {
		mode, err := strconv.ParseUint(u.one(t, dir.key+"Mode"), 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir.base, u.one(t, dir.key))
		if err := os.MkdirAll(path, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, os.FileMode(mode))
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
		if dir.key == "RuntimeDirectory" { // systemd removes it when the service stops
			t.Cleanup(func() { os.RemoveAll(path) })
		}
	}
	exe := strings.Fields(u.one(t, "ExecStart"))
	if u.one(t, "NoNewPrivileges") != "yes" {
		t.Fatalf("the unit does not set NoNewPrivileges=yes")
	}
	args := []string{"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	args = append(args, u.service["Environment"]...)
	args = append(args, "setpriv", "--reuid="+pw.Uid, "--regid="+gr.Gid, "--init-groups", "--no-new-privs", "--",
		"sh", "-c", `umask "$0" && exec "$@"`, u.one(t, "UMask"))
	args = append(args, exe...)
	p := ns.start(t, "tlsprobed", nil, args...)
	d := &unitDaemon{p: p, uid: uint32(uid)}
	sock := "/run/tlsprobed/tlsprobed.sock"
	p.waitFor(t, "answer on "+sock, 20*time.Second, func() bool {
		_, err := query(sock, "stats", 2*time.Second)
		return err == nil
	})
	// It runs as the unit says.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemonPID(t, p)))
	if err != nil {
		t.Fatal(err)
	}
	status := string(st)
	for _, want := range []string{fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", uid, uid, uid, uid), fmt.Sprintf("Gid:\t%d\t%d\t%d\t%d", gid, gid, gid, gid), "NoNewPrivs:\t1"} {
		if !strings.Contains(status, want) {
			t.Errorf("the daemon's /proc status lacks %q:\n%s", want, status)
		}
	}
	return d
}

// daemonPID is the pid of the tlsprobed process that ns.start's `ip netns
// exec` ended up exec-ing (the same process: every step execs the next).
func daemonPID(t *testing.T, p *proc) int {
	t.Helper()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
	if err != nil || exe != "/usr/sbin/tlsprobed" {
		t.Fatalf("process %d is %q (%v), not /usr/sbin/tlsprobed", p.cmd.Process.Pid, exe, err)
	}
	return p.cmd.Process.Pid
}

// waitAnswer polls the installed tlsprobe until its answer for domain is want.
func waitAnswer(t *testing.T, d *unitDaemon, sock, domain, want string) {
	t.Helper()
	var last string
	d.p.waitFor(t, "answer "+want+" for "+domain, 60*time.Second, func() bool {
		out, err := exec.Command("tlsprobe", "query", "-socket", sock, domain).CombinedOutput()
		last = strings.TrimSpace(string(out))
		return err == nil && last == want
	})
	t.Logf("tlsprobe query %s: %s", domain, last)
}

// waitExplained polls `tlsprobe explain -json` until the domain's MX host
// has been probed (an outcome other than pending).
func waitExplained(t *testing.T, d *unitDaemon, domain string) {
	t.Helper()
	var last string
	d.p.waitFor(t, "a probe of "+domain, 60*time.Second, func() bool {
		out, err := exec.Command("tlsprobe", "explain", "-json", domain).CombinedOutput()
		last = string(out)
		return err == nil && strings.Contains(last, `"outcome":"ok"`)
	})
	t.Logf("tlsprobe explain -json %s: %s", domain, strings.TrimSpace(last))
}

// byHand holds the commands of /usr/share/doc/exim-tlsprobe/without-systemd.md.
type byHand struct{ dirs, start, reload, stop string }

// byHandCommands reads the commands from the installed without-systemd.md
// (its indented lines), so that the test runs what the page says.
func byHandCommands(t *testing.T) byHand {
	t.Helper()
	var h byHand
	for _, line := range strings.Split(readFile(t, "/usr/share/doc/exim-tlsprobe/without-systemd.md"), "\n") {
		cmd, ok := strings.CutPrefix(line, "    ")
		switch {
		case !ok:
		case strings.HasPrefix(cmd, "install -d "):
			h.dirs = cmd
		case strings.Contains(cmd, "start-stop-daemon --start "):
			h.start = cmd
		case strings.HasPrefix(cmd, "kill -HUP "):
			h.reload = cmd
		case strings.HasPrefix(cmd, "start-stop-daemon --stop "):
			h.stop = cmd
		}
	}
	if h.dirs == "" || h.start == "" || h.reload == "" || h.stop == "" {
		t.Fatalf("without-systemd.md lacks a command: %+v", h)
	}
	return h
}

// startByHand starts tlsprobed with the page's commands, checks that it
// answers, runs as the unit would and reloads on the page's SIGHUP
// command, and returns its pid. It is never asked about a domain (it runs
// outside the lab's network namespace).
func startByHand(t *testing.T, h byHand) int {
	t.Helper()
	t.Cleanup(func() {
		exec.Command("sh", "-c", h.stop).Run()
		os.Remove("/var/log/tlsprobed.log")
	})
	sh(t, "sh", "-c", h.dirs+" && "+h.start)
	// Registered after the clean-up that removes the log: runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hand-started tlsprobed's log:\n%s", tail("/var/log/tlsprobed.log", 20))
		}
	})
	sock := "/run/tlsprobed/tlsprobed.sock"
	lab.WaitFor(t, "answer from the hand-started tlsprobed on "+sock, func() bool {
		_, err := query(sock, "stats", 2*time.Second)
		return err == nil
	})
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, "/run/tlsprobed.pid")))
	if err != nil {
		t.Fatal(err)
	}
	status := readFile(t, fmt.Sprintf("/proc/%d/status", pid))
	pw, _ := user.Lookup("tlsprobed")
	_, eximGID := eximIDs(t)
	for _, want := range []string{fmt.Sprintf("Uid:\t%s\t%s", pw.Uid, pw.Uid), fmt.Sprintf("Gid:\t%d\t%d", eximGID, eximGID)} {
		if !strings.Contains(status, want) {
			t.Errorf("hand-started tlsprobed %d: /proc status lacks %q", pid, want)
		}
	}
	sh(t, "sh", "-c", h.reload)
	lab.WaitFor(t, "reload after "+h.reload, func() bool {
		return strings.Contains(readFile(t, "/var/log/tlsprobed.log"), "msg=reload result=ok")
	})
	t.Logf("hand-started tlsprobed: pid %d, reloaded", pid)
	return pid
}
