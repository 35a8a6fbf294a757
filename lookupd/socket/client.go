package socket

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// MaxAnswer bounds what Query reads.
const MaxAnswer = 1 << 20

// Query sends one request the way Exim's ${readsocket} does (the request,
// then a half-close) and returns the whole answer. addr is a socket path, or
// "inet:host:port" for the TCP listener.
func Query(ctx context.Context, addr, request string) ([]byte, error) {
	network := "unix"
	if a, ok := strings.CutPrefix(addr, "inet:"); ok {
		network, addr = "tcp", a
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	conn.SetDeadline(dl)
	if _, err := io.WriteString(conn, request); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return nil, fmt.Errorf("half-close: %w", err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(conn, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if len(b) > MaxAnswer {
		return nil, fmt.Errorf("read answer: longer than %d bytes", MaxAnswer)
	}
	return b, nil
}
