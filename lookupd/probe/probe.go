package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/internal/deadline"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/smtp"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Addr probes one address: SMTP STARTTLS, then the modelled client's
// hello, and returns what the server showed. An address in o.Ignore is never
// connected to (Outcome Error, Stage "address"). The probe never outlives
// o.Timeout, whatever the server does.
func Addr(ctx context.Context, ap netip.AddrPort, o Options) Facts {
	start := time.Now()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	var f Facts
	if o.ignored(ap.Addr()) {
		f = Facts{Outcome: Error, Stage: stage.Address, Error: ap.Addr().String() + " is in an ignored network"}
	} else {
		ctx, cancel := context.WithTimeout(ctx, o.timeout())
		f = probeAddr(ctx, o, ap.String())
		cancel()
	}
	f.Addr, f.Client = ap, o.client()
	f.Time, f.Duration = start, time.Since(start)
	return f
}

// probeAddr probes one address ("ip:port"). The first connection is one
// complete, clean session (session): for a server that speaks TLS 1.3 it is
// the only one, and shows all the facts. Only when that session does not
// reach TLS 1.3 (or the modelled client offers TLS 1.2 at most, o.NoTLS13)
// does the modelled client's own hello, capped at TLS 1.2, ask what Exim
// would get: a DHE prime crypto/tls cannot negotiate, a server that refuses
// crypto/tls's hello, a server that prefers DHE. Earlier facts may put the
// modelled hello first (o.Order). docs/probe.md has the table of
// connections per kind of server.
func probeAddr(ctx context.Context, o Options, addr string) Facts {
	if !o.NoTLS13 && o.Order != OrderDefault {
		if r, ok := ordered(ctx, o, addr); ok {
			return r
		}
		// The server changed: the ordinary order.
	}
	var r Facts
	var first *Facts // the clean session's view, when it reached TLS 1.2
	tried := false   // the clean session was tried and its handshake failed
	if !o.NoTLS13 {
		sr, err := session(ctx, o, addr)
		switch {
		case err == nil && sr.facts.TLS13:
			r = sr.facts
			r.KXUnobserved = true
			r.Note = "TLS 1.3 session completed (EHLO and QUIT inside TLS); what the server sends a TLS 1.2-only client was not looked at"
			return r
		case err == nil:
			first = &sr.facts
		case noTLS(err):
			r.Outcome, r.Stage, r.Error = NoTLS, stage.Of(err), err.Error()
			return r
		case stage.Of(err) == stage.TLS13:
			tried = true // crypto/tls's hello refused: the modelled one may fare better
		default:
			return r.fail(err)
		}
	}
	var f tlswire.Flight
	var err error
	if tried {
		// crypto/tls's hello was refused: the modelled client's question
		// and the every-suite one go in one hello (mixedHello).
		var final *Facts
		if f, final, err = mixedHello(ctx, o, addr); final != nil {
			return *final
		}
	} else {
		f, err = exchange(ctx, o, addr, tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12})
	}
	switch {
	case err == nil:
		if err := r.fill(f); err != nil {
			return r.fail(err)
		}
	case noTLS(err):
		r.Outcome, r.Stage, r.Error = NoTLS, stage.Of(err), err.Error()
		return r
	case refused(err):
		r = negotiateElse(ctx, o, addr, r, err, first != nil || tried)
		r.addView(first)
		return r
	default:
		return r.fail(err)
	}
	r.modelled(ctx, o, addr, f, first)
	return r
}

