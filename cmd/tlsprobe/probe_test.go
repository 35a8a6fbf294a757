package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

var cliHosts = []lab.MXHost{
	{Name: "mx-weak.test", OpenSSL: &lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}},
	{Name: "mx-small.test", OpenSSL: &lab.OpenSSLOptions{Cert: "rsa1024", MaxTLS: "1.2"}},
	{Name: "mx-modern.test", Exim: &lab.EximOptions{}},
	{Name: "mx-notls.test", Exim: &lab.EximOptions{NoSTARTTLS: true}},
	{Name: "mx-busy.test", OpenSSL: &lab.OpenSSLOptions{Banner: []string{"421 4.3.2 busy"}}},
	{Name: "mx-both13.test", OpenSSL: &lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE"}},
	{Name: "mx-dsa.test", OpenSSL: &lab.OpenSSLOptions{Cert: "dsa1024", DH: "dh1024", MaxTLS: "1.2"}},
	{Name: "mx-only13.test", OpenSSL: &lab.OpenSSLOptions{Cert: "rsa1024", MinTLS: "1.3"}},
}

var cliZone = []string{
	"weak.test. 60 IN MX 10 mx-weak.test.",
	"small.test. 60 IN MX 10 mx-small.test.",
	"modern.test. 60 IN MX 10 mx-modern.test.",
	"notls.test. 60 IN MX 10 mx-notls.test.",
	"busy.test. 60 IN MX 10 mx-busy.test.",
	"both13.test. 60 IN MX 10 mx-both13.test.",
	"nullmx.test. 60 IN MX 0 .",
	"dsa.test. 60 IN MX 10 mx-dsa.test.",
	"only13.test. 60 IN MX 10 mx-only13.test.",
	"example.test. 60 IN MX 10 mx-modern.test.",
	"example.test. 60 IN MX 20 mx-weak.test.",
}

