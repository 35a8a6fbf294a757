package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// scrapeText fetches the text exposition format and parses it.
func scrapeText(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// counter is the value of the series of name whose labels include these.
func counter(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
next:
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestDaemonMetrics runs the real daemon with [metrics] listen and JSON
// logs: answers from overrides, one good and one refused SIGHUP reload,
// then a scrape over HTTP, parsed from the exposition format. Every log
// line is JSON with a message a postmaster can grep.
func TestDaemonMetrics(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "tlsprobed.sock")
	cfgFile := filepath.Join(dir, "config.toml")
	port := lab.FreePort(t)
	good := fmt.Sprintf(`
[listen]
socket = %q
[dns]
servers = ["127.0.0.1:1"]
timeout = "200ms"
[metrics]
listen = "127.0.0.1:%d"
[overrides]
smallkey = ["small.example"]
tlsexport = ["*.export.example"]
`, sock, port)
	if err := os.WriteFile(cfgFile, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &lab.LogBuffer{}
	cmd := exec.Command(bin, "-config", cfgFile, "-log-format", "json")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logsOnFailure(t, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)

	waitAnswering(t, sock)
	for domain, want := range map[string]string{"small.example": "smallkey", "a.export.example": "tlsexport", "bad..example": ""} {
		got, err := socket.Query(ctx, sock, domain)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", domain, got, err, want)
		}
	}
	hup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	// reloads scrapes until the reload counter of result reaches n.
	reloads := func(result string, n float64) map[string]*dto.MetricFamily {
		t.Helper()
		var fams map[string]*dto.MetricFamily
		lab.WaitFor(t, fmt.Sprintf("reloads{result=%s} = %v in a scrape", result, n), func() bool {
			var err error
			fams, err = scrapeText(ctx, url)
			v, _ := counter(fams, "tlsprobed_config_reloads_total", map[string]string{"result": result})
			return err == nil && v == n
		})
		return fams
	}
	hup()
	reloads("success", 1)
	if err := os.WriteFile(cfgFile, []byte(good+"[probe]\ntimout = \"3s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	checkScrape(t, reloads("failure", 1))

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	// The metrics listener is closed with the daemon.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Error("metrics port still open after exit")
	}

	checkJSONLog(t, logs.String())
}

// checkScrape checks the counters a scrape shows after TestDaemonMetrics'
// requests and reloads, and that the Go, process and build collectors are
// there.
func checkScrape(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tlsprobed_requests_total", map[string]string{"answer": "smallkey", "source": "override"}, 1},
		{"tlsprobed_requests_total", map[string]string{"answer": "tlsexport", "source": "override"}, 1},
		{"tlsprobed_requests_total", map[string]string{"answer": "empty", "source": "invalid"}, 1},
		{"tlsprobed_answer_duration_seconds", nil, 3},
		{"tlsprobed_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"tlsprobed_probes_in_flight", nil, 0},
		{"tlsprobed_names_cached", nil, 0},
		{"tlsprobed_addresses_cached", nil, 0},
	} {
		if v, ok := counter(fams, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_build_info"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go, process and build collectors are missing", name)
		}
	}
}

// checkJSONLog checks that every line of a daemon's log is slog JSON with
// one of the constant messages, and that TestDaemonMetrics' run logged
// what it did.
func checkJSONLog(t *testing.T, log string) {
	t.Helper()
	msgs := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" {
			t.Errorf("log line is not slog JSON: %q (%v)", line, err)
			continue
		}
		msgs[rec.Msg]++
	}
	for msg := range msgs {
		switch msg {
		case "config", "start", "listen", "reload", "helo", "shutdown", "cache", "dns", "probe", "answer":
		default:
			t.Errorf("log message %q is not one of the constant words", msg)
		}
	}
	if msgs["listen"] != 2 || msgs["reload"] < 2 || msgs["shutdown"] != 1 || msgs["answer"] == 0 {
		t.Errorf("log messages %v; want listen (socket and metrics), reload twice, shutdown, answer (the invalid domain)\n%s", msgs, log)
	}
}
