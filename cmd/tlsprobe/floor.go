package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// floor is the least a server of tlsprobed's protocol can do: accept a Unix
// socket connection, read the request up to LF or the client's half-close,
// write a fixed word and close, one goroutine per connection. A daemon's
// throughput is reported as a fraction of the floor's. Like every server of
// the project it puts a deadline on the connection; it parses nothing.
type floor struct {
	path string
	ln   *net.UnixListener
	word []byte
	dir  string
	wg   sync.WaitGroup
}

// floorTimeout bounds one floor connection.
const floorTimeout = 5 * time.Second

// startFloor serves word on a new socket in a private temporary directory.
func startFloor(word string) (*floor, error) {
	dir, err := os.MkdirTemp("", "tlsprobe-floor-")
	if err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	path := filepath.Join(dir, "floor.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start floor: %w", err)
	}
	f := &floor{path: path, ln: ln, word: []byte(word), dir: dir}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *floor) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like pass
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.answer(c)
		}()
	}
}

func (f *floor) answer(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(floorTimeout))
	var buf [1026]byte
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if m > 0 && buf[n+m-1] == '\n' {
			break
		}
		n += m
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			break
		}
	}
	c.Write(f.word)
}

// serveFloor is the floor process (tlsprobe bench -serve-floor WORD): it
// prints "READY <socket path>" and serves until its stdin closes.
func serveFloor(word string, stdin io.Reader, stdout io.Writer) error {
	f, err := startFloor(word)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(stdout, "READY %s\n", f.path)
	_, err = io.Copy(io.Discard, stdin)
	return err
}

// floorProc is a floor in a process of its own, as the daemon is.
type floorProc struct {
	path  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startFloorProc runs this program as a floor process and waits until it
// listens. The process goes when Close closes its stdin, or when we die.
func startFloorProc(word string) (*floorProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	cmd := exec.Command(exe, "bench", "-serve-floor", word)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	p := &floorProc{cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		path, ok := strings.CutPrefix(strings.TrimSpace(s), "READY ")
		if ok {
			p.path = path
			return p, nil
		}
		p.Close()
		return nil, fmt.Errorf("start floor: %s said %q", exe, s)
	case <-time.After(10 * time.Second):
		p.Close()
		return nil, errors.New("start floor: not ready after 10s")
	}
}

// Close ends the floor process and waits for it.
func (p *floorProc) Close() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		return <-done
	}
}

// Close stops the floor, waits for its connections and removes its socket.
func (f *floor) Close() error {
	err := f.ln.Close()
	f.wg.Wait()
	os.RemoveAll(f.dir)
	return err
}
