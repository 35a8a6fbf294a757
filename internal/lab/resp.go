package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RESP bounds: the lab's client reads replies of its own test servers, but a
// wrong port must not make it allocate without limit.
const (
	respMaxBulk  = 1 << 20  // bytes in one bulk string
	respMaxArray = 1 << 16  // elements in one array
	respMaxDepth = 8        // nested arrays
	respMaxLine  = 64 << 10 // bytes in a simple string, error or length line
	// respTimeout bounds an exchange whose context has no deadline.
	respTimeout = 10 * time.Second
)

// RedisError is an error reply of the server ("-ERR ...", "-OOM ...",
// "-NOAUTH ...", "-WRONGPASS ..."); Error returns the line without the '-'.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Prefix returns the error's first word ("ERR", "OOM", "NOAUTH", ...).
func (e RedisError) Prefix() string { p, _, _ := strings.Cut(string(e), " "); return p }

// errRESP marks a reply that is not RESP2.
var errRESP = errors.New("not a RESP reply")

// RESPConn is a minimal RESP2 client connection for tests: commands as
// arrays of bulk strings, replies as string (simple or bulk), int64, nil
// (null bulk or array), []any, or a RedisError returned as the error.
type RESPConn struct {
	c net.Conn
	r *bufio.Reader
}

// NewRESPConn wraps an open connection.
func NewRESPConn(c net.Conn) *RESPConn { return &RESPConn{c: c, r: bufio.NewReader(c)} }

// Close closes the connection.
func (c *RESPConn) Close() error { return c.c.Close() }

// Do sends one command and reads its reply, within ctx's deadline (or
// respTimeout).
func (c *RESPConn) Do(ctx context.Context, args ...string) (any, error) {
	if err := c.Send(ctx, args...); err != nil {
		return nil, err
	}
	return c.Receive(ctx)
}

// Send writes one command without reading its reply (for pipelining, or a
// command whose reply comes later).
func (c *RESPConn) Send(ctx context.Context, args ...string) error {
	if len(args) == 0 {
		return errors.New("send: no command")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.c.SetWriteDeadline(deadline(ctx)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		return fmt.Errorf("send %s: %w", args[0], err)
	}
	return nil
}

// Receive reads one reply.
func (c *RESPConn) Receive(ctx context.Context) (any, error) {
	if err := c.c.SetReadDeadline(deadline(ctx)); err != nil {
		return nil, fmt.Errorf("set read deadline: %w", err)
	}
	v, err := readRESP(c.r, 0)
	if err != nil {
		var re RedisError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("read reply: %w", err)
	}
	return v, nil
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(respTimeout)
}

// readRESP reads one RESP2 value. An error reply is returned as a
// RedisError error; inside an array it ends the array's read the same way.
func readRESP(r *bufio.Reader, depth int) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, fmt.Errorf("%w: empty line", errRESP)
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return nil, RedisError(rest)
	case ':':
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: integer %q", errRESP, rest)
		}
		return n, nil
	case '$':
		n, err := respLen(rest, respMaxBulk)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if string(buf[n:]) != "\r\n" {
			return nil, fmt.Errorf("%w: bulk string not ended by CRLF", errRESP)
		}
		return string(buf[:n]), nil
	case '*':
		if depth >= respMaxDepth {
			return nil, fmt.Errorf("%w: arrays nested deeper than %d", errRESP, respMaxDepth)
		}
		n, err := respLen(rest, respMaxArray)
		if err != nil || n < 0 {
			return nil, err
		}
		a := make([]any, 0, n)
		for range n {
			v, err := readRESP(r, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	}
	return nil, fmt.Errorf("%w: type byte %q", errRESP, kind)
}

// respLen parses a bulk or array length: -1 (null, returned with a nil
// error) or 0..limit.
func respLen(s string, limit int) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n < -1:
		return 0, fmt.Errorf("%w: length %q", errRESP, s)
	case n > limit:
		return 0, fmt.Errorf("%w: length %d over %d", errRESP, n, limit)
	}
	return n, nil
}

// readLine reads a CRLF-terminated line of at most respMaxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > respMaxLine {
			return "", fmt.Errorf("%w: line over %d bytes", errRESP, respMaxLine)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", fmt.Errorf("%w: line not ended by CRLF", errRESP)
	}
	return string(b[:len(b)-2]), nil
}