// modelled completes r, filled from f, the modelled hello's TLS 1.2 flight
// (first: the clean session's view, if any).
func (r *Facts) modelled(ctx context.Context, o Options, addr string, f tlswire.Flight, first *Facts) {
	if f.ServerTLS13 {
		// The server speaks TLS 1.3 too (RFC 8446 section 4.1.3): the
		// modelled client, which offers it, gets TLS 1.3.
		r.TLS13 = true
		r.TLSVersion = tlswire.VersionName(tls.VersionTLS13)
		r.Note = "server signals TLS 1.3 (RFC 8446 downgrade marker), which Exim negotiates; cipher and DH are those of a TLS 1.2 hello"
	}
	if r.DHBits > 0 && !r.TLS13 && o.client() == tlswire.ClientOpenSSL {
		if first != nil && !first.TLS13 && sameKey(first, r) {
			// crypto/tls offers no DHE suite: the clean session already
			// showed what a hello without DHE gets.
			r.NoDHE, r.NoDHECipher = NoDHEOK, first.Cipher
		} else {
			noDHE(ctx, o, addr, r)
		}
	}
	r.Outcome = OK
	r.addView(first)
}

// ordered probes in the order earlier facts chose (o.Order), and reports
// false when the server no longer answers as they said: the caller then
// probes in the ordinary order.
//
// OrderModelledDHE: the modelled hello first, completed by tlswire (one
// clean session at a DHE-only server, where the ordinary order adds
// crypto/tls's refused handshake). The facts are those of the ordinary
// order at a server that refuses crypto/tls's hello; for one that does not
// (it prefers DHE, and has ECDHE too), the clean session's view is not
// taken (Also, and the openssl client's NoDHE comes from its own hello).
//
// OrderNoCipher: one hello with the modelled client's offer, every other
// suite and TLS 1.3 (tlswire's AllSuites). A refusal is what the ordinary
// order concludes after three refusals (crypto/tls's hello offers nothing
// this one does not): the modelled client cannot negotiate.
//
// OrderEverySuite: everySuiteOrdered.
func ordered(ctx context.Context, o Options, addr string) (Facts, bool) {
	var r Facts
	switch o.Order {
	case OrderModelledDHE:
		h, err := tlswire.BuildHello(tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12})
		if err != nil {
			return r.fail(&stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}), true
		}
		f, err := exchangeHello(ctx, o, addr, h)
		if err != nil || f.DHBits() == 0 || f.ServerTLS13 {
			return r, false
		}
		if err := r.fill(f); err != nil {
			return r.fail(err), true
		}
		r.modelled(ctx, o, addr, f, nil)
		return r, true
	case OrderNoCipher:
		h, err := tlswire.BuildHello(tlswire.HelloConfig{Client: o.client(), AllSuites: true})
		if err != nil {
			return r.fail(&stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}), true
		}
		if _, err := exchangeHello(ctx, o, addr, h); refused(err) {
			return refusedAll(o, err), true
		}
	case OrderEverySuite:
		return everySuiteOrdered(ctx, o, addr)
	}
	return r, false
}

// everySuiteOrdered is OrderEverySuite: the modelled client's own hello,
// TLS 1.3 offered as Exim offers it, must be refused (that is the fact the
// ordinary order reads from its third connection, and crypto/tls's hello
// offers nothing it does not, so crypto/tls's would be refused too); then
// the hello with every suite, the ordinary order's mixed hello, reads the
// certificate, and tlswire completes its handshake (DHE-DSS at a DSA-only
// server). Its facts are the ordinary order's, whatever order the server
// picks suites by: the refusal is the modelled hello's own, not inferred
// from the choice of an extra suite. Two connections, one failed handshake.
// It reports false when the server answers otherwise (it changed).
func everySuiteOrdered(ctx context.Context, o Options, addr string) (Facts, bool) {
	var r Facts
	a, err := tlswire.BuildHello(tlswire.HelloConfig{Client: o.client()})
	if err != nil {
		return r.fail(&stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}), true
	}
	_, refusal := exchangeHello(ctx, o, addr, a)
	if !refused(refusal) {
		return r, false
	}
	h, err := tlswire.BuildHello(tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12, AllSuites: true})
	if err != nil {
		return r.fail(&stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}), true
	}
	f, err := exchangeHello(ctx, o, addr, h)
	switch {
	case err == nil && !h.ModelChoice(f):
		return everySuite(o, f, refusal), true
	case refused(err):
		return refusedAll(o, err), true
	case err != nil && !noTLS(err):
		return r.fail(err), true
	}
	return r, false // a modelled choice after the modelled hello's refusal, or no STARTTLS now
}

