package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// The $event_data of Exim 4.96's msg:host:defer for a DH prime under the
// client's floor, GnuTLS and OpenSSL builds (docs/design.md section 7).
const (
	gnutlsDHText  = "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough)."
	opensslDHText = "TLS session: (SSL_connect): error:0A00018A:SSL routines::dh key too small"
)

// gatedProber wraps a fakeProber: while gate is set, each probe waits for
// it to close (or for the probe's context to end).
type gatedProber struct {
	*fakeProber
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatedProber) probe(ctx context.Context, ap netip.AddrPort, o probe.Options) probe.Facts {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return probe.Facts{Addr: ap, Outcome: probe.Error, Error: "cancelled"}
		}
	}
	return g.fakeProber.probe(ctx, ap, o)
}

func (g *gatedProber) setFacts(a string, f probe.Facts) {
	g.fakeProber.mu.Lock()
	defer g.fakeProber.mu.Unlock()
	g.facts[netip.MustParseAddr(a)] = f
}

// TestReportFake: each class of report, through Report and the socket: a
// miss re-probes its address exactly once, the old facts served until the
// new ones land; confirmed, unrelated and malformed reports probe nothing;
// the counters are in stats.
func TestReportFake(t *testing.T) {
	weak := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 768}
	g := &gatedProber{fakeProber: &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{
		netip.MustParseAddr("192.0.2.2"): weak,
	}}}
	dns := &fakeDNS{
		mx:    map[string][]string{"modern.test": {"mx.modern.test"}, "weak.test": {"mx.weak.test"}, "ignored.test": {"mx.ignored.test"}},
		addrs: map[string][]netip.Addr{"mx.modern.test": addrs("192.0.2.4"), "mx.weak.test": addrs("192.0.2.2"), "mx.ignored.test": addrs("10.1.1.1")},
	}
	cfg := config.Default()
	cfg.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	cfg.Probe.RatePerAddress = config.RateEvery(0)
	cfg.Cache.TTL = config.Duration{Duration: time.Hour}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sink := &lab.LogBuffer{}
	s, err := newService(&cfg, sink.Logger(), dns, g.probe)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for domain, want := range map[string]verdict.Verdict{"modern.test": verdict.None, "weak.test": verdict.TLSExport, "ignored.test": verdict.None} {
		if d := s.Decide(ctx, domain); d.Verdict != want {
			t.Fatalf("%s: %q, want %q", domain, d.Verdict, want)
		}
	}
	probes := func() int {
		return g.count("192.0.2.4") + g.count("192.0.2.2") + g.count("10.1.1.1") + g.count("192.0.2.99")
	}
	if n := probes(); n != 2 {
		t.Fatalf("%d probes before the reports, want 2", n)
	}

	for _, tc := range []struct {
		addr, text string
		want       decision.ReportClass
	}{
		{"192.0.2.2", gnutlsDHText, decision.ReportConfirmed},  // the facts say the DH prime is too small
		{"192.0.2.2", opensslDHText, decision.ReportConfirmed}, // whichever Exim says so
		{"192.0.2.4", "SMTP error from remote mail server after RCPT TO:<u@modern.test>: 451 4.7.1 later", decision.ReportUnrelated},
		{"192.0.2.4", "TLS session: (gnutls_handshake): timed out", decision.ReportUnrelated},
		{"192.0.2.99", gnutlsDHText, decision.ReportUnrelated}, // no facts: never asked about, never probed
		{"10.1.1.1", gnutlsDHText, decision.ReportUnrelated},   // probe.ignore_networks
	} {
		if got := s.Report(ctx, netip.MustParseAddr(tc.addr), tc.text); got != tc.want {
			t.Errorf("Report(%s, %q) = %s, want %s", tc.addr, tc.text, got, tc.want)
		}
	}
	s.Wait()
	if n := probes(); n != 2 {
		t.Errorf("%d probes after confirmed and unrelated reports, want 2 (none more)", n)
	}

	// The miss: the modern server now sends a 768-bit prime. The re-probe
	// is held at the gate: the old facts are served meanwhile.
	g.setFacts("192.0.2.4", weak)
	gate := make(chan struct{})
	g.mu.Lock()
	g.gate = gate
	g.mu.Unlock()
	path := serveService(t, s)
	if a := sockettest.Raw(t, path, []byte("report 192.0.2.4 "+gnutlsDHText), true); a != "ok\n" {
		t.Fatalf("report over the socket: %q, want ok", a)
	}
	// More reports while the re-probe runs join it.
	for range 50 {
		if c := s.Report(ctx, netip.MustParseAddr("192.0.2.4"), gnutlsDHText); c != decision.ReportMiss {
			t.Fatalf("a second miss: %s", c)
		}
	}
	if st := s.facts.Stats(); st.InFlight != 1 {
		t.Fatalf("facts loads in flight %d, want the one re-probe", st.InFlight)
	}
	// The report's failure is a view of the address at once (issue 19): the
	// answer routes around it before the re-probe ends.
	if d := s.Decide(ctx, "modern.test"); d.Verdict != verdict.TLSExport || d.MX[0].Addrs[0].Source != decision.SourceCache {
		t.Errorf("during the re-probe: %q from %s, want tlsexport from the report's view (cache)", d.Verdict, d.MX[0].Addrs[0].Source)
	}
	close(gate)
	s.Wait()
	if n := g.count("192.0.2.4"); n != 2 {
		t.Errorf("192.0.2.4 probed %d times, want 2 (the first, one re-probe)", n)
	}
	if d := s.Decide(ctx, "modern.test"); d.Verdict != verdict.TLSExport {
		t.Errorf("after the re-probe: %q, want tlsexport", d.Verdict)
	}
	// Now predicted: confirmed.
	if c := s.Report(ctx, netip.MustParseAddr("192.0.2.4"), gnutlsDHText); c != decision.ReportConfirmed {
		t.Errorf("the same failure after the re-probe: %s, want confirmed", c)
	}

	// Malformed: the empty answer, counted.
	for _, req := range []string{"report mx.modern.test " + gnutlsDHText, "report [192.0.2.4 x", "report"} {
		if a := sockettest.Raw(t, path, []byte(req), true); a != "" {
			t.Errorf("%q: answer %q, want none", req, a)
		}
	}
	var st Stats
	if err := json.Unmarshal([]byte(sockettest.Raw(t, path, []byte("stats"), true)), &st); err != nil {
		t.Fatal(err)
	}
	want := ReportStats{Miss: 51, Confirmed: 3, Unrelated: 4, Malformed: 3, Reprobes: 1}
	if st.Reports != want {
		t.Errorf("stats reports %+v, want %+v", st.Reports, want)
	}
	if n := sink.Count("msg=report", "event=\"prediction miss\"", "addr=192.0.2.4:25", "reprobe=started", "age="); n != 1 {
		t.Errorf("%d prediction miss lines, want 1 (the re-probe started):\n%s", n, sink.String())
	}
	t.Logf("log:\n%s", sink.String())
}

