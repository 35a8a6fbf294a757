package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
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

func newService(t *testing.T, cfg *config.Config) *Service {
	t.Helper()
	s, err := NewService(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// serveService serves s on a socket in a temp dir and returns its path.
func serveService(t *testing.T, s *Service) string {
	t.Helper()
	return startServer(t, &Server{Handler: s})
}

func TestServiceVerdicts(t *testing.T) {
	l := startLab(t)
	s := newService(t, l.config(t, nil))
	for _, tc := range []struct {
		domain, verdict, source string
	}{
		{"dh768.test", "tlsexport", "mx"},
		{"rsa1024.test", "smallkey", "mx"},
		{"modern.test", "", "mx"},
		{"notls.test", "", "mx"},
		{"mixed.test", "tlsexport", "mx"},    // any MX host counts
		{"both.test", "smallkey", "mx"},      // smallkey beats tlsexport
		{"implicit.test", "tlsexport", "mx"}, // no MX: the domain's own address
		{"alias.test", "tlsexport", "mx"},    // CNAME to dh768.test
		{"legacy.test", "smallkey", "mx"},    // MX host named in [overrides] smallkey
		{"quiet.test", "", "override"},       // [overrides] none
		{"override.test", "tlsexport", "override"},
		{"a.override-wild.test", "tlsexport", "override"},
		{"nullmx.test", "", "dns"},
		{"nxdomain.test", "", "dns"},
		{"broken.test", "", "dns-error"},
		{"user@DH768.Test.", "tlsexport", "mx"},
		{"bad..domain", "", "invalid"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d := s.Decide(ctx, tc.domain)
			b, _ := json.Marshal(d)
			t.Logf("%s", b)
			if d.Verdict != tc.verdict || d.Source != tc.source {
				t.Errorf("verdict %q from %q, want %q from %q", d.Verdict, d.Source, tc.verdict, tc.source)
			}
		})
	}
	t.Run("no-probe-for-overrides", func(t *testing.T) {
		if _, _, _, ok := s.hosts.Peek("mx-legacy.test"); ok {
			t.Error("mx-legacy.test was probed although [overrides] names it")
		}
	})
}

// TestServiceTimeoutDNS: a DNS server that never answers costs at most
// answer.wait, and the answer is empty.
func TestServiceTimeoutDNS(t *testing.T) {
	l := startLab(t)
	s := newService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 300 * time.Millisecond} }))
	path := serveService(t, s)
	start := time.Now()
	if got := rawQuery(t, path, []byte("silent.test"), true); got != "" {
		t.Errorf("answer %q, want empty", got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer took %v with answer.wait 300ms", took)
	}
}

// TestSocketAnswers: Exim's request forms over the real socket, answered
// byte-exactly, first from a probe that may outlast answer.wait, then from
// the cache.
func TestSocketAnswers(t *testing.T) {
	l := startLab(t)
	s := newService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 500 * time.Millisecond} }))
	path := serveService(t, s)

	// The first request comes back empty within answer.wait; the probe goes on.
	start := time.Now()
	if got := rawQuery(t, path, []byte("slow.test\n"), true); got != "" {
		t.Errorf("first answer %q, want empty while the probe runs", got)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("first answer took %v with answer.wait 500ms", took)
	}
	waitAnswer(t, path, "slow.test", "tlsexport", 30*time.Second)

	for _, req := range []string{"slow.test", "slow.test\n", "SLOW.test.", "postmaster@slow.test", "slow.test\r\n"} {
		start := time.Now()
		if got := rawQuery(t, path, []byte(req), true); got != "tlsexport" {
			t.Errorf("request %q: answer %q, want exactly %q", req, got, "tlsexport")
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("cached answer to %q took %v", req, took)
		}
	}
	if got := rawQuery(t, path, []byte("dh768.test"), true); got != "" && got != "tlsexport" {
		t.Errorf("answer %q", got)
	}
}

