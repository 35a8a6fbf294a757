package lab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a server started by this package. It listens on 127.0.0.1 and is
// stopped by t.Cleanup.
type Server struct {
	Addr netip.AddrPort // 127.0.0.1:port
	Dir  string         // Exim: its directory (exim.conf, log/mainlog, spool); "" for other kinds
}

// logWriter sends a child's output to t.Log line by line until closed; the
// test's logger must not be used once the test has finished.
type logWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Logf("%s%s", w.prefix, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && !w.closed {
		w.t.Logf("%s%s", w.prefix, w.buf)
	}
	w.closed = true
}

// proc is a child process in its own process group.
type proc struct {
	cmd  *exec.Cmd
	log  *logWriter
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
}

// startProc starts cmd in a new process group with stderr (and stdout, unless
// already set) going to t.Log, each line after prefix, and registers a Cleanup that stops the whole
// group (SIGTERM, then SIGKILL after 2s).
func startProc(t testing.TB, prefix string, cmd *exec.Cmd) (*proc, error) {
	t.Helper()
	p := &proc{cmd: cmd, log: &logWriter{t: t, prefix: prefix}, done: make(chan struct{})}
	cmd.Stderr = p.log
	if cmd.Stdout == nil {
		cmd.Stdout = p.log
	}
	// Pdeathsig: the child is told to go when the test binary dies (unless
	// it changes its uid, as Exim does; see StartExim).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p, nil
}

// stop terminates the process group and waits for the process.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader (connection handlers) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	p.log.close()
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