// TestReportFlood: a flood of miss reports for one address, at full
// speed from several goroutines, never makes the daemon probe it faster
// than probe.rate_per_address and rate_burst allow.
func TestReportFlood(t *testing.T) {
	const every, burst = 50 * time.Millisecond, 2
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{}}
	dns := &fakeDNS{mx: map[string][]string{"modern.test": {"mx.modern.test"}}, addrs: map[string][]netip.Addr{"mx.modern.test": addrs("192.0.2.4")}}
	s := fakeServiceLog(t, dns, p, func(c *config.Config) {
		c.Probe.RatePerAddress = config.RateEvery(every)
		c.Probe.RateBurst = burst
		c.Cache.TTL = config.Duration{Duration: time.Hour}
	}, (&lab.LogBuffer{}).Logger())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if d := s.Decide(ctx, "modern.test"); d.Verdict != verdict.None {
		t.Fatalf("modern.test: %q", d.Verdict)
	}
	a := netip.MustParseAddr("192.0.2.4")
	const reporters, each = 8, 2000
	var wg sync.WaitGroup
	for range reporters {
		wg.Go(func() {
			for i := 0; i < each || time.Since(start) < 10*every; i++ {
				if c := s.Report(ctx, a, gnutlsDHText); c != decision.ReportMiss {
					t.Errorf("report: %s, want miss", c)
					return
				}
			}
		})
	}
	wg.Wait()
	s.Wait() // the re-probe started last, waiting for its turn
	elapsed := time.Since(start)
	n := p.count("192.0.2.4")
	limit := burst + int(elapsed/every) + 1
	st := s.Stats().Reports
	t.Logf("figure: %d miss reports in %v: %d probes of the address (limit %d = burst %d + %v / %v), %d re-probes started",
		st.Miss, elapsed.Round(time.Millisecond), n, limit, burst, elapsed.Round(time.Millisecond), every, st.Reprobes)
	if n > limit {
		t.Errorf("%d probes in %v, over the rate limit's %d", n, elapsed, limit)
	}
	if n < 3 || st.Reprobes != uint64(n-1) {
		t.Errorf("%d probes, %d re-probes: want several re-probes, each one probe", n, st.Reprobes)
	}
	if st.Miss < reporters*each {
		t.Errorf("%d misses counted, want >= %d", st.Miss, reporters*each)
	}
}

