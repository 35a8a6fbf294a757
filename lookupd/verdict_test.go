package lookupd

import (
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		in   []probe.Outcome
		want string
	}{
		{nil, ""},
		{[]probe.Outcome{probe.OK, probe.NoTLS, probe.Error}, ""},
		{[]probe.Outcome{probe.OK, probe.TLSExport}, "tlsexport"},
		{[]probe.Outcome{probe.TLSExport, probe.SmallKey, probe.OK}, "smallkey"},
		{[]probe.Outcome{probe.SmallKey}, "smallkey"},
	} {
		if got := Verdict(tc.in); got != tc.want {
			t.Errorf("Verdict(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
