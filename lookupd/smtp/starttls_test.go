package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

const helo = "probe.example"

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// stageErr asserts err is a *stage.Error at st wrapping want, and returns
// the *ReplyError inside it (nil when there is none).
func stageErr(t *testing.T, err error, st stage.Stage, want error) *ReplyError {
	t.Helper()
	var se *stage.Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *stage.Error", err, err)
	}
	if se.Stage != st || !errors.Is(err, want) {
		t.Fatalf("err = %v (stage %q), want stage %q wrapping %v", err, se.Stage, st, want)
	}
	var re *ReplyError
	errors.As(err, &re)
	return re
}

func TestStartTLSEximDebian(t *testing.T) {
	f := startFake(t, replay(t, "exim-debian.txt"))
	conn, sess, err := StartTLS(ctxTimeout(t, 5*time.Second), dial(t, f), helo)
	if err != nil {
		t.Fatal(err)
	}
	if conn == nil {
		t.Fatal("nil conn")
	}
	if sess.Banner.Code != 220 || !strings.Contains(sess.Banner.Lines[0], "ESMTP Exim 4.96") {
		t.Errorf("banner = %#v", sess.Banner)
	}
	wantExt := []string{"SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT", "CHUNKING", "STARTTLS", "PRDR", "HELP"}
	if !reflect.DeepEqual(sess.Extensions, wantExt) {
		t.Errorf("extensions = %q, want %q", sess.Extensions, wantExt)
	}
	if sess.EHLO.Code != 250 || len(sess.EHLO.Lines) != 9 {
		t.Errorf("ehlo = %#v", sess.EHLO)
	}
	conn.Close() // lets the replay end
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "STARTTLS"}) {
		t.Errorf("server saw %q", got)
	}
}

func TestStartTLSMultiLineBannerNoStartTLS(t *testing.T) {
	f := startFake(t, replay(t, "exim-banner.txt"))
	c := dial(t, f)
	conn, sess, err := StartTLS(ctxTimeout(t, 5*time.Second), c, helo)
	c.Close()
	se := stageErr(t, err, stage.EHLO, ErrNoStartTLS)
	if conn != nil {
		t.Error("conn returned on error")
	}
	if se == nil || se.Reply.Code != 250 {
		t.Errorf("reply = %#v", se.Reply)
	}
	if sess == nil || len(sess.Banner.Lines) != 3 || sess.Banner.Lines[2] != "last line" {
		t.Fatalf("session = %#v", sess)
	}
	if slices.Contains(sess.Extensions, "STARTTLS") || !slices.Contains(sess.Extensions, "SMTPUTF8") {
		t.Errorf("extensions = %q", sess.Extensions)
	}
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "QUIT"}) {
		t.Errorf("server saw %q", got)
	}
}

func TestStartTLSRefused454(t *testing.T) {
	f := startFake(t, replay(t, "exim-454.txt"))
	c := dial(t, f)
	_, sess, err := StartTLS(ctxTimeout(t, 5*time.Second), c, helo)
	c.Close()
	se := stageErr(t, err, stage.StartTLS, ErrStartTLSRefused)
	if se == nil || se.Reply.Code != 454 || se.Reply.Lines[0] != "TLS currently unavailable" {
		t.Errorf("reply = %#v", se.Reply)
	}
	if sess == nil || !slices.Contains(sess.Extensions, "STARTTLS") {
		t.Errorf("session = %#v", sess)
	}
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "STARTTLS", "QUIT"}) {
		t.Errorf("server saw %q", got)
	}
}

func TestStartTLSBannerRejected(t *testing.T) {
	tests := []struct {
		name, banner string
		code         int
	}{
		{"exim 550", "", 550},
		{"exim 451 multi-line", "", 451},
		{"421", "421 4.3.2 mx.example Service not available\r\n", 421},
		{"554", "554 5.7.1 No SMTP service here\r\n", 554},
	}
	captures := map[string]string{"exim 550": "exim-reject.txt", "exim 451 multi-line": "exim-defer.txt"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := func(p *peer) { p.send(tt.banner); p.cmd() }
			if c, ok := captures[tt.name]; ok {
				script = replay(t, c)
			}
			f := startFake(t, script)
			c := dial(t, f)
			_, sess, err := StartTLS(ctxTimeout(t, 5*time.Second), c, helo)
			c.Close()
			se := stageErr(t, err, stage.Banner, ErrRejected)
			if se == nil || se.Reply.Code != tt.code || sess == nil || sess.Banner.Code != tt.code {
				t.Errorf("reply = %#v, session = %#v", se.Reply, sess)
			}
			f.wait(t)
			if got := f.commands(); !reflect.DeepEqual(got, []string{"QUIT"}) {
				t.Errorf("server saw %q", got)
			}
		})
	}
}

