package decision

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// The $event_data of Exim 4.96's msg:host:defer for a DH prime under the
// client's floor, GnuTLS and OpenSSL builds (docs/design.md section 7).
const (
	gnutlsDHText  = "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough)."
	opensslDHText = "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small"
)

func TestIsTLSFailure(t *testing.T) {
	for text, want := range map[string]bool{
		gnutlsDHText:  true,
		opensslDHText: true,
		"TLS session: (gnutls_handshake): rxd alert: handshake_failure":                            true,
		"TLS session: (gnutls_handshake): No supported cipher suites have been found.":             true,
		"TLS session: (gnutls_handshake): timed out":                                               false,
		"TLS session: (SSL_connect): timed out":                                                    false,
		"TLS session: (gnutls_handshake): ":                                                        false,
		"TLS session: (certificate verification failed): certificate invalid":                      false,
		"TLS session: (tls_init): no certificate":                                                  false,
		"SMTP error from remote mail server after RCPT TO:<user@example.org>: 451 4.7.1 try later": false,
		"Connection refused": false,
		"":                   false,
		"tls session: (gnutls_handshake): The Diffie-Hellman prime": false,
	} {
		if got := isTLSFailure(text); got != want {
			t.Errorf("isTLSFailure(%q) = %v, want %v", text, got, want)
		}
	}
}

// TestReport: a report is judged against the facts the store holds: a
// failure the facts predicted is confirmed; one they did not is a miss
// that re-loads the address's facts (refetch, newer than the disproved
// ones); an address without facts, or a text that is not a TLS handshake
// failure, is unrelated and loads nothing.
func TestReport(t *testing.T) {
	w := &world{
		mx:    map[string][]string{"weak.test": {"mx.weak.test"}, "modern.test": {"mx.modern.test"}},
		addrs: map[string][]string{"mx.weak.test": {"192.0.2.2"}, "mx.modern.test": {"192.0.2.4"}},
		facts: map[string]probe.Facts{"192.0.2.2": weakDH},
	}
	d, st := newDecider(t, w, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dom := range []string{"weak.test", "modern.test"} {
		if got := d.Decide(ctx, st, dom, false); got.Pending() {
			t.Fatalf("%s: pending", dom)
		}
	}
	for _, tc := range []struct {
		addr, text string
		want       ReportClass
		reprobed   bool
	}{
		{"192.0.2.2", gnutlsDHText, ReportConfirmed, false},
		{"192.0.2.9", gnutlsDHText, ReportUnrelated, false},         // no facts
		{"192.0.2.4", "Connection refused", ReportUnrelated, false}, // not TLS
		{"192.0.2.4", opensslDHText, ReportMiss, true},
	} {
		c, reprobed := d.Report(ctx, st, netip.MustParseAddr(tc.addr), tc.text)
		if c != tc.want || reprobed != tc.reprobed {
			t.Errorf("report %s %q: %s (reprobe %v), want %s (reprobe %v)", tc.addr, tc.text, c, reprobed, tc.want, tc.reprobed)
		}
	}
	d.store.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.refetchs) != 1 || w.refetchs[0] == 0 {
		t.Errorf("refetches %v, want one, after the disproved facts' time", w.refetchs)
	}
}
