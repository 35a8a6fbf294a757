package lookupd

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
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
