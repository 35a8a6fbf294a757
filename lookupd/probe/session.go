package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/smtp"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// sessionResult is what the complete session showed.
type sessionResult struct {
	state tls.ConnectionState
	facts Facts // the view of this connection alone (Outcome OK), when the handshake completed
}

// session is the probe's first connection: one complete, clean SMTP
// session as a mail client with nothing to send makes it. STARTTLS, a full
// handshake by crypto/tls (TLS 1.2 or 1.3, trusting nothing: the key size is
// the question, not trust), EHLO inside TLS, QUIT with its reply read, then
// close_notify and close. A server that speaks TLS 1.3 shows everything the
// facts need here (the modelled client negotiates TLS 1.3 with it too), and
// sees nothing else of the probe.
//
// A handshake error is returned as a *stage.Error (stage.TLS13); SMTP
// errors as smtp.StartTLS returns them.
func session(ctx context.Context, o Options, addr string) (sessionResult, error) {
	conn, err := startTLS(ctx, o, addr)
	if err != nil {
		return sessionResult{}, err
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // we read the key size; trust is not the question
		MinVersion:         tls.VersionTLS12,
		MaxVersion:         tls.VersionTLS13,
	})
	if err := tc.Handshake(); err != nil { // conn has ctx's deadline and cancellation (startTLS)
		// crypto/tls has sent the alert that fits, if any. A server that
		// goes silent (or the probe's time running out) is no refusal:
		// another hello would wait the same way.
		st := stage.TLS13
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() || ctx.Err() != nil {
			st = stage.TLSRecord
		}
		return sessionResult{}, &stage.Error{Stage: st, Err: fmt.Errorf("tls handshake: %w", err)}
	}
	st := tc.ConnectionState()
	// The session is done as far as the facts go; say goodbye whatever
	// the server answers (its errors change no fact).
	smtp.Goodbye(ctx, tc, o.helo())
	tc.Close() // close_notify
	var r Facts
	r.TLSVersion = tlswire.VersionName(st.Version)
	r.Cipher = tls.CipherSuiteName(st.CipherSuite)
	r.TLS13 = st.Version == tls.VersionTLS13
	if len(st.PeerCertificates) == 0 {
		return sessionResult{}, &stage.Error{Stage: stage.TLS13, Err: errors.New("server sent no certificate")}
	}
	if r.KeyType, r.KeyBits, err = tlswire.KeyInfo(st.PeerCertificates[0].Raw); err != nil {
		return sessionResult{}, &stage.Error{Stage: stage.Certificate, Err: err}
	}
	r.Outcome = OK
	return sessionResult{state: st, facts: r}, nil
}
