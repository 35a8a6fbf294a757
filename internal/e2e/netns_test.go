package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the names of the network namespaces, /etc/netns entries and
// temporary directories of this test; the creating process id follows, so a
// later run can tell a crashed run's leftovers from a live run's.
const nsPrefix = "tlsprobe-e2e-"

// netns is a network namespace made for one test, with an ifb link holding
// the lab addresses, and a work directory that the Exim user can traverse.
type netns struct {
	name string
	dir  string // work directory (mode 0755)
}

// newNetns creates the namespace with lo up and addrs (IPv4 in a /24, IPv6
// in a /64, without duplicate address detection) on ifb0,
// and /etc/netns/NAME/resolv.conf pointing at resolver. Everything is removed
// by t.Cleanup, after the processes started in it (cleanups run last-in
// first-out).
func newNetns(t *testing.T, resolver string, addrs ...string) *netns {
	t.Helper()
	removeStale(t)
	name := fmt.Sprintf("%s%d", nsPrefix, os.Getpid())
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ns := &netns{name: name, dir: dir}

	etc := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver "+resolver+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { deleteNetns(t, name) })
	ns.run(t, "ip", "link", "set", "lo", "up")
	ns.run(t, "ip", "link", "add", "ifb0", "type", "ifb")
	ns.run(t, "ip", "link", "set", "ifb0", "up")
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			ns.run(t, "ip", "-6", "addr", "add", a+"/64", "dev", "ifb0", "nodad")
			continue
		}
		ns.run(t, "ip", "addr", "add", a+"/24", "dev", "ifb0")
	}
	return ns
}

// removeStale deletes namespaces, /etc/netns entries and work directories
// left by runs of this test whose process is gone (a crash or a kill -9),
// ending the processes still running in such a namespace.
func removeStale(t *testing.T) {
	t.Helper()
	stale := func(name string) bool {
		rest, ok := strings.CutPrefix(name, nsPrefix)
		if !ok {
			return false
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			return false
		}
		_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
		return os.IsNotExist(err)
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if stale(e.Name()) {
				t.Logf("removing stale namespace %s", e.Name())
				deleteNetns(t, e.Name())
			}
		}
	}
	if entries, err := os.ReadDir("/etc/netns"); err == nil {
		for _, e := range entries {
			if stale(e.Name()) {
				os.RemoveAll(filepath.Join("/etc/netns", e.Name()))
			}
		}
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if stale(e.Name()) {
				os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
			}
		}
	}
}

// deleteNetns kills what still runs in the namespace (by process id, as
// listed by `ip netns pids`) and deletes it.
func deleteNetns(t *testing.T, name string) {
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		// Never this process: listenTCP may leave a parked thread of it there.
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Logf("ip netns del %s: %v: %s", name, err, out)
	}
}

// run runs a command (outside any namespace) and fails the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// run runs a command inside the namespace and fails the test on error.
func (ns *netns) run(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// command returns a command that runs inside the namespace.
func (ns *netns) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// inside runs fn on a thread of this process that joins the namespace and
// then ends: the sockets fn makes stay in the namespace they were made in,
// and no other goroutine ever runs in it.
func inside[T any](ns *netns, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the goroutine ends locked, so Go ends this thread
		// instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		var r result
		h, err := os.Open(filepath.Join("/run/netns", ns.name))
		if err != nil {
			r.err = err
			ch <- r
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("setns %s: %w", ns.name, err)
			ch <- r
			return
		}
		r.v, r.err = fn()
		ch <- r
	}()
	r := <-ch
	return r.v, r.err
}

// listenTCP binds and listens on addr inside the namespace (inside). It
// returns the listening socket as a file, for a child process's ExtraFiles.
func (ns *netns) listenTCP(t *testing.T, addr string) *os.File {
	t.Helper()
	f, err := inside(ns, func() (*os.File, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		defer ln.Close() // the file is a duplicate and keeps the socket listening
		return ln.(*net.TCPListener).File()
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, ns.name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// proc is a long-running process started in the namespace.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // file with its stdout and stderr
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// start starts args in the namespace in a process group of its own, output
// to DIR/NAME.log. Cleanup ends it (SIGTERM to the group, SIGKILL after 5s)
// and, when the test failed, shows the tail of its log.
func (ns *netns) start(t *testing.T, name string, extra []*os.File, args ...string) *proc {
	t.Helper()
	cmd := ns.command(context.Background(), args...)
	cmd.ExtraFiles = extra
	return ns.startCmd(t, name, cmd)
}

// startCmd is start for a command already made (e.g. a program of a lab
// root, lab.RootCommandContext, in the namespace).
func (ns *netns) startCmd(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, log: filepath.Join(ns.dir, name+".log"), done: make(chan struct{})}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = cmd
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s log (%s):\n%s", name, p.log, tail(p.log, 40))
		}
	})
	return p
}

// stop ends the process group and waits for the process.
func (p *proc) stop(t *testing.T) {
	if done, _ := p.exited(); done {
		return
	}
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Logf("%s did not stop after SIGTERM; killing it", p.name)
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
		<-p.done
	}
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// waitFor polls cond every 100ms until it is true, the process ends, or the
// timeout runs out; the last two fail the test with the process's log.
func (p *proc) waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if done, err := p.exited(); done {
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, err, what, tail(p.log, 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s after %v:\n%s", p.name, what, timeout, tail(p.log, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// listening reports whether something listens on TCP addr ("ip:port")
// inside the namespace, without connecting to it (servers log connections).
func (ns *netns) listening(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := ns.command(ctx, "ss", "-Hltn", "src", addr).Output()
	return err == nil && strings.Contains(string(out), addr)
}
