package decision

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// Reports: Exim's smtp transport tells the daemon, through its event_action
// on msg:host:defer (contrib/exim), that a delivery attempt at an address
// failed, with Exim's error text. Anyone who may use the socket can send
// one, so a report is a hint, never a verdict: it can only make the daemon
// probe again, at once, an address it already holds facts for, within the
// usual limits (the per-address rate limit, the probe slots, the fleet's
// lock, one load per address at a time).

// ReportClass is what the service made of one report.
type ReportClass uint8

const (
	// ReportMiss: a TLS failure at an address whose facts said the
	// modelled client would get TLS there: logged, counted, and the
	// address is probed again at once.
	ReportMiss ReportClass = iota
	// ReportConfirmed: a TLS failure the facts predicted.
	ReportConfirmed
	// ReportUnrelated: not a TLS handshake failure, or an address the
	// daemon holds no facts for (or in probe.ignore_networks): dropped.
	ReportUnrelated
	// ReportMalformed: not a report the parser could read (a bad address):
	// answered empty and dropped.
	ReportMalformed
	// ReportClasses is the number of classes.
	ReportClasses
)

var reportClassNames = [ReportClasses]string{"miss", "confirmed", "unrelated", "malformed"}

func (c ReportClass) String() string {
	if c < ReportClasses {
		return reportClassNames[c]
	}
	return fmt.Sprintf("ReportClass(%d)", uint8(c))
}

// tlsHandshakeFailures are the starts of the $event_data Exim 4.96's smtp
// transport gives msg:host:defer when its TLS handshake as a client failed:
// "TLS session: " (transports/smtp.c, after tls_client_start) and the TLS
// library's call, from tls_error() in tls-gnu.c ("(gnutls_handshake): "
// then gnutls_strerror's text or "rxd alert: NAME") and tls-openssl.c
// ("(SSL_connect): " then OpenSSL's error string). Seen with the lab's
// servers:
//
//	TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).
//	TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small
//
// Other "TLS session: " texts are failures before the handshake (Exim's
// own TLS set-up: credentials, priority strings) or certificate
// verification, which the probe's facts say nothing about.
var tlsHandshakeFailures = []string{
	"TLS session: (gnutls_handshake): ",
	"TLS session: (SSL_connect): ",
}

// handshakeTimedOut ends the text of a handshake that timed out: the
// network or a stalled server, not the TLS parameters the facts describe.
const handshakeTimedOut = "): timed out"

// isTLSFailure reports whether text is Exim's error for a failed TLS
// handshake with the server.
func isTLSFailure(text string) bool {
	for _, p := range tlsHandshakeFailures {
		if strings.HasPrefix(text, p) && len(text) > len(p) {
			return !strings.HasSuffix(text, handshakeTimedOut)
		}
	}
	return false
}

// maxLoggedText bounds the report text in a log line.
const maxLoggedText = 300

// Report classifies, under st, a report that a delivery attempt at addr
// failed with text; for a miss it starts a re-probe of the address (in the
// background: Report never waits for it) and says whether one started
// (reprobed). The port is probe.port, the client probe.client.
func (s *Decider) Report(ctx context.Context, st *Settings, addr netip.Addr, text string) (c ReportClass, reprobed bool) {
	addr = addr.Unmap()
	logText := text
	if len(logText) > maxLoggedText {
		logText = logText[:maxLoggedText] + "..."
	}
	debug := func(why string) {
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("report", "event", "report dropped", "addr", addr.String(), "why", why, "text", logText)
		}
	}
	if !isTLSFailure(text) {
		debug("not a TLS handshake failure")
		return ReportUnrelated, false
	}
	for _, p := range st.Ignore {
		if p.Contains(addr) {
			debug("in probe.ignore_networks")
			return ReportUnrelated, false
		}
	}
	k := store.AddrKey{AP: netip.AddrPortFrom(addr, uint16(st.Config.Probe.Port)), Client: store.SymOf(st.Config.Probe.Client)}
	r, stored, _, ok := s.store.Facts.Peek(k)
	if !ok {
		debug("no facts for the address")
		return ReportUnrelated, false
	}
	f := r.Facts(k)
	age := time.Since(stored).Round(time.Second)
	if st.Policy.PredictsFailure(&f) {
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("report", "event", "failure predicted", "addr", k.AP.String(), "text", logText,
				"verdict", st.Policy.Of(&f).String(), "facts", st.Policy.Reason(&f), "age", age)
		}
		return ReportConfirmed, false
	}
	s.store.AddReportView(k, r, stored, text, st.Config.Cache.TTL.Duration) // remedies (issue 19): the failure is a view of the address at once
	started, busy := s.reprobe(k, r.Time)
	// One line per re-probe started (or refused): a flood of reports for
	// an address whose re-probe runs adds no line.
	if started || busy {
		s.log.Warn("report", "event", "prediction miss", "addr", k.AP.String(), "text", logText,
			"verdict", st.Policy.Of(&f).String(), "facts", st.Policy.Reason(&f), "age", age,
			"reprobe", map[bool]string{true: "started", false: "refused: too many loads in flight"}[started])
	} else if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("report", "event", "prediction miss", "addr", k.AP.String(), "text", logText, "reprobe", "running")
	}
	return ReportMiss, started
}

// reprobe starts a refresh of k's facts taking only facts newer than the
// disproved ones, probed at probed (the fleet holds the same facts: the
// load must not take them back from Redis); the old facts are served until
// the new ones land. No refresh starts when a load of k runs (started
// false) or too many loads are in flight (busy).
func (s *Decider) reprobe(k store.AddrKey, probed store.UnixNano) (started, busy bool) {
	p, started := s.store.Facts.RefreshWith(k, func(ctx context.Context, k store.AddrKey) (cache.Loaded[store.Record], error) {
		return s.refetch(ctx, k, probed)
	})
	return started, p == nil
}
