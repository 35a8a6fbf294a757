package lookupd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// scrape fetches url over HTTP and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/plain") // the classic text format, not protobuf
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// metricValue is the value of the series of family name with exactly these
// labels (name=value pairs); for a histogram, its sample count. ok is false
// when there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// dumpFamilies lists the tlsprobed_ series, for failure messages.
func dumpFamilies(fams map[string]*dto.MetricFamily) string {
	var lines []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "tlsprobed_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Histogram != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %g", name, strings.Join(ls, ","), v))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestMetricsScrape: a real service answering over its socket, probing
// real servers and asking a real DNS server, counts what it did; the
// metrics are scraped over HTTP and read from the exposition format.
func TestMetricsScrape(t *testing.T) {
	l := startLab(t)
	s := newTestService(t, l.config(t, nil))
	reg := prometheus.NewRegistry()
	m, err := s.Instrument(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Instrument(reg); err == nil {
		t.Error("a second Instrument on the same registry succeeded")
	}
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer web.Close()

	// Every series exists before anything happened.
	fams := scrape(t, web.URL)
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"tlsprobed_requests_total", []string{"answer", "empty", "source", "invalid"}},
		{"tlsprobed_cache_lookups_total", []string{"cache", "names", "result", "stale"}},
		{"tlsprobed_cache_lookups_total", []string{"cache", "addresses", "result", "stale"}},
		{"tlsprobed_probes_total", []string{"outcome", "error", "stage", "banner"}},
		{"tlsprobed_probe_duration_seconds", []string{"outcome", "ok"}},
		{"tlsprobed_dns_errors_total", []string{"lookup", "address", "error", "timeout"}},
		{"tlsprobed_config_reloads_total", []string{"result", "failure"}},
		{"tlsprobed_answer_duration_seconds", nil},
		{"tlsprobed_probes_in_flight", nil},
	} {
		if v, ok := metricValue(fams, c.name, c.labels...); !ok || v != 0 {
			t.Errorf("before any request: %s%v = %v, %v; want 0", c.name, c.labels, v, ok)
		}
	}
	if n := len(fams["tlsprobed_requests_total"].GetMetric()); n != len(answerLabels)*len(sourceLabels) {
		t.Errorf("%d request series, want every answer and source", n)
	}

	path := serveService(t, s)
	answers := map[string]string{
		"dh768.test":    "tlsexport", // probed
		"rsa1024.test":  "smallkey",  // probed
		"notls.test":    "",          // probed: no STARTTLS
		"override.test": "tlsexport", // [overrides]
		"broken.test":   "",          // SERVFAIL
		"silent.test":   "",          // DNS timeout
		"bad..domain":   "",          // invalid
	}
	for _, d := range []string{"dh768.test", "rsa1024.test", "notls.test", "override.test", "broken.test", "silent.test", "bad..domain", "dh768.test"} {
		if got := sockettest.Raw(t, path, []byte(d), true); got != answers[d] {
			t.Errorf("%s: answer %q, want %q", d, got, answers[d])
		}
	}
	s.Wait()
	m.Reloaded(true)
	m.Reloaded(false)
	m.Reloaded(true)

	fams = scrape(t, web.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tlsprobed_requests_total", []string{"answer", "tlsexport", "source", "mx"}, 2},
		{"tlsprobed_requests_total", []string{"answer", "smallkey", "source", "mx"}, 1},
		{"tlsprobed_requests_total", []string{"answer", "empty", "source", "mx"}, 1},
		{"tlsprobed_requests_total", []string{"answer", "tlsexport", "source", "override"}, 1},
		{"tlsprobed_requests_total", []string{"answer", "empty", "source", "dns-error"}, 2},
		{"tlsprobed_requests_total", []string{"answer", "empty", "source", "invalid"}, 1},
		{"tlsprobed_requests_total", []string{"answer", "empty", "source", "pending"}, 0},
		{"tlsprobed_answer_duration_seconds", nil, 8},
		// Every domain but the override and the invalid one was looked up;
		// dh768.test twice, the second time from the cache.
		{"tlsprobed_cache_lookups_total", []string{"cache", "domains", "result", "miss"}, 5},
		{"tlsprobed_cache_lookups_total", []string{"cache", "domains", "result", "hit"}, 1},
		{"tlsprobed_cache_lookups_total", []string{"cache", "names", "result", "miss"}, 3},
		{"tlsprobed_cache_lookups_total", []string{"cache", "names", "result", "hit"}, 1},
		{"tlsprobed_cache_lookups_total", []string{"cache", "names", "result", "stale"}, 0},
		{"tlsprobed_cache_lookups_total", []string{"cache", "addresses", "result", "miss"}, 3},
		{"tlsprobed_cache_lookups_total", []string{"cache", "addresses", "result", "hit"}, 1},
		// Facts, not verdicts: dh768 and rsa1024 reached TLS (ok).
		{"tlsprobed_probes_total", []string{"outcome", "ok", "stage", ""}, 2},
		{"tlsprobed_probes_total", []string{"outcome", "notls", "stage", "ehlo"}, 1},
		{"tlsprobed_probe_duration_seconds", []string{"outcome", "ok"}, 2},
		{"tlsprobed_probe_duration_seconds", []string{"outcome", "notls"}, 1},
		{"tlsprobed_probes_in_flight", nil, 0},
		{"tlsprobed_names_cached", nil, 3},
		{"tlsprobed_addresses_cached", nil, 3},
		{"tlsprobed_domains_cached", nil, 5},
		{"tlsprobed_dns_errors_total", []string{"lookup", "mx", "error", "servfail"}, 1},
		{"tlsprobed_dns_errors_total", []string{"lookup", "mx", "error", "timeout"}, 1},
		{"tlsprobed_dns_errors_total", []string{"lookup", "address", "error", "other"}, 0},
		{"tlsprobed_config_reloads_total", []string{"result", "success"}, 2},
		{"tlsprobed_config_reloads_total", []string{"result", "failure"}, 1},
	} {
		if v, ok := metricValue(fams, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	// The answer histogram has sub-millisecond buckets, for cached answers.
	h := fams["tlsprobed_answer_duration_seconds"].GetMetric()[0].GetHistogram()
	if b := h.GetBucket(); len(b) == 0 || b[0].GetUpperBound() > 0.001 {
		t.Errorf("answer buckets start at %v", b)
	}
	if h.GetSampleSum() <= 0 {
		t.Errorf("answer duration sum %v", h.GetSampleSum())
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", dumpFamilies(fams))
	}
}

// TestMetricsNil: a service without metrics answers as before.
func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.Reloaded(true)
	m.probeStarted()
	m.answered(time.Second)
	m.probeDone(&probe.Facts{Outcome: probe.OK})
}

// TestAnswerAllocs: recording an answer allocates nothing.
func TestAnswerAllocs(t *testing.T) {
	cfg := config.Default()
	s := newTestService(t, &cfg)
	if _, err := s.Instrument(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	d := decision.Decision{Domain: "a.test", Verdict: verdict.SmallKey, Source: decision.SourceMX, MX: []decision.HostReport{
		{Source: decision.SourceCache, Addrs: []decision.AddrReport{{Source: decision.SourceCache}, {Source: decision.SourceIgnored}}},
		{Source: decision.SourceLookup, Addrs: []decision.AddrReport{{Source: decision.SourceProbe}}}}}
	if n := testing.AllocsPerRun(100, func() { s.answered(&d, time.Millisecond) }); n != 0 {
		t.Errorf("answered allocates %v times", n)
	}
}
