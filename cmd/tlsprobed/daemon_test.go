package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// daemon is a running tlsprobed with its JSON log.
type daemon struct {
	cmd  *exec.Cmd
	sock string
	logs *lab.LogBuffer
	done chan error // the exit, once
}

// startDaemon runs bin with cfgFile and waits until it answers on sock.
func startDaemon(t *testing.T, bin, cfgFile, sock string) *daemon {
	t.Helper()
	return startDaemonArgs(t, bin, sock, "-config", cfgFile, "-log-format", "json")
}

// startDaemonArgs runs bin with args and waits until it answers on sock.
func startDaemonArgs(t *testing.T, bin, sock string, args ...string) *daemon {
	t.Helper()
	d := launchDaemon(t, bin, sock, args...)
	waitAnswering(t, sock) // launchDaemon's cleanup logs the daemon's log if it does not
	return d
}

// launchDaemon runs bin with args, its log in d.logs, and kills it at the
// end of the test.
func launchDaemon(t *testing.T, bin, sock string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, args...), sock: sock, logs: &lab.LogBuffer{}, done: make(chan error, 1)}
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		d.done <- nil
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logs)
		}
	})
	return d
}

// waitAnswering waits until a daemon answers stats on sock.
func waitAnswering(t *testing.T, sock string) {
	t.Helper()
	lab.WaitFor(t, "answer to stats on "+sock, func() bool {
		_, err := tryQuery(sock, "stats")
		return err == nil
	})
}

// tryQuery sends req to sock, within 5 seconds.
func tryQuery(sock, req string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := socket.Query(ctx, sock, req)
	return string(b), err
}

// logsOnFailure logs logs at the end of a test that failed: lab.WaitFor's
// failure says only what it waited for.
func logsOnFailure(t *testing.T, logs fmt.Stringer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
}

// lines returns the decoded log lines whose msg is msg.
func (d *daemon) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(d.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLines waits until there are n log lines with msg.
func (d *daemon) waitLines(t *testing.T, msg string, n int) []map[string]any {
	t.Helper()
	var l []map[string]any
	lab.WaitFor(t, fmt.Sprintf("%d log lines %q", n, msg), func() bool {
		l = d.lines(msg)
		return len(l) >= n
	})
	return l
}

// stop sends sig and waits for the exit.
func (d *daemon) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after %v\nlog:\n%s", sig, d.logs)
		return nil
	}
}

func query(t *testing.T, sock, req string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := socket.Query(ctx, sock, req)
	if err != nil {
		t.Fatalf("query %q: %v", req, err)
	}
	return string(b)
}

// countingProxy forwards TCP connections from 127.0.0.5 to target and
// counts them.
func countingProxy(t *testing.T, target string) (int, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			wg.Go(func() {
				defer c.Close()
				s, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, s)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port, &n
}

// labConfig is the head of a config for a daemon against the lab: its
// socket, the lab DNS server, probes of the lab's port with loopback
// allowed (10.0.0.0/8 stays ignored). Tests append their own sections.
func labConfig(sock, dns, dnsTimeout string, port int, probeTimeout string) string {
	return fmt.Sprintf(`
[listen]
socket = %q
[dns]
servers = [%q]
timeout = %q
[probe]
port = %d
helo = "relay.test"
timeout = %q
ignore_networks = ["10.0.0.0/8"]
`, sock, dns, dnsTimeout, port, probeTimeout)
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