// happy serves a short session with the given line end, after delay.
func happy(delay time.Duration, eol string) func(p *peer) {
	return func(p *peer) {
		time.Sleep(delay) // a slow server on purpose: the banner comes late
		p.send("220-mx.example ESMTP" + eol + "220 ready" + eol)
		if p.cmd() == "" {
			return
		}
		p.send("250-mx.example hi" + eol + "250-PIPELINING" + eol + "250-STARTTLS" + eol + "250 SIZE 1000" + eol)
		if p.cmd() == "" {
			return
		}
		p.send("220 go ahead" + eol)
	}
}

func TestStartTLSDelayedBanner(t *testing.T) {
	f := startFake(t, happy(300*time.Millisecond, "\r\n"))
	_, sess, err := StartTLS(ctxTimeout(t, 10*time.Second), dial(t, f), helo)
	if err != nil {
		t.Fatal(err)
	}
	if len(sess.Banner.Lines) != 2 || !slices.Contains(sess.Extensions, "STARTTLS") {
		t.Errorf("session = %#v", sess)
	}
}

func TestStartTLSBareLF(t *testing.T) {
	f := startFake(t, happy(0, "\n"))
	_, sess, err := StartTLS(ctxTimeout(t, 5*time.Second), dial(t, f), helo)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PIPELINING", "STARTTLS", "SIZE"}; !reflect.DeepEqual(sess.Extensions, want) {
		t.Errorf("extensions = %q, want %q", sess.Extensions, want)
	}
}

// Bytes the server sends right behind its 220 (in the same segment, so the
// reply reader has buffered them) must reach the caller, followed by later
// ones, and cancelling the context after StartTLS returned must not touch
// the conn. It runs in a synctest bubble over net.Pipe: after cancel,
// synctest.Wait returns once every goroutine the cancellation started has
// run (a cancellation hook left set would be one), so no sleep is needed
// to give it the chance; with TCP, a goroutine waiting in a real socket
// read is never durably blocked, and Wait would not return.
func TestStartTLSKeepsEarlyBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		served := make(chan struct{})
		go func() {
			defer close(served)
			defer server.Close()
			p := &peer{Conn: server, r: bufio.NewReader(server), f: &fake{}}
			p.send("220 mx\r\n")
			p.cmd()
			p.send("250-mx\r\n250 STARTTLS\r\n")
			p.cmd()
			p.send("220 go ahead\r\nEARLY")
			if p.cmd() == "PING" {
				p.send("LATER")
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, _, err := StartTLS(ctx, client, helo)
		if err != nil {
			t.Fatal(err)
		}
		// Cancelling ctx now must not touch the returned conn: StartTLS has
		// cleared its cancellation hook.
		cancel()
		synctest.Wait()
		if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
			t.Fatalf("write after cancel: %v (the cancellation hook is still set)", err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len("EARLYLATER"))
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != "EARLYLATER" {
			t.Fatalf("read %q, %v; want EARLYLATER", got, err)
		}
		<-served
	})
}

func TestStartTLSNeverAnswers(t *testing.T) {
	f := startFake(t, func(p *peer) { p.cmd() })
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, _, err := StartTLS(ctxTimeout(t, timeout), dial(t, f), helo)
	if el := time.Since(start); el > timeout+2*time.Second {
		t.Errorf("returned after %v", el)
	}
	stageErr(t, err, stage.Banner, os.ErrDeadlineExceeded)
}

