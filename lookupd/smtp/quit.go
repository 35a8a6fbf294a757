package smtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/internal/deadline"
)

// QuitTimeout bounds the wait for the answer to QUIT: the session is over,
// the answer is a courtesy, and a server that does not give it soon is not
// waited for.
const QuitTimeout = 2 * time.Second

// quit sends QUIT on conn and reads the reply from r within QuitTimeout (or
// ctx's deadline, when sooner). Errors are dropped: the session is ending.
func quit(ctx context.Context, conn net.Conn, r *bufio.Reader) {
	end := time.Now().Add(QuitTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	conn.SetDeadline(end)
	if _, err := io.WriteString(conn, "QUIT\r\n"); err != nil {
		return
	}
	ReadReply(r)
}

// Goodbye ends an SMTP session that went through STARTTLS and a TLS
// handshake, as a client with nothing to send does: "EHLO helo" inside TLS
// (RFC 3207 section 4.2: the client must send it again), its reply read,
// then QUIT and its reply read within QuitTimeout. conn is the TLS
// connection; Goodbye does not close it. It returns the EHLO reply; an
// error means the EHLO got no well-formed 2xx reply (QUIT is still sent
// while the connection works).
func Goodbye(ctx context.Context, conn net.Conn, helo string) (Reply, error) {
	stop, err := deadline.Guard(ctx, conn, DefaultTimeout)
	if err != nil {
		return Reply{}, fmt.Errorf("say goodbye: %w", err)
	}
	defer stop()
	r := bufio.NewReaderSize(conn, MaxLineLength)
	if _, err := io.WriteString(conn, "EHLO "+helo+"\r\n"); err != nil {
		return Reply{}, fmt.Errorf("write EHLO: %w", ioError(ctx, err))
	}
	rep, err := ReadReply(r)
	if err != nil {
		return Reply{}, fmt.Errorf("read EHLO reply: %w", ioError(ctx, err))
	}
	quit(ctx, conn, r)
	if rep.Code/100 != 2 {
		return rep, &ReplyError{Reply: rep, Err: ErrRejected}
	}
	return rep, nil
}

// OffersStartTLS reports whether an EHLO reply offers STARTTLS the way
// Exim's smtp transport reads it: the pattern "\n250[\s-]STARTTLS(\s|\n|$)"
// over the reply (transports/smtp.c, compiled case-sensitively), so the
// code is 250, the keyword is on a line after the first, in upper case,
// right after the separator, and followed by nothing or white space.
// "250-starttls" or "250- STARTTLS" does not count: Exim would send in clear.
func OffersStartTLS(ehlo Reply) bool {
	if ehlo.Code != 250 {
		return false
	}
	for _, l := range ehlo.Lines[min(1, len(ehlo.Lines)):] {
		rest, ok := strings.CutPrefix(l, "STARTTLS")
		if ok && (rest == "" || strings.ContainsRune(" \t\v\f\r", rune(rest[0]))) {
			return true
		}
	}
	return false
}
