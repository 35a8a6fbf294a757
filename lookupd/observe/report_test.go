package observe

import (
	"testing"
	"unicode/utf8"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

func TestFromReport(t *testing.T) {
	for _, tc := range []struct {
		text string
		want probe.ReportedFailure
	}{
		{"TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).", probe.ReportedDHTooSmall},
		{"TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small", probe.ReportedDHTooSmall},
		{"TLS session: (SSL_connect): error:0A000438:SSL routines::tlsv1 alert internal error", probe.ReportedHandshake},
		{"TLS session: (SSL_connect): error:0A000172:SSL routines::wrong signature type", probe.ReportedHandshake},
		{"TLS session: (gnutls_handshake): Could not negotiate a supported cipher suite.", probe.ReportedHandshake},
	} {
		v := FromReport(ap, "openssl", tc.text, t0)
		if v.Reported != tc.want || v.Error != tc.text || v.Addr != ap || v.KeyBits != 0 || v.DHBits != 0 {
			t.Errorf("FromReport(%q) = %+v, want %q", tc.text, v, tc.want)
		}
	}
	long := "TLS session: (SSL_connect): " + string(make([]byte, 1000))
	if v := FromReport(ap, "openssl", long, t0); len(v.Error) > maxReportText {
		t.Errorf("FromReport kept %d bytes", len(v.Error))
	}
}

func FuzzFromReport(f *testing.F) {
	f.Add("TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small")
	f.Add("TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, text string) {
		v := FromReport(ap, "gnutls", text, t0)
		if len(v.Error) > maxReportText || !utf8.ValidString(v.Error) {
			t.Fatalf("kept %d bytes", len(v.Error))
		}
		if v.Reported != probe.ReportedDHTooSmall && v.Reported != probe.ReportedHandshake {
			t.Fatalf("Reported = %q", v.Reported)
		}
		if v.KeyBits != 0 || v.DHBits != 0 || v.TLSVersion != "" {
			t.Fatalf("a report gave facts its text does not state: %+v", v)
		}
	})
}
