package sockettest

import (
	"net"
	"sync"
)

// PipeListener is a net.Listener in memory: Dial hands Accept one end of a
// net.Pipe. It blocks only on channels, so a socket.Server serving it
// inside a testing/synctest bubble lets the bubble's clock advance; a real
// socket's Accept is not durably blocking, and a bubble's fake time never
// moves while a goroutine waits in it.
type PipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipeListener returns a PipeListener; create it inside the bubble
// whose server serves it.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for a Dial, or for Close (net.ErrClosed).
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Dial fail from now on.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder: a pipe has no address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener and returns the client's end once Accept
// has taken the server's; it fails with net.ErrClosed once l is closed.
func (l *PipeListener) Dial() (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