// refusedAll is the facts of a server that refused the modelled client's
// hello and every suite (err: the refusal).
func refusedAll(o Options, err error) Facts {
	return Facts{Outcome: Error, Stage: stage.Negotiate,
		Error: fmt.Sprintf("server refused the %s hello and a hello with every suite (%v)", o.client(), err)}
}

// mixedHello asks, after crypto/tls's hello was refused, what the
// modelled client gets and, if nothing, which certificate the server has,
// in one hello: tlswire's AllSuites hello lists the modelled client's
// suites and signature algorithms first and every other one after. When
// the server chooses within the modelled offer (Hello.ModelChoice), that
// is the modelled client's answer (f). When it refuses, the modelled
// client is refused too, and final holds the facts. Only when it chooses
// an extra (a DSA-only server) does a second hello, the modelled one
// alone, ask; its answer is returned, or, when refused, final holds the
// facts with the certificate the first hello read.
func mixedHello(ctx context.Context, o Options, addr string) (f tlswire.Flight, final *Facts, err error) {
	h, err := tlswire.BuildHello(tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12, AllSuites: true})
	if err != nil {
		return f, nil, &stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}
	}
	f, err = exchangeHello(ctx, o, addr, h)
	switch {
	case err == nil && h.ModelChoice(f):
		return f, nil, nil
	case err == nil:
		mf, merr := exchange(ctx, o, addr, tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12})
		if merr == nil || !refused(merr) {
			return mf, nil, merr
		}
		r := everySuite(o, f, merr)
		return f, &r, nil
	case refused(err):
		r := refusedAll(o, err)
		return f, &r, nil
	}
	return f, nil, err
}

// everySuite is the facts of a server the modelled client cannot
// negotiate with (refusal: its error), f being what a hello with every
// suite got.
func everySuite(o Options, f tlswire.Flight, refusal error) Facts {
	var r Facts
	if err := r.fill(f); err != nil {
		return r.fail(err)
	}
	r.Note = fmt.Sprintf("certificate read with a hello offering every suite; the %s client cannot negotiate with this server", o.client())
	r.Outcome, r.Stage = Error, stage.Negotiate
	r.Error = fmt.Sprintf("the %s client cannot negotiate with this server: %v", o.client(), refusal)
	return r
}

// noTLS reports whether err means Exim would send in clear: no STARTTLS,
// STARTTLS refused, or EHLO refused (Exim then says HELO and sends in clear).
func noTLS(err error) bool {
	return errors.Is(err, smtp.ErrNoStartTLS) || errors.Is(err, smtp.ErrStartTLSRefused) ||
		errors.Is(err, smtp.ErrRejected) && stage.Of(err) == stage.EHLO
}

// addView adds v, another connection's view of the same address, to r.Also
// when it disagrees with r: another certificate key, or TLS 1.3 where r's
// connection showed none. The views are never blended (see Facts.Also).
func (r *Facts) addView(v *Facts) {
	if v == nil || r.Outcome == "" {
		return
	}
	if v.KeyType != r.KeyType || v.KeyBits != r.KeyBits || v.TLS13 != r.TLS13 {
		r.Also = append(r.Also, *v)
	}
}

