package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// DefaultTimeout bounds a session whose context carries no deadline (the
// initial greeting timeout suggested by RFC 5321 section 4.5.3.2.1).
const DefaultTimeout = 5 * time.Minute

// ioError names the context's cause next to an I/O error that the context's
// deadline or cancellation provoked, so that errors.Is finds both.
func ioError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// bufferedConn is a net.Conn whose reads first drain what the SMTP reader
// buffered beyond the STARTTLS reply, so that no byte the server sent is lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader // nil once drained
}

// withBuffered returns conn itself when r holds nothing, else a bufferedConn.
func withBuffered(conn net.Conn, r *bufio.Reader) net.Conn {
	if r.Buffered() == 0 {
		return conn
	}
	return &bufferedConn{Conn: conn, r: r}
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p) // serves the buffer only: never blocks on the conn
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}
