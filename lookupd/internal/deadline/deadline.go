// Package deadline ties a connection's I/O to a context, the one bridge
// between the two that the SMTP session, the probe and the DNS client
// share: every read and write gets the context's deadline, and once the
// context is cancelled, blocked and later I/O fails at once.
package deadline

import (
	"context"
	"fmt"
	"net"
	"time"
)

// past is a deadline already gone: I/O blocked on the conn returns now.
var past = time.Unix(1, 0)

// Guard sets conn's deadline to ctx's, or to fallback from now when ctx has
// none, and makes the conn's I/O fail at once when ctx is cancelled. Call
// stop when the exchange is over: it reports false if ctx was cancelled
// meanwhile (the conn's deadline is then in the past). A ctx already done
// is an error, and nothing is set.
func Guard(ctx context.Context, conn net.Conn, fallback time.Duration) (stop func() bool, err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(fallback)
	}
	if err := conn.SetDeadline(dl); err != nil {
		return nil, fmt.Errorf("set deadline: %w", err)
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(past) }), nil
}
