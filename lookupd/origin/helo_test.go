package origin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// TestHELONameResolver: a short host name is widened to its canonical name
// by the [dns] servers (netResolver), as Exim's gethostbyname() does for
// primary_hostname; a name the DNS does not answer for stays short, within
// the context's bound; a name with a dot is not looked up.
func TestHELONameResolver(t *testing.T) {
	dns := lab.StartDNS(t,
		"probehost. 300 IN CNAME probehost.lab.test.",
		"probehost.lab.test. 300 IN A 127.0.0.9",
		"TIMEOUT silenthost.",
	)
	r := netResolver([]string{dns})
	for _, tc := range []struct{ host, want string }{
		{"probehost", "probehost.lab.test"},
		{"silenthost", "silenthost"},
		{"unknownhost", "unknownhost"},
		{"relay.example.org", "relay.example.org"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got := probe.QualifyHostname(ctx, r, tc.host)
		cancel()
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.host, got, tc.want)
		}
	}
}

// TestHELOProblem: -check and the start-up log warn about localhost and
// short names.
func TestHELOProblem(t *testing.T) {
	for name, bad := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "localhost.localdomain": true, "vm": true,
		"relay.example.org": false, "relay.example.org.": false,
	} {
		p := probe.HELOProblem(name)
		if (p != "") != bad || bad && !strings.Contains(p, name) {
			t.Errorf("%q: %q, want a problem: %v", name, p, bad)
		}
	}
}
