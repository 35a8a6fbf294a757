package tlswire

import (
	"fmt"
	"io"
	"net"
)

// Conn is a TLS 1.2 session Complete finished: Read and Write carry
// application data in protected records (RFC 5246 6.2.3), Close sends a
// protected close_notify (7.2.1) and closes the connection beneath. The
// other net.Conn methods (deadlines, addresses) are the connection's.
// Everything read is bounded as the flight was (record size, 256 KiB in
// all): enough for an SMTP goodbye, never for a bulk transfer.
type Conn struct {
	net.Conn
	rr      recordReader
	in, out *recordCipher
	pending []byte // application data read and not yet returned
	rerr    error  // sticky: io.EOF after the server's close_notify
	closed  bool   // close_notify sent
}

// Read returns application data. A server's close_notify is io.EOF; a
// HelloRequest (the server asking to renegotiate) is ignored, as RFC 5246
// 7.4.1.1 lets a client do.
func (c *Conn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		c.rerr = c.readRecord()
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *Conn) readRecord() error {
	typ, payload, err := c.rr.next()
	if err != nil {
		return err
	}
	pt, err := c.in.open(typ, payload)
	if err != nil {
		return fmt.Errorf("read record: %w", err)
	}
	switch typ {
	case recordApplicationData:
		c.pending = pt
	case recordAlert:
		a, err := alertOf(pt)
		switch {
		case err != nil:
			return err
		case a.Description == alertCloseNotify:
			return io.EOF
		case a.Level == alertLevelFatal:
			return a
		}
	case recordHandshake:
		if len(pt) != handshakeHeaderLen || pt[0] != typeHelloRequest || pt[1]|pt[2]|pt[3] != 0 {
			return fmt.Errorf("handshake message type %d after the handshake: %w", pt[0], ErrUnexpectedMessage)
		}
	default:
		return fmt.Errorf("record type %d after the handshake: %w", typ, ErrUnexpectedMessage)
	}
	return nil
}

// Write sends b as application data, in records of at most 2^14 bytes.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), maxRecordPayload)]
		rec, err := c.out.seal(recordApplicationData, chunk)
		if err != nil {
			return n, err
		}
		if _, err := c.Conn.Write(rec); err != nil {
			return n, err
		}
		n += len(chunk)
		b = b[len(chunk):]
	}
	return n, nil
}

// sendAlert sends one protected alert; errors are dropped (the session ends).
func (c *Conn) sendAlert(level, description uint8) {
	if c.closed {
		return
	}
	c.closed = true
	if rec, err := c.out.seal(recordAlert, []byte{level, description}); err == nil {
		_, _ = c.Conn.Write(rec)
	}
}

// Close sends a warning close_notify (RFC 5246 7.2.1), once, then closes
// the connection beneath.
func (c *Conn) Close() error {
	c.sendAlert(alertLevelWarning, alertCloseNotify)
	return c.Conn.Close()
}