// TestReportRealServer: a server with a 2048-bit prime, cached as fine
// (cache.ttl 1h), is restarted on the same address with a 768-bit prime;
// the report of Exim's DH failure makes the daemon probe it again at once,
// and the domain's answer becomes tlsexport long before cache.ttl.
func TestReportRealServer(t *testing.T) {
	lab.Require(t, "gcc")
	l := &testLab{lab.StartMXLab(t, nil, "report.test. 60 IN MX 10 mx-report.test.", "mx-report.test. 60 IN A 127.0.0.2")}
	listen := fmt.Sprintf("127.0.0.2:%d", l.Port)
	cfg := l.config(t, func(c *config.Config) {
		c.Cache.TTL = config.Duration{Duration: time.Hour}
		c.Probe.IgnoreNetworks = nil
		c.Probe.RatePerAddress = config.RateEvery(time.Second)
		c.Probe.RateBurst = 1
	})
	sink := &lab.LogBuffer{}
	s := loggedService(t, cfg, sink)
	path := serveService(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t.Run("dh2048", func(t *testing.T) {
		lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh2048", Ciphers: "kDHE", MaxTLS: "1.2", Listen: listen})
		d := s.Decide(ctx, "report.test")
		if d.Verdict != verdict.None || len(d.MX) != 1 || len(d.MX[0].Addrs) != 1 || !strings.Contains(d.MX[0].Addrs[0].Reason, "2048-bit DH prime") {
			t.Fatalf("report.test with a 2048-bit prime: %+v", d)
		}
		t.Logf("cached: %s", d.MX[0].Addrs[0].Reason)
	}) // its server stops with the subtest
	lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2", Listen: listen})
	if a := sockettest.Raw(t, path, []byte("report.test"), true); a != "" {
		t.Fatalf("before the report: %q, want the cached empty answer", a)
	}
	start := time.Now()
	if a := sockettest.Raw(t, path, []byte("report 127.0.0.2 "+gnutlsDHText), true); a != "ok\n" {
		t.Fatalf("report: %q", a)
	}
	answered := time.Since(start)
	s.Wait() // the re-probe
	took := time.Since(start)
	if a := sockettest.Raw(t, path, []byte("report.test"), true); a != "tlsexport" {
		t.Fatalf("after the report: %q, want tlsexport\n%s", a, sink.String())
	}
	st := s.Stats()
	if st.Reports.Miss != 1 || st.Reports.Reprobes != 1 || st.Probes != 2 {
		t.Errorf("stats: reports %+v, probes %d; want 1 miss, 1 re-probe, 2 probes", st.Reports, st.Probes)
	}
	for _, line := range strings.Split(sink.String(), "\n") {
		if strings.Contains(line, "prediction miss") || strings.Contains(line, "msg=probe") {
			t.Logf("README: %s", line)
		}
	}
	t.Logf("figure: report answered in %v; re-probed and tlsexport %v after it (cache.ttl 1h)", answered.Round(time.Microsecond), took.Round(time.Millisecond))
}

// TestReportMetrics: tlsprobed_reports_total{class} and
// tlsprobed_reprobes_total count what stats counts, each series there
// from the start.
func TestReportMetrics(t *testing.T) {
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{
		netip.MustParseAddr("192.0.2.2"): {Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 768},
	}}
	dns := &fakeDNS{mx: map[string][]string{"modern.test": {"mx.modern.test"}, "weak.test": {"mx.weak.test"}},
		addrs: map[string][]netip.Addr{"mx.modern.test": addrs("192.0.2.4"), "mx.weak.test": addrs("192.0.2.2")}}
	s := fakeService(t, dns, p, nil)
	reg := prometheus.NewRegistry()
	if _, err := s.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer web.Close()
	fams := scrape(t, web.URL)
	for _, c := range []string{"miss", "confirmed", "unrelated", "malformed"} {
		if v, ok := metricValue(fams, "tlsprobed_reports_total", "class", c); !ok || v != 0 {
			t.Errorf("before any report: reports{class=%s} = %v, %v; want 0", c, v, ok)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Decide(ctx, "modern.test")
	s.Decide(ctx, "weak.test")
	s.Report(ctx, netip.MustParseAddr("192.0.2.4"), gnutlsDHText)
	s.Wait()
	s.Report(ctx, netip.MustParseAddr("192.0.2.2"), opensslDHText)
	s.Report(ctx, netip.MustParseAddr("192.0.2.2"), "Connection refused")
	s.Malformed(socket.VerbReport)
	s.Malformed(socket.VerbExplain) // not a report: not counted
	fams = scrape(t, web.URL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tlsprobed_reports_total", []string{"class", "miss"}, 1},
		{"tlsprobed_reports_total", []string{"class", "confirmed"}, 1},
		{"tlsprobed_reports_total", []string{"class", "unrelated"}, 1},
		{"tlsprobed_reports_total", []string{"class", "malformed"}, 1},
		{"tlsprobed_reprobes_total", nil, 1},
	} {
		if v, ok := metricValue(fams, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if st := s.Stats().Reports; st != (ReportStats{Miss: 1, Confirmed: 1, Unrelated: 1, Malformed: 1, Reprobes: 1}) {
		t.Errorf("stats reports %+v", st)
	}
}

// TestReportFleet: relays sharing a real Redis. Relay b holds the facts
// that relay a probed and wrote to Redis; the server turns weak; a miss
// reported to b re-probes the address through the fleet's lock (b does not
// take the old facts back from Redis) and writes the new facts there, where
// a new relay finds them.
func TestReportFleet(t *testing.T) {
	lab.Require(t, "gcc", "redis-server")
	l := &testLab{lab.StartMXLab(t, nil, "report.test. 60 IN MX 10 mx-report.test.", "mx-report.test. 60 IN A 127.0.0.2")}
	r := lab.StartRedis(t, lab.RedisOptions{})
	listen := fmt.Sprintf("127.0.0.2:%d", l.Port)
	edit := func(c *config.Config) { c.Cache.TTL = config.Duration{Duration: time.Hour} }
	a := startRelay(t, l, r.URL(), "report:", edit)
	b := startRelay(t, l, r.URL(), "report:", edit)
	t.Run("dh2048", func(t *testing.T) {
		lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh2048", Ciphers: "kDHE", MaxTLS: "1.2", Listen: listen})
		if got := sockettest.Raw(t, a.path, []byte("report.test"), true); got != "" {
			t.Fatalf("relay a: %q", got)
		}
		a.s.Wait()
		if got := sockettest.Raw(t, b.path, []byte("report.test"), true); got != "" {
			t.Fatalf("relay b: %q", got)
		}
		if n := b.s.Stats().Probes; n != 0 {
			t.Fatalf("relay b probed %d times; want the facts from Redis", n)
		}
	})
	lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2", Listen: listen})
	if got := sockettest.Raw(t, b.path, []byte("report 127.0.0.2 "+gnutlsDHText), true); got != "ok\n" {
		t.Fatalf("report: %q", got)
	}
	b.s.Wait()
	if got := sockettest.Raw(t, b.path, []byte("report.test"), true); got != "tlsexport" {
		t.Errorf("relay b after its re-probe: %q, want tlsexport\n%s", got, b.log)
	}
	st := b.s.Stats()
	if st.Probes != 1 || st.Reports.Reprobes != 1 || st.Fleet == nil || st.Fleet.Locks["won"] != 1 {
		t.Errorf("relay b: %d probes, reports %+v, fleet %+v; want one re-probe under the fleet's lock", st.Probes, st.Reports, st.Fleet)
	}
	c := startRelay(t, l, r.URL(), "report:", edit)
	if got := sockettest.Raw(t, c.path, []byte("report.test"), true); got != "tlsexport" {
		t.Errorf("a new relay: %q, want tlsexport from Redis", got)
	}
	if n := c.s.Stats().Probes; n != 0 {
		t.Errorf("the new relay probed %d times", n)
	}
}
