package lookupd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// TestAdminVerbs: explain, stats and flush over the socket.
func TestAdminVerbs(t *testing.T) {
	l := startLab(t)
	s := newService(t, l.config(t, nil))
	path := serveService(t, s)
	out := sockettest.Raw(t, path, []byte("explain mixed.test\n"), true)
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("explain is not one line: %q", out)
	}
	var d Decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("explain: %v in %q", err, out)
	}
	if d.Verdict != "tlsexport" || len(d.MX) != 2 || d.MX[1].Result == nil || d.MX[1].Result.DHBits != 768 ||
		d.MX[0].Result == nil || d.MX[0].Result.TLSVersion == "" {
		t.Errorf("explain mixed.test = %s", out)
	}

	out = sockettest.Raw(t, path, []byte("stats"), true)
	var st Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats: %v in %q", err, out)
	}
	if st.Hosts.Len != 2 || st.Conns != nil || st.Answers.Empty+st.Answers.TLSExport+st.Answers.SmallKey != 0 {
		t.Errorf("stats: %s", out)
	}

	if got := sockettest.Raw(t, path, []byte("flush mixed.test"), true); got != "ok\n" {
		t.Errorf("flush: %q", got)
	}
	if n := s.hosts.Len(); n != 0 {
		t.Errorf("%d hosts cached after flush of the only domain", n)
	}
	sockettest.Raw(t, path, []byte("explain dh768.test"), true)
	if got := sockettest.Raw(t, path, []byte("flush all\n"), true); got != "ok\n" || s.hosts.Len() != 0 || s.domains.Len() != 0 {
		t.Errorf("flush all: %q, %d hosts, %d domains left", got, s.hosts.Len(), s.domains.Len())
	}
	if got := sockettest.Raw(t, path, []byte("flush bad..name"), true); !strings.HasPrefix(got, "error: ") {
		t.Errorf("flush of a bad name: %q", got)
	}
}