// cliLab starts the lab and writes a config file aimed at it.
func cliLab(t *testing.T) string {
	t.Helper()
	lab.Require(t, "gcc", "exim")
	l := lab.StartMXLab(t, cliHosts, cliZone...)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `
[dns]
servers = ["%s"]
timeout = "2s"
[probe]
port = %d
helo = "relay.test"
timeout = "15s"
ignore_networks = []
rate_per_address = 0
[overrides]
tlsexport = ["weak.test"]  # ignored by probe: it probes
`, l.DNS, l.Port), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestProbeCommand(t *testing.T) {
	cfg := cliLab(t)

	code, out, stderr := runCLI("probe", "-json", "-config", cfg, "weak.test", "small.test", "modern.test", "notls.test", "both13.test",
		"nullmx.test", "dsa.test", "only13.test", "example.test")
	t.Logf("%s%s", out, stderr)
	if code != 0 {
		t.Errorf("exit %d, want 0 when every domain is classified", code)
	}
	want := map[string]string{"weak.test": "tlsexport", "small.test": "smallkey", "modern.test": "", "notls.test": "", "both13.test": "",
		"nullmx.test": "", "dsa.test": "smallkey", "only13.test": "smallkey", "example.test": "tlsexport"}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d JSON lines, want %d", len(lines), len(want))
	}
	for _, line := range lines {
		var d struct {
			Domain  string            `json:"domain"`
			Verdict *string           `json:"verdict"`
			MX      []json.RawMessage `json:"mx"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil || d.Verdict == nil || d.MX == nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		if w, ok := want[d.Domain]; !ok || *d.Verdict != w {
			t.Errorf("%s: verdict %q, want %q", d.Domain, *d.Verdict, w)
		}
	}

	// The human report says why, per the verdict.
	code, out, _ = runCLI("probe", "-config", cfg, "weak.test", "small.test")
	t.Logf("%s", out)
	for _, s := range []string{
		"weak.test: tlsexport",
		"sends a 768-bit DH prime to the gnutls client, under dh_min_bits 1024 (Exim's tls_dh_min_bits)",
		"small.test: smallkey",
		"presents a 1024-bit RSA certificate key, under key_min_bits 2048",
		"TLS_DHE_RSA_WITH_",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}

	// A server that speaks TLS 1.3 is fine unless the client model lacks it.
	if _, out, _ := runCLI("probe", "-json", "-config", cfg, "-no-tls13", "both13.test"); !strings.Contains(out, `"verdict":"tlsexport"`) {
		t.Errorf("-no-tls13 both13.test: %s", out)
	}
	// An OpenSSL Exim cannot reach a DHE-only server with a 768-bit prime
	// over TLS at all (OpenSSL refuses it at every security level): no
	// answer helps, and the report says so.
	if _, out, _ := runCLI("probe", "-json", "-config", cfg, "-client", "openssl", "weak.test"); !strings.Contains(out, `"verdict":""`) ||
		!strings.Contains(out, `"no_tls_possible":true`) || !strings.Contains(out, `"no_dhe":"refused"`) {
		t.Errorf("-client openssl weak.test: %s", out)
	}
	if _, out, _ := runCLI("probe", "-config", cfg, "-client", "openssl", "weak.test"); !strings.Contains(out, " no-tls ") ||
		!strings.Contains(out, "no TLS possible from this client") {
		t.Errorf("-client openssl weak.test report: %s", out)
	}

	// A probe that fails: exit 1, and the report names the stage.
	code, out, _ = runCLI("probe", "-config", cfg, "busy.test", "modern.test")
	if code != 1 || !strings.Contains(out, "stage banner") {
		t.Errorf("busy.test: exit %d, report %q; want 1 and the stage", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frob"}, {"probe"}, {"probe", "-nosuchflag", "a.test"},
		{"query"}, {"stats", "extra"}, {"flush"},
		{"probe", "-config", "/nonexistent/config.toml", "a.test"},
		{"probe", "-client", "schannel", "a.test"},
	} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := runCLI("-version"); code != 0 || !strings.HasPrefix(out, "tlsprobe ") {
		t.Errorf("-version: %d %q", code, out)
	}
}

// TestQueryCommands runs query, explain, stats and flush against a real
// daemon core serving a socket.
func TestQueryCommands(t *testing.T) {
	cfg := cliLab(t)
	sock := startDaemon(t, cfg)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "-socket", sock, "weak.test"}, "tlsexport\n"}, // an override in that config
		{[]string{"query", "-socket", sock, "nullmx.test"}, "\n"},
		{[]string{"flush", "-socket", sock, "all"}, "ok\n"},
	} {
		code, out, stderr := runCLI(tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%q: exit %d, %q %q; want %q", tc.args, code, out, stderr, tc.want)
		}
	}
	code, out, _ := runCLI("explain", "-json", "-socket", sock, "small.test")
	if code != 0 || !strings.Contains(out, `"verdict":"smallkey"`) {
		t.Errorf("explain: %d %q", code, out)
	}
	code, out, _ = runCLI("stats", "-json", "-socket", sock)
	if code != 0 || !strings.Contains(out, `"answers"`) {
		t.Errorf("stats: %d %q", code, out)
	}
	if code, _, stderr := runCLI("query", "-socket", filepath.Join(t.TempDir(), "none.sock"), "a.test"); code != 1 || !strings.Contains(stderr, "connect") {
		t.Errorf("query of a missing socket: exit %d, %q", code, stderr)
	}
}

// startDaemon serves the lookupd service configured by cfgFile on a
// socket and returns the socket path.
func startDaemon(t *testing.T, cfgFile string) string {
	t.Helper()
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Answer.Wait.Duration = 20 * time.Second
	svc, err := lookupd.NewService(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	ln, err := socket.ListenUnix(sock, 0o600, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &socket.Server{Handler: svc}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()); svc.Wait() })
	return sock
}

// TestReportHostOverride: a host decided by [overrides] shows no address
// (none was looked up), says "override" where explain shows the source,
// and names the item in the why line only.
func TestReportHostOverride(t *testing.T) {
	d := decision.Decision{Domain: "legacy.test", Verdict: verdict.SmallKey, Source: decision.SourceMX, MX: []decision.HostReport{
		{Name: "mx-legacy.test", Pref: 10, Source: decision.SourceOverride, Pattern: "*.legacy-example.com", Verdict: verdict.SmallKey},
	}}
	var b strings.Builder
	writeReport(&b, d, true)
	out := b.String()
	t.Log(out)
	for _, re := range []string{
		`(?m)^  mx-legacy\.test +10 +- +override +- +smallkey +- +- +- +- +-$`,
		`(?m)^  why: mx-legacy\.test is named by the \[overrides\] item "\*\.legacy-example\.com": no DNS, no probe$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("report does not match %s", re)
		}
	}
	if strings.Count(out, "legacy-example") != 1 {
		t.Errorf("the pattern is shown outside the why line:\n%s", out)
	}
}