// noDHE finds out whether a DHE server that does not speak TLS 1.3 would
// give the openssl client TLS without DHE, as an OpenSSL Exim's transport
// with tls_require_ciphers = DEFAULT:!kDHE asks for: OpenSSL 3 refuses a
// prime under 1024 bits at every security level, so that is the only way to
// TLS with such a server. Like the TLS 1.3 check, it does not look at the
// prime's size: the security level is the policy's, and a reload may change it.
func noDHE(ctx context.Context, o Options, addr string, r *Facts) {
	f, err := exchange(ctx, o, addr, tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12, NoDHE: true})
	switch {
	case err == nil && len(f.Certificates) > 0 && r.other(f):
		// Another server answered (a balancer's other backend): its view
		// is its own, never r's answer to the hello without DHE.
		r.Note = joinNote(r.Note, "the hello without DHE reached another server at this address; whether this one has a suite without DHE is not known")
	case err == nil && len(f.Certificates) > 0:
		r.NoDHE, r.NoDHECipher = NoDHEOK, tlswire.CipherSuiteName(f.CipherSuite)
	case err == nil:
		r.Note = joinNote(r.Note, "the hello without DHE got no certificate")
	case refused(err):
		r.NoDHE = NoDHERefused
	default:
		r.Note = joinNote(r.Note, "could not check for a key exchange without DHE: "+err.Error())
	}
}

// other reports whether flight f, read for r's question, came from another
// server than r's, as a balancer in front of differently configured servers
// gives: f signals TLS 1.3, which r's server did not, or shows another key.
// Then f's view goes in r.Also (never blended into r). Servers that differ
// only in what f does not show cannot be told apart.
func (r *Facts) other(f tlswire.Flight) bool {
	var v Facts
	if err := v.fill(f); err != nil {
		return false
	}
	if !(f.ServerTLS13 && !r.TLS13) && sameKey(&v, r) {
		return false
	}
	v.Outcome = OK
	if f.ServerTLS13 {
		v.TLS13, v.TLSVersion = true, tlswire.VersionName(tls.VersionTLS13)
	}
	v.Note = "another server at this address (a balancer?): a TLS 1.2 hello without DHE got this"
	r.Also = append(r.Also, v)
	return true
}

// sameKey reports whether two views show the same certificate key.
func sameKey(a, b *Facts) bool { return a.KeyType == b.KeyType && a.KeyBits == b.KeyBits }

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// negotiateElse handles a server that refused the modelled TLS 1.2 hello:
// a TLS 1.3-only server (its certificate is read in a clean session, unless
// that session was already tried: sessionTried), or a server the modelled
// client cannot talk to at all, such as a DSA-only one (its certificate is
// read with a hello offering every suite we parse).
func negotiateElse(ctx context.Context, o Options, addr string, r Facts, first error, sessionTried bool) Facts {
	if !sessionTried {
		sr, err := session(ctx, o, addr)
		if err == nil && sr.facts.TLS13 {
			r = sr.facts
			r.Note = "TLS 1.2 refused (" + first.Error() + "); certificate read over TLS 1.3"
			return r
		}
	}
	f, err := exchange(ctx, o, addr, tlswire.HelloConfig{Client: o.client(), MaxVersion: tls.VersionTLS12, AllSuites: true})
	if err != nil {
		r.Outcome, r.Stage = Error, stage.Negotiate
		r.Error = fmt.Sprintf("server refused the %s hello (%v) and a hello with every suite (%v)", o.client(), first, err)
		return r
	}
	return everySuite(o, f, first)
}

// fill copies what a TLS 1.2 flight shows into r.
func (r *Facts) fill(f tlswire.Flight) error {
	r.TLSVersion = tlswire.VersionName(f.Version)
	r.Cipher = tlswire.CipherSuiteName(f.CipherSuite)
	r.DHBits = f.DHBits()
	r.SigHash = f.SigHash // remedies (issue 19): the SKE signature's hash
	if len(f.Certificates) == 0 {
		if f.Version == tls.VersionTLS13 || f.HelloRetry {
			return &stage.Error{Stage: stage.ServerHello, Err: errors.New("server chose TLS 1.3 although the hello offered TLS 1.2 at most")}
		}
		return &stage.Error{Stage: stage.Certificate, Err: errors.New("server sent no certificate")}
	}
	var err error
	r.KeyType, r.KeyBits, err = tlswire.KeyInfo(f.Certificates[0])
	if err != nil {
		return &stage.Error{Stage: stage.Certificate, Err: err}
	}
	return nil
}

func (r Facts) fail(err error) Facts {
	r.Outcome, r.Stage, r.Error = Error, stage.Of(err), err.Error()
	return r
}