func waitAnswer(t *testing.T, path, domain, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rawQuery(t, path, []byte(domain), true)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: answer %q after %v, want %q", domain, got, within, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBurstSharedMX: 1,000 domains that share 3 MX hosts make 3 probes.
func TestBurstSharedMX(t *testing.T) {
	var zone []string
	for i := range 1000 {
		zone = append(zone,
			fmt.Sprintf("d%d.burst.test. 60 IN MX 10 burst-a.test.", i),
			fmt.Sprintf("d%d.burst.test. 60 IN MX 20 burst-b.test.", i),
			fmt.Sprintf("d%d.burst.test. 60 IN MX 30 burst-c.test.", i))
	}
	zone = append(zone, "burst-a.test. 60 IN A 127.0.0.2", "burst-b.test. 60 IN A 127.0.0.3", "burst-c.test. 60 IN A 127.0.0.4")
	l := startLab(t, zone...)
	s := newService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 200 * time.Millisecond} }))
	path := serveService(t, s)
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for i := range 1000 {
		wg.Go(func() {
			d := fmt.Sprintf("d%d.burst.test", i)
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			c.Write([]byte(d))
			c.(*net.UnixConn).CloseWrite()
			b := make([]byte, 64)
			n, _ := c.Read(b)
			if a := string(b[:n]); a != "" && a != "smallkey" {
				errs <- d + ": " + a
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	s.Wait()
	waitAnswer(t, path, "d999.burst.test", "smallkey", 10*time.Second)
	if st := s.hosts.Stats(); st.Loads != 3 {
		t.Errorf("%d probes for 1000 domains over 3 MX hosts, want 3 (stats %+v)", st.Loads, st)
	}
	if st := s.domains.Stats(); st.Loads != 1000 {
		t.Errorf("%d MX lookups, want 1000", st.Loads)
	}
}

// TestAdminVerbs: explain, stats and flush over the socket.
func TestAdminVerbs(t *testing.T) {
	l := startLab(t)
	s := newService(t, l.config(t, nil))
	path := serveService(t, s)
	out := rawQuery(t, path, []byte("explain mixed.test\n"), true)
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

	out = rawQuery(t, path, []byte("stats"), true)
	var st Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats: %v in %q", err, out)
	}
	if st.Hosts.Len != 2 || st.Conns != nil || st.Answers.Empty+st.Answers.TLSExport+st.Answers.SmallKey != 0 {
		t.Errorf("stats: %s", out)
	}

	if got := rawQuery(t, path, []byte("flush mixed.test"), true); got != "ok\n" {
		t.Errorf("flush: %q", got)
	}
	if n := s.hosts.Len(); n != 0 {
		t.Errorf("%d hosts cached after flush of the only domain", n)
	}
	rawQuery(t, path, []byte("explain dh768.test"), true)
	if got := rawQuery(t, path, []byte("flush all\n"), true); got != "ok\n" || s.hosts.Len() != 0 || s.domains.Len() != 0 {
		t.Errorf("flush all: %q, %d hosts, %d domains left", got, s.hosts.Len(), s.domains.Len())
	}
	if got := rawQuery(t, path, []byte("flush bad..name"), true); !strings.HasPrefix(got, "error: ") {
		t.Errorf("flush of a bad name: %q", got)
	}
}

// TestPersistence: a new service answers from the saved cache without DNS
// or probes.
func TestPersistence(t *testing.T) {
	l := startLab(t)
	file := filepath.Join(t.TempDir(), "cache.json")
	s1 := newService(t, l.config(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d := s1.Decide(ctx, "both.test"); d.Verdict != "smallkey" {
		t.Fatalf("both.test: %q", d.Verdict)
	}
	if err := s1.SaveCache(file); err != nil {
		t.Fatal(err)
	}
	// The new service's DNS server and probes lead nowhere.
	s2 := newService(t, l.config(t, func(c *config.Config) {
		c.DNS.Servers = []string{"127.0.0.1:9"}
		c.Probe.Port = 9
	}))
	n, err := s2.LoadCache(file)
	if err != nil || n != 3 {
		t.Fatalf("LoadCache: %d entries, %v; want 3", n, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if d := s2.Decide(ctx2, "both.test"); d.Verdict != "smallkey" {
		t.Errorf("after restart: %+v", d)
	}
	if st := s2.hosts.Stats(); st.Loads != 0 {
		t.Errorf("%d probes after restart, want 0", st.Loads)
	}
}
