package smtp

import (
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

// quitServer serves a greeting (teaser line first, the rest only after
// waiting for any early byte, as postscreen does), an EHLO reply, and
// answers QUIT with 221; then it reads until the client closes. *pregreet
// is set when the client sent anything before the last greeting line;
// *quitRead reports whether the client read the 221 before closing: a close
// with unread data makes the kernel send a reset, which the read sees as an
// error other than io.EOF.
func quitServer(ehlo string, pregreet, quitRead *bool) func(p *peer) {
	return func(p *peer) {
		p.send("220-mx.example ESMTP teaser\r\n")
		// An early byte would be readable now; nothing must come.
		p.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := p.r.Peek(1); err == nil {
			*pregreet = true
		}
		p.SetReadDeadline(time.Time{})
		p.send("220 mx.example ESMTP\r\n")
		if p.cmd() == "" {
			return
		}
		p.send(ehlo)
		for {
			c := p.cmd()
			if c == "" {
				return
			}
			if c == "QUIT" {
				break
			}
			p.send("250 ok\r\n")
		}
		p.send("221 2.0.0 bye\r\n")
		_, err := io.Copy(io.Discard, p.r)
		*quitRead = err == nil
	}
}

// TestQuitReadNoStartTLS: STARTTLS not offered (here in lower case, which
// Exim's case-sensitive pattern does not take): the client waits for the
// whole greeting, says EHLO, then QUIT, reads the 221, and closes.
func TestQuitReadNoStartTLS(t *testing.T) {
	var pregreet, quitRead bool
	f := startFake(t, quitServer("250-mx.example hi\r\n250-starttls\r\n250 SIZE 100\r\n", &pregreet, &quitRead))
	c := dial(t, f)
	_, _, err := StartTLS(ctxTimeout(t, 10*time.Second), c, helo)
	c.Close()
	stageErr(t, err, stage.EHLO, ErrNoStartTLS)
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "QUIT"}) {
		t.Errorf("server saw %q", got)
	}
	if pregreet {
		t.Error("the client sent a byte before the last greeting line")
	}
	if !quitRead {
		t.Error("the client closed without reading the answer to QUIT")
	}
}

// TestQuitReadUnexpected: a 3xx answer to EHLO ends the session with QUIT
// too.
func TestQuitReadUnexpected(t *testing.T) {
	var pregreet, quitRead bool
	f := startFake(t, quitServer("354 what\r\n", &pregreet, &quitRead))
	c := dial(t, f)
	_, _, err := StartTLS(ctxTimeout(t, 10*time.Second), c, helo)
	c.Close()
	if !errors.Is(err, ErrUnexpectedReply) {
		t.Fatalf("err %v, want ErrUnexpectedReply", err)
	}
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "QUIT"}) {
		t.Errorf("server saw %q", got)
	}
	if pregreet || !quitRead {
		t.Errorf("pregreet %v, QUIT answer read %v", pregreet, quitRead)
	}
}

// TestGoodbye: EHLO, then QUIT, each after the reply to the one before, and
// the 221 read before the close.
func TestGoodbye(t *testing.T) {
	var quitRead bool
	f := startFake(t, func(p *peer) {
		if p.cmd() == "" {
			return
		}
		p.send("250-mx.example hi\r\n250 SIZE 100\r\n")
		if p.cmd() != "QUIT" {
			return
		}
		p.send("221 bye\r\n")
		_, err := io.Copy(io.Discard, p.r)
		quitRead = err == nil
	})
	c := dial(t, f)
	rep, err := Goodbye(ctxTimeout(t, 10*time.Second), c, helo)
	c.Close()
	if err != nil || rep.Code != 250 {
		t.Fatalf("reply %+v, err %v", rep, err)
	}
	f.wait(t)
	if got := f.commands(); !reflect.DeepEqual(got, []string{"EHLO " + helo, "QUIT"}) {
		t.Errorf("server saw %q", got)
	}
	if !quitRead {
		t.Error("the client closed without reading the answer to QUIT")
	}
}

// TestOffersStartTLS: Exim's pattern \n250[\s-]STARTTLS(\s|\n|$), case-sensitive.
func TestOffersStartTLS(t *testing.T) {
	for _, tc := range []struct {
		rep  Reply
		want bool
	}{
		{Reply{250, []string{"mx", "STARTTLS"}}, true},
		{Reply{250, []string{"mx", "SIZE 1", "STARTTLS", "HELP"}}, true},
		{Reply{250, []string{"mx", "STARTTLS now"}}, true},
		{Reply{250, []string{"mx", "STARTTLS\t"}}, true},
		{Reply{250, []string{"mx", "starttls"}}, false},
		{Reply{250, []string{"mx", "StartTls"}}, false},
		{Reply{250, []string{"mx", " STARTTLS"}}, false},
		{Reply{250, []string{"mx", "STARTTLSX"}}, false},
		{Reply{250, []string{"STARTTLS"}}, false}, // the greeting line, not a keyword
		{Reply{251, []string{"mx", "STARTTLS"}}, false},
	} {
		if got := OffersStartTLS(tc.rep); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.rep.Lines, got, tc.want)
		}
	}
}