// exchange opens one SMTP session to addr, does STARTTLS, sends a hello
// built from hc and reads the server's first flight. The facts are what
// that flight shows; then the probe ends the connection. A TLS 1.2 DHE
// handshake tlswire can finish (tlswire.Completable) becomes a clean
// session, as a delivery's would (finish). Any other TLS 1.2 flight is
// left with a warning user_canceled and a close_notify (RFC 5246 section
// 7.2); a TLS 1.3 ServerHello or HelloRetryRequest by closing the
// connection, since the server then expects protected records and any
// clear-text one reads as corruption (RFC 8446 section 5). The server's own
// alert, or a flight cut short, ends it with a close.
func exchange(ctx context.Context, o Options, addr string, hc tlswire.HelloConfig) (tlswire.Flight, error) {
	h, err := tlswire.BuildHello(hc)
	if err != nil {
		return tlswire.Flight{}, &stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("build hello: %w", err)}
	}
	return exchangeHello(ctx, o, addr, h)
}

// exchangeHello is exchange with a hello already built.
func exchangeHello(ctx context.Context, o Options, addr string, h *tlswire.Hello) (tlswire.Flight, error) {
	conn, err := startTLS(ctx, o, addr)
	if err != nil {
		return tlswire.Flight{}, err
	}
	defer conn.Close()
	if _, err := conn.Write(h.Record); err != nil {
		return tlswire.Flight{}, &stage.Error{Stage: stage.TLSHello, Err: fmt.Errorf("send hello: %w", err)}
	}
	f, p, err := tlswire.ReadFlightPending(conn, h)
	if err == nil && p != nil {
		finish(ctx, o, conn, p)
	}
	return f, err
}

// finish ends a TLS 1.2 connection whose first flight was read: a clean
// session (the handshake completed, EHLO inside TLS, QUIT with its reply
// read, close_notify) when tlswire can complete it, else the cancel
// records. What happens here changes no fact: the flight was read whole.
// It reports whether the session was clean.
func finish(ctx context.Context, o Options, conn net.Conn, p *tlswire.Pending) bool {
	if p.Completable() != nil {
		conn.Write(tlswire.CancelRecords())
		return false
	}
	tc, err := tlswire.Complete(conn, p, nil)
	if err != nil {
		if errors.Is(err, tlswire.ErrNotCompletable) {
			conn.Write(tlswire.CancelRecords()) // nothing was sent yet
		}
		// Otherwise the server may already expect protected records, or
		// has sent its alert: close without a clear-text record.
		return false
	}
	_, err = smtp.Goodbye(ctx, tc, o.helo())
	tc.Close() // close_notify
	return err == nil
}

// startTLS dials addr and runs the SMTP dialogue up to a 220 reply to
// STARTTLS. The returned conn honours ctx's deadline and cancellation.
func startTLS(ctx context.Context, o Options, addr string) (net.Conn, error) {
	conn, err := o.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &stage.Error{Stage: stage.Connect, Err: dialError(addr, err)}
	}
	stop, err := deadline.Guard(ctx, conn, o.timeout())
	if err != nil {
		conn.Close()
		return nil, &stage.Error{Stage: stage.Connect, Err: err}
	}
	tconn, _, err := smtp.StartTLS(ctx, conn, o.helo())
	if err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	return &stopConn{Conn: tconn, stop: stop}, nil
}

// stopConn releases the cancellation hook when the conn is closed.
type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// refused reports whether err means the server turned the hello down: an
// alert, or a close without a record.
func refused(err error) bool {
	var alert *tlswire.AlertError
	return errors.As(err, &alert) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// dialError names addr once: a *net.OpError already says "dial tcp ADDR:",
// so its inner error is what follows "connect to ADDR:". Context errors stay
// reachable through errors.Is.
func dialError(addr string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("connect to %s: %w", addr, oe.Err)
	}
	return fmt.Errorf("connect to %s: %w", addr, err)
}
