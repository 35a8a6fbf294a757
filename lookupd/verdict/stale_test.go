package verdict

import (
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// TestUnanswered: only a policy without TLS 1.3 finds facts whose TLS 1.2
// key exchange was not observed unanswered; every other pair is answered.
func TestUnanswered(t *testing.T) {
	tls13Only := &probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", TLS13: true, KXUnobserved: true}
	observed := &probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", DHBits: 768, TLS13: true}
	failed := &probe.Facts{Outcome: probe.Error, KXUnobserved: true}
	for _, tc := range []struct {
		name string
		p    Policy
		f    *probe.Facts
		want bool
	}{
		{"tls13 off, kx unobserved", Policy{NoTLS13: true}, tls13Only, true},
		{"tls13 off, openssl client too", Policy{NoTLS13: true, Client: ClientOpenSSL}, tls13Only, true},
		{"tls13 on, kx unobserved", Policy{}, tls13Only, false},
		{"tls13 off, kx observed", Policy{NoTLS13: true}, observed, false},
		{"tls13 off, failed probe", Policy{NoTLS13: true}, failed, false},
	} {
		if got := tc.p.Unanswered(tc.f); got != tc.want {
			t.Errorf("%s: Unanswered = %v, want %v", tc.name, got, tc.want)
		}
	}
}
