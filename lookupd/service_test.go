package lookupd

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// testLab wraps lab.MXLab with the hosts these tests use.
type testLab struct{ *lab.MXLab }

// labHosts are the MX hosts, each on its own loopback address.
var labHosts = []lab.MXHost{
	{Name: "mx-dh768.test", OpenSSL: &lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}},
	{Name: "mx-rsa1024.test", OpenSSL: &lab.OpenSSLOptions{Cert: "rsa1024", MaxTLS: "1.2"}},
	{Name: "mx-modern.test", Exim: &lab.EximOptions{}},
	{Name: "mx-notls.test", Exim: &lab.EximOptions{NoSTARTTLS: true}},
	{Name: "mx-slow.test", OpenSSL: &lab.OpenSSLOptions{DH: "dh512", Ciphers: "kDHE", MaxTLS: "1.2", BannerDelay: 3 * time.Second}},
}

// labZone holds the test domains.
var labZone = []string{
	"mx-legacy.test. 60 IN A 127.0.0.4",
	"dh768.test. 60 IN MX 10 mx-dh768.test.",
	"rsa1024.test. 60 IN MX 10 mx-rsa1024.test.",
	"modern.test. 60 IN MX 10 mx-modern.test.",
	"notls.test. 60 IN MX 10 mx-notls.test.",
	"mixed.test. 60 IN MX 10 mx-modern.test.",
	"mixed.test. 60 IN MX 20 mx-dh768.test.",
	"both.test. 60 IN MX 20 mx-dh768.test.",
	"both.test. 60 IN MX 10 mx-rsa1024.test.",
	"implicit.test. 60 IN A 127.0.0.2",
	"nullmx.test. 60 IN MX 0 .",
	"alias.test. 60 IN CNAME dh768.test.",
	"legacy.test. 60 IN MX 10 mx-legacy.test.",
	"quiet.test. 60 IN MX 10 mx-dh768.test.",
	"slow.test. 60 IN MX 10 mx-slow.test.",
	"SERVFAIL broken.test.",
	"TIMEOUT silent.test.",
}

// startLab starts the lab servers, with extra zone lines.
func startLab(t *testing.T, extra ...string) *testLab {
	t.Helper()
	lab.Require(t, "gcc", "exim")
	return &testLab{lab.StartMXLab(t, labHosts, append(labZone, extra...)...)}
}

// config returns a validated config aimed at the lab.
func (l *testLab) config(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DNS.Servers = []string{l.DNS}
	cfg.DNS.Timeout = config.Duration{Duration: time.Second}
	cfg.Probe.Port = l.Port
	cfg.Probe.HELO = "relay.test"
	cfg.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	cfg.Probe.Timeout = config.Duration{Duration: 15 * time.Second}
	cfg.Probe.RatePerAddress = config.RateEvery(10 * time.Millisecond)
	cfg.Probe.RateBurst = 10
	cfg.Answer.Wait = config.Duration{Duration: 20 * time.Second}
	cfg.OverrideLists = config.OverrideLists{
		SmallKey:  []string{"mx-legacy.test"},
		TLSExport: []string{"override.test", "*.override-wild.test"},
		None:      []string{"quiet.test"},
	}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

func newTestService(t *testing.T, cfg *config.Config) *Service {
	t.Helper()
	s, err := NewService(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	return s
}

// testLogger logs to t.
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// serveService serves s on a socket in a temp dir and returns its path.
func serveService(t *testing.T, s *Service) string {
	t.Helper()
	return sockettest.Start(t, &socket.Server{Handler: s})
}

// closeAtEnd closes s when the test ends, and fails the test when Close
// fails.
func closeAtEnd(tb testing.TB, s *Service) {
	tb.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
}

// stuckProber's probes signal started, then wait for release whatever
// their context says: a probe stuck past cancellation.
type stuckProber struct {
	started chan struct{} // one value per probe
	release chan struct{}
}

func (p *stuckProber) probe(_ context.Context, ap netip.AddrPort, o probe.Options) probe.Facts {
	p.started <- struct{}{}
	<-p.release
	return probe.Facts{Addr: ap, Client: o.Client, Outcome: probe.Error, Error: "released", Time: time.Now()}
}

// TestCloseContextEnds: Close with a context that ends while a probe is
// stuck returns the context's error without waiting for the probe, and
// still makes the final save; the probe is joined once released.
func TestCloseContextEnds(t *testing.T) {
	p := &stuckProber{started: make(chan struct{}, 1), release: make(chan struct{})}
	dns := &fakeDNS{mx: map[string][]string{"stuck.test": {"mx.stuck.test"}}, addrs: map[string][]netip.Addr{"mx.stuck.test": addrs("192.0.2.9")}}
	cfg := config.Default()
	cfg.Probe.RatePerAddress = config.RateEvery(0)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newService(&cfg, testLogger(t), dns, p.probe)
	if err != nil {
		t.Fatal(err)
	}
	saves := 0
	s.FinalSave = func() error { saves++; return nil }
	ask, stopAsking := context.WithCancel(context.Background())
	asked := make(chan decision.Decision)
	go func() { asked <- s.Decide(ask, "stuck.test") }()
	<-p.started
	stopAsking()
	if d := <-asked; !d.Pending() {
		t.Errorf("decision %+v while the probe is stuck, want pending", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Close with an ended context: %v, want %v", err, context.Canceled)
	}
	if saves != 1 {
		t.Errorf("%d final saves, want 1", saves)
	}
	if again := s.Close(context.Background()); again != err || saves != 1 {
		t.Errorf("second Close: %v and %d saves, want the first's error (%v) and 1 save", again, saves, err)
	}
	close(p.release)
	s.Wait() // the stuck probe's load ends once released
}

// TestCloseSaves: Close stops the loads, then saves (FinalSave): a new
// service loads what the first had learnt; a failing save is Close's error.
func TestCloseSaves(t *testing.T) {
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{}}
	dns := &fakeDNS{mx: map[string][]string{"saved.test": {"mx.saved.test"}}, addrs: map[string][]netip.Addr{"mx.saved.test": addrs("192.0.2.10")}}
	cfg := config.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := fakeService(t, dns, p, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d := s.Decide(ctx, "saved.test"); d.Source != decision.SourceMX || d.Pending() {
		t.Fatalf("decision %+v, want one from the MX set, complete", d)
	}
	path := filepath.Join(t.TempDir(), "cache.json")
	s.FinalSave = func() error { return s.SaveCache(path) }
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again := fakeService(t, dns, p, nil)
	if n, err := again.LoadCache(path); err != nil || n != 3 {
		t.Errorf("LoadCache after Close's save: %d entries, %v; want 3 (domain, name, address)", n, err)
	}

	failing, err := newService(&cfg, testLogger(t), dns, p.probe)
	if err != nil {
		t.Fatal(err)
	}
	saveErr := errors.New("disk full")
	failing.FinalSave = func() error { return saveErr }
	if err := failing.Close(context.Background()); !errors.Is(err, saveErr) {
		t.Errorf("Close with a failing save: %v, want %v", err, saveErr)
	}
}
