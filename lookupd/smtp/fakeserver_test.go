package smtp

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is an SMTP server on 127.0.0.1 that runs a script on one connection
// and records the commands the client sent.
type fake struct {
	addr string
	done chan struct{} // closed when the script has returned
	mu   sync.Mutex
	cmds []string
}

// peer is the server's end of the connection, as a script sees it.
type peer struct {
	net.Conn
	r *bufio.Reader
	f *fake
}

// send writes raw bytes; errors (client gone) end nothing: the script goes on
// and its next read fails.
func (p *peer) send(s string) { p.Write([]byte(s)) }

// cmd reads one command line and records it; "" when the client is gone.
func (p *peer) cmd() string {
	line, err := p.r.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	p.f.mu.Lock()
	p.f.cmds = append(p.f.cmds, line)
	p.f.mu.Unlock()
	return line
}

func (f *fake) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

// startFake serves script on the first connection; the test's cleanup closes
// the connection and waits for the script to end.
func startFake(t *testing.T, script func(p *peer)) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f := &fake{addr: ln.Addr().String(), done: done}
	var conn net.Conn
	var mu sync.Mutex
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		script(&peer{Conn: c, r: bufio.NewReader(c), f: f})
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		<-done
	})
	return f
}

// replay is a script that plays a captured session: the first reply as the
// greeting, then one reply per command the client sends.
func replay(t *testing.T, name string) func(p *peer) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	replies := splitReplies(string(data))
	return func(p *peer) {
		for i, rep := range replies {
			if i > 0 && p.cmd() == "" {
				return
			}
			p.send(rep)
		}
		p.cmd() // QUIT, if the client says it
	}
}

// splitReplies cuts a capture into replies: a reply ends with a line whose
// fourth octet is not '-'. (Deliberately not ReadReply, which is under test.)
func splitReplies(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		cur.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	return out
}

func dial(t *testing.T, f *fake) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wait waits (bounded) for the script to finish, so that commands() is final.
func (f *fake) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("fake server script did not finish")
	}
}