func TestStartTLSCancel(t *testing.T) {
	f := startFake(t, func(p *peer) { p.cmd() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := StartTLS(ctx, dial(t, f), helo)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("returned after %v", el)
	}
	stageErr(t, err, stage.Banner, context.Canceled)
}

func TestStartTLSAlreadyDone(t *testing.T) {
	f := startFake(t, happy(0, "\r\n"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := StartTLS(ctx, dial(t, f), helo)
	stageErr(t, err, stage.Banner, context.Canceled)
}

// A server sending one byte at a time, forever, is cut off by the deadline.
func TestStartTLSSlowDrip(t *testing.T) {
	f := startFake(t, func(p *peer) {
		for {
			if _, err := p.Write([]byte("2")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	const timeout = 500 * time.Millisecond
	start := time.Now()
	_, _, err := StartTLS(ctxTimeout(t, timeout), dial(t, f), helo)
	if el := time.Since(start); el > timeout+2*time.Second {
		t.Errorf("returned after %v", el)
	}
	stageErr(t, err, stage.Banner, os.ErrDeadlineExceeded)
}

func TestStartTLSHostileReplies(t *testing.T) {
	tests := []struct {
		name   string
		script func(p *peer)
		stage  stage.Stage
		want   error
	}{
		{"1 MB banner line", func(p *peer) {
			p.send("220 " + strings.Repeat("a", 1<<20) + "\r\n")
		}, stage.Banner, ErrLineTooLong},
		{"1000 EHLO lines", func(p *peer) {
			p.send("220 mx\r\n")
			p.cmd()
			p.send(strings.Repeat("250-x\r\n", 999) + "250 STARTTLS\r\n")
		}, stage.EHLO, ErrTooManyLines},
		{"endless EHLO", func(p *peer) {
			p.send("220 mx\r\n")
			p.cmd()
			for {
				if _, err := p.Write([]byte("250-more\r\n")); err != nil {
					return
				}
			}
		}, stage.EHLO, ErrTooManyLines},
		{"garbage banner", func(p *peer) { p.send("hello there\r\n") }, stage.Banner, ErrMalformedReply},
		{"code change", func(p *peer) { p.send("220-a\r\n250 b\r\n") }, stage.Banner, ErrMalformedReply},
		{"354 banner", func(p *peer) { p.send("354 go on\r\n") }, stage.Banner, ErrUnexpectedReply},
		{"closed before banner", func(p *peer) {}, stage.Banner, io.EOF},
		{"closed mid banner", func(p *peer) { p.send("220-a\r\n") }, stage.Banner, io.ErrUnexpectedEOF},
		{"EHLO 550", func(p *peer) {
			p.send("220 mx\r\n")
			p.cmd()
			p.send("550 5.7.1 go away\r\n")
			p.cmd()
		}, stage.EHLO, ErrRejected},
		{"closed after STARTTLS", func(p *peer) {
			p.send("220 mx\r\n")
			p.cmd()
			p.send("250-mx\r\n250 STARTTLS\r\n")
			p.cmd()
		}, stage.StartTLS, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.script)
			start := time.Now()
			_, _, err := StartTLS(ctxTimeout(t, 5*time.Second), dial(t, f), helo)
			stageErr(t, err, tt.stage, tt.want)
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("took %v: bounded by the deadline, not by the caps", el)
			}
		})
	}
}

func TestStartTLSBadHelo(t *testing.T) {
	for _, h := range []string{"", "a b", "a\r\nMAIL FROM:<x>", strings.Repeat("a", 256)} {
		if _, _, err := StartTLS(context.Background(), nil, h); err == nil {
			t.Errorf("helo %q accepted", h)
		}
	}
}

func TestExtensions(t *testing.T) {
	rep := Reply{250, []string{"mx.example Hello", "size 100", " starttls ", "AUTH=LOGIN PLAIN", ""}}
	want := []string{"SIZE", "STARTTLS", "AUTH=LOGIN"}
	if got := extensions(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := extensions(Reply{250, []string{"mx.example"}}); got != nil {
		t.Errorf("single line: %q", got)
	}
}

func TestStageErrorQuotesServerText(t *testing.T) {
	err := &stage.Error{Stage: stage.Banner, Err: &ReplyError{Reply: Reply{554, []string{"\x1b[31mred\r"}}, Err: ErrRejected}}
	if got, want := err.Error(), `banner: rejected: 554 "\x1b[31mred\r"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
