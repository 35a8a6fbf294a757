package lookupd

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// sum adds the values of family name's series whose labels include these
// name=value pairs.
func sum(fams []*dto.MetricFamily, name string, labels ...string) float64 {
	var n float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue series
				}
			}
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

// TestCountersOneSource: stats and Prometheus read the same counters:
// after answers (through Handle), reports and a probe at a stage outside
// the listed series, each number stats shows is the sum of the series
// Prometheus exports for it.
func TestCountersOneSource(t *testing.T) {
	weak := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 768}
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{netip.MustParseAddr("192.0.2.2"): weak}}
	dns := &fakeDNS{
		mx:    map[string][]string{"weak.test": {"mx.weak.test"}, "modern.test": {"mx.modern.test"}},
		addrs: map[string][]netip.Addr{"mx.weak.test": addrs("192.0.2.2"), "mx.modern.test": addrs("192.0.2.4")},
	}
	s := fakeService(t, dns, p, nil)
	reg := prometheus.NewRegistry()
	if _, err := s.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, d := range []string{"weak.test", "modern.test", "weak.test", "listed.test", "bad..domain", "nx.test"} {
		s.Handle(ctx, socket.Request{Verb: socket.VerbDomain, Arg: d})
	}
	s.Report(ctx, netip.MustParseAddr("192.0.2.2"), "Connection refused")
	s.Malformed(socket.VerbReport)
	s.counters.dnsFailed(origin.LookupAddress, store.DNSTimeout)
	s.counters.probed(&probe.Facts{Outcome: probe.NoTLS, Stage: stage.Banner}) // not in probeSeries

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	for _, c := range []struct {
		what  string
		stats uint64
		prom  float64
		want  uint64
	}{
		{"tlsexport answers", st.Answers.TLSExport, sum(fams, "tlsprobed_requests_total", "answer", "tlsexport"), 2},
		{"smallkey answers", st.Answers.SmallKey, sum(fams, "tlsprobed_requests_total", "answer", "smallkey"), 1},
		{"empty answers", st.Answers.Empty, sum(fams, "tlsprobed_requests_total", "answer", "empty"), 3},
		{"invalid", st.Invalid, sum(fams, "tlsprobed_requests_total", "source", "invalid"), 1},
		{"probes", st.Probes, sum(fams, "tlsprobed_probes_total"), 3},
		{"unrelated reports", st.Reports.Unrelated, sum(fams, "tlsprobed_reports_total", "class", "unrelated"), 1},
		{"malformed reports", st.Reports.Malformed, sum(fams, "tlsprobed_reports_total", "class", "malformed"), 1},
	} {
		if c.stats != c.want || c.prom != float64(c.want) {
			t.Errorf("%s: stats %d, prometheus %v; want %d in both", c.what, c.stats, c.prom, c.want)
		}
	}
	if n := sum(fams, "tlsprobed_probes_total", "outcome", "notls", "stage", "banner"); n != 1 {
		t.Errorf("probes{notls,banner} = %v, want 1", n)
	}
	if n := sum(fams, "tlsprobed_dns_errors_total", "lookup", "address", "error", "timeout"); n != 1 {
		t.Errorf("dns_errors{address,timeout} = %v, want 1", n)
	}
	if got := s.counters.answersBy(verdict.TLSExport); got != 2 {
		t.Errorf("answersBy(tlsexport) = %d, want 2", got)
	}
}
