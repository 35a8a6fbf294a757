package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/internal/deadline"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

var (
	// ErrRejected: the greeting or the EHLO reply was 4xx or 5xx.
	ErrRejected = errors.New("rejected")
	// ErrNoStartTLS: the EHLO reply does not advertise STARTTLS.
	ErrNoStartTLS = errors.New("starttls not advertised")
	// ErrStartTLSRefused: STARTTLS was answered with something else than 2xx
	// (typically "454 4.7.0 TLS not available"); a *ReplyError holds it.
	ErrStartTLSRefused = errors.New("starttls refused")
	// ErrUnexpectedReply: a well-formed reply with a code that makes no sense
	// at this step (e.g. 354 as a greeting).
	ErrUnexpectedReply = errors.New("unexpected reply")
)

// ReplyError is a reply of the server that ended the session, with what it
// means (ErrRejected, ErrNoStartTLS, ErrStartTLSRefused, ErrUnexpectedReply).
// StartTLS returns it inside a *stage.Error.
type ReplyError struct {
	Reply Reply
	Err   error
}

func (e *ReplyError) Error() string {
	first := ""
	if len(e.Reply.Lines) > 0 {
		first = e.Reply.Lines[0]
		if len(first) > 200 {
			first = first[:200] + "..."
		}
	}
	// The reply text is quoted: it comes from the server and may hold anything.
	return fmt.Sprintf("%v: %d %q", e.Err, e.Reply.Code, first)
}

func (e *ReplyError) Unwrap() error { return e.Err }

// Session is what the server said before TLS.
type Session struct {
	Banner     Reply
	EHLO       Reply
	Extensions []string // EHLO keywords, upper case, in the server's order ("SIZE", "STARTTLS", ...)
}

// StartTLS runs the plain-text part of an SMTP session on conn: it waits for
// the greeting (which may span several lines and come late), sends
// "EHLO helo", checks that STARTTLS is among the extensions (keywords compare
// case-insensitively), sends STARTTLS and expects a 2xx reply (RFC 3207 says
// 220; like Exim's client, any 2xx is taken as a go-ahead). The returned conn
// is ready for the TLS ClientHello; any byte the server sent after its reply
// is delivered by its first reads.
//
// Every read and write has ctx's deadline (DefaultTimeout if ctx has none) and
// fails at once when ctx is cancelled. The returned conn keeps ctx's deadline;
// the caller may set another. StartTLS never closes conn. Whenever the
// session still speaks SMTP after a reply that ends it (ErrRejected,
// ErrNoStartTLS, ErrStartTLSRefused, ErrUnexpectedReply) it sends QUIT and
// reads the answer, within QuitTimeout. Nothing is sent before the last line
// of the greeting (postscreen counts an early byte as PREGREET), and every
// command waits for the reply to the one before (no pipelining).
//
// Errors are *stage.Error (stage.Banner, stage.EHLO or stage.StartTLS)
// wrapping a *ReplyError with ErrRejected, ErrNoStartTLS,
// ErrStartTLSRefused, ErrUnexpectedReply, the ReadReply errors, or the I/O
// error (joined with ctx's cause when ctx ended the session). The Session is
// returned, as far as it got, whenever the greeting was read.
func StartTLS(ctx context.Context, conn net.Conn, helo string) (net.Conn, *Session, error) {
	if helo == "" || len(helo) > 255 || strings.ContainsAny(helo, " \t\r\n\x00") {
		return nil, nil, fmt.Errorf("start tls: invalid helo name %q", helo)
	}
	stop, err := deadline.Guard(ctx, conn, DefaultTimeout)
	if err != nil {
		return nil, nil, &stage.Error{Stage: stage.Banner, Err: err}
	}
	defer stop()

	s := &session{ctx: ctx, conn: conn, r: bufio.NewReaderSize(conn, MaxLineLength)}
	sess := &Session{}
	if sess.Banner, err = s.reply(stage.Banner); err != nil {
		return nil, nil, err
	}
	if err := s.expect(stage.Banner, sess.Banner, ErrRejected); err != nil {
		return nil, sess, err
	}

	if err := s.command(stage.EHLO, "EHLO "+helo); err != nil {
		return nil, sess, err
	}
	if sess.EHLO, err = s.reply(stage.EHLO); err != nil {
		return nil, sess, err
	}
	if err := s.expect(stage.EHLO, sess.EHLO, ErrRejected); err != nil {
		return nil, sess, err
	}
	sess.Extensions = extensions(sess.EHLO)
	if !OffersStartTLS(sess.EHLO) {
		s.quit()
		return nil, sess, &stage.Error{Stage: stage.EHLO, Err: &ReplyError{Reply: sess.EHLO, Err: ErrNoStartTLS}}
	}

	if err := s.command(stage.StartTLS, "STARTTLS"); err != nil {
		return nil, sess, err
	}
	rep, err := s.reply(stage.StartTLS)
	if err != nil {
		return nil, sess, err
	}
	if err := s.expect(stage.StartTLS, rep, ErrStartTLSRefused); err != nil {
		return nil, sess, err
	}

	if !stop() {
		return nil, sess, &stage.Error{Stage: stage.StartTLS, Err: context.Cause(ctx)}
	}
	return withBuffered(conn, s.r), sess, nil
}

// session is one StartTLS run.
type session struct {
	ctx  context.Context
	conn net.Conn
	r    *bufio.Reader
}

func (s *session) reply(st stage.Stage) (Reply, error) {
	rep, err := ReadReply(s.r)
	if err == io.EOF {
		err = fmt.Errorf("read reply: connection closed: %w", io.EOF)
	}
	if err != nil {
		return Reply{}, &stage.Error{Stage: st, Err: ioError(s.ctx, err)}
	}
	return rep, nil
}

// expect accepts a 2xx reply and turns 4xx/5xx into refusal and anything
// else into ErrUnexpectedReply. Like Exim's client it checks only the first
// digit, so a "250" greeting or a "250" answer to STARTTLS passes.
func (s *session) expect(st stage.Stage, rep Reply, refusal error) error {
	switch {
	case rep.Code/100 == 2:
		return nil
	case rep.Code >= 400:
		s.quit()
		return &stage.Error{Stage: st, Err: &ReplyError{Reply: rep, Err: refusal}}
	default:
		s.quit()
		return &stage.Error{Stage: st, Err: &ReplyError{Reply: rep, Err: ErrUnexpectedReply}}
	}
}

func (s *session) command(st stage.Stage, cmd string) error {
	if _, err := io.WriteString(s.conn, cmd+"\r\n"); err != nil {
		return &stage.Error{Stage: st, Err: ioError(s.ctx, fmt.Errorf("write %s: %w", strings.Fields(cmd)[0], err))}
	}
	return nil
}

// quit says goodbye politely and reads the answer (bounded by
// QuitTimeout); its outcome does not matter.
func (s *session) quit() { quit(s.ctx, s.conn, s.r) }

// extensions returns the EHLO keywords (RFC 5321 section 4.1.1.1): the first
// word of each line after the greeting line, in upper case.
func extensions(ehlo Reply) []string {
	var kws []string
	for _, l := range ehlo.Lines[min(1, len(ehlo.Lines)):] {
		kw, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if kw != "" {
			kws = append(kws, strings.ToUpper(kw))
		}
	}
	return kws
}
