package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// TestLogLines: in JSON format, many requests for domains sharing one MX
// host make exactly one "probe" line with the host, outcome and duration;
// each answer makes one debug "answer" line; every message is one of the
// constant words a postmaster greps for.
func TestLogLines(t *testing.T) {
	l := startLab(t)
	weak := fmt.Sprintf("127.0.0.2:%d", l.Port) // mx-dh768.test
	var buf lab.LogBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := NewService(l.config(t, nil), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	var wg sync.WaitGroup
	for i := range 20 {
		d := []string{"dh768.test", "mixed.test", "user@DH768.test", "broken.test", "bad..domain"}[i%5]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.Handle(ctx, socket.Request{Verb: socket.VerbDomain, Arg: d})
		})
	}
	wg.Wait()
	s.Wait()

	var probes []map[string]any
	answers := 0
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		switch rec["msg"] {
		case "probe":
			probes = append(probes, rec)
		case "answer":
			if rec["level"] == "DEBUG" {
				answers++
				for _, k := range []string{"domain", "answer", "source", "duration"} {
					if _, ok := rec[k]; !ok {
						t.Errorf("answer line without %q: %s", k, line)
					}
				}
			}
		case "dns":
			if rec["domain"] != "broken.test" || rec["level"] != "WARN" {
				t.Errorf("dns line: %s", line)
			}
		default:
			t.Errorf("log message %v is not one of the constant words: %s", rec["msg"], line)
		}
	}
	if answers != 20 {
		t.Errorf("%d debug answer lines for 20 answers", answers)
	}
	if len(probes) != 2 {
		t.Fatalf("%d probe lines, want 2 (the addresses of mx-dh768.test and mx-modern.test, once each): %v", len(probes), probes)
	}
	for _, p := range probes {
		if p["level"] != "INFO" {
			t.Errorf("probe line at level %v", p["level"])
		}
		for _, k := range []string{"addr", "client", "outcome", "stage", "tls", "key_type", "key_bits", "dh_bits", "tls13", "verdict", "duration", "err"} {
			if _, ok := p[k]; !ok {
				t.Errorf("probe line without %q: %v", k, p)
			}
		}
		if d, ok := p["duration"].(float64); !ok || d <= 0 {
			t.Errorf("probe duration %v, want nanoseconds > 0", p["duration"])
		}
		if p["addr"] == weak && (p["outcome"] != "ok" || p["verdict"] != "tlsexport" || p["dh_bits"] != float64(768)) {
			t.Errorf("probe line of mx-dh768.test's address: %v", p)
		}
	}
}
