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

// guard ties conn's deadline to ctx: the deadline of ctx (or DefaultTimeout
// from now) for every read and write, and an immediate deadline as soon as ctx
// is cancelled. The returned stop must be called when the exchange is over; it
// reports false if ctx was cancelled meanwhile.
func guard(ctx context.Context, conn net.Conn) (stop func() bool, err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	return context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0)) // in the past: pending I/O fails now
	}), nil
}

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
