package lookupd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestAdminVerbs: explain, stats and flush over the socket.
func TestAdminVerbs(t *testing.T) {
	l := startLab(t)
	s := newTestService(t, l.config(t, nil))
	path := serveService(t, s)
	out := sockettest.Raw(t, path, []byte("explain mixed.test\n"), true)
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("explain is not one line: %q", out)
	}
	var d decision.Decision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("explain: %v in %q", err, out)
	}
	if d.Verdict != verdict.TLSExport || len(d.MX) != 2 || len(d.MX[1].Addrs) != 1 || len(d.MX[0].Addrs) != 1 {
		t.Fatalf("explain mixed.test = %s", out)
	}
	weak, modern := d.MX[1].Addrs[0], d.MX[0].Addrs[0]
	if weak.Facts == nil || weak.Facts.DHBits != 768 || weak.Verdict != verdict.TLSExport || weak.Reason == "" ||
		modern.Facts == nil || modern.Facts.TLSVersion == "" || modern.Verdict != verdict.None || modern.Age == "" {
		t.Errorf("explain mixed.test = %s", out)
	}

	out = sockettest.Raw(t, path, []byte("stats"), true)
	var st Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats: %v in %q", err, out)
	}
	if st.Domains.Len != 1 || st.Names.Len != 2 || st.Addrs.Len != 2 || st.Probes != 2 || st.Conns != nil || st.Answers.Empty+st.Answers.TLSExport+st.Answers.SmallKey != 0 {
		t.Errorf("stats: %s", out)
	}

	if got := sockettest.Raw(t, path, []byte("flush mixed.test"), true); got != "ok\n" {
		t.Errorf("flush: %q", got)
	}
	if n, m, k := s.domains.Len(), s.names.Len(), s.facts.Len(); n+m+k != 0 {
		t.Errorf("%d domains, %d names, %d addresses cached after flush of the only domain", n, m, k)
	}
	sockettest.Raw(t, path, []byte("explain dh768.test"), true)
	if got := sockettest.Raw(t, path, []byte("flush all\n"), true); got != "ok\n" || s.facts.Len() != 0 || s.names.Len() != 0 || s.domains.Len() != 0 {
		t.Errorf("flush all: %q, %d addresses, %d names, %d domains left", got, s.facts.Len(), s.names.Len(), s.domains.Len())
	}
	if got := sockettest.Raw(t, path, []byte("flush bad..name"), true); !strings.HasPrefix(got, "error: ") {
		t.Errorf("flush of a bad name: %q", got)
	}
}
