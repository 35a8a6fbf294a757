package observe

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// maxReportText bounds the part of a report's text that is read, and kept
// in the view's Error.
const maxReportText = 300

// The texts Exim 4.96's TLS libraries give a refused DHE prime (seen with
// the lab's servers):
//
//	TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).
//	TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small
var dhTooSmall = [][2]string{
	{"diffie-hellman prime", "not long enough"},
	{"dh key too small", ""},
}

// FromReport is the view that Exim's report of a failed TLS handshake with
// addr gives, for the client Exim is built with: a refused DH prime
// (ReportedDHTooSmall) or another handshake failure (ReportedHandshake).
// It says nothing the text does not: no prime size, no key, no version.
// The caller has checked that text is a TLS handshake failure (the report
// verb's classifier); only its first maxReportText bytes are read and kept.
func FromReport(addr netip.AddrPort, client tlswire.Client, text string, now time.Time) probe.Facts {
	text = clip(text)
	low := strings.ToLower(text)
	kind := probe.ReportedHandshake
	for _, p := range dhTooSmall {
		if strings.Contains(low, p[0]) && strings.Contains(low, p[1]) {
			kind = probe.ReportedDHTooSmall
			break
		}
	}
	return probe.Facts{Addr: addr, Client: client, Outcome: probe.Error, Stage: stage.Negotiate,
		Error: text, Reported: kind, Time: now}
}

// clip is the first maxReportText bytes of s, invalid UTF-8 replaced by
// "?", cut on a rune boundary.
func clip(s string) string {
	if len(s) > 4*maxReportText {
		s = s[:4*maxReportText]
	}
	s = strings.ToValidUTF8(s, "?")
	if len(s) > maxReportText {
		i := maxReportText
		for i > maxReportText-utf8.UTFMax && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}
