package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestStatsFleet: two daemon cores sharing a real Redis; the first probes,
// the second answers from Redis, and `tlsprobe stats` of the second says so.
func TestStatsFleet(t *testing.T) {
	cfg := cliLab(t)
	r := lab.StartRedis(t, lab.RedisOptions{})
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fleetCfg := filepath.Join(t.TempDir(), "fleet.toml")
	if err := os.WriteFile(fleetCfg, append(b, fmt.Appendf(nil, "[redis]\nurl = %q\n", r.URL())...), 0o644); err != nil {
		t.Fatal(err)
	}
	one, two := startDaemon(t, fleetCfg), startDaemon(t, fleetCfg)
	if code, out, _ := runCLI("query", "-socket", one, "example.test"); code != 0 || out != "tlsexport\n" {
		t.Fatalf("relay one: %d %q", code, out)
	}
	if code, out, _ := runCLI("query", "-socket", two, "example.test"); code != 0 || out != "tlsexport\n" {
		t.Fatalf("relay two: %d %q", code, out)
	}
	code, out, _ := runCLI("stats", "-socket", two)
	t.Logf("stats of relay two:\n%s", out)
	for _, re := range []string{
		`(?m)^probes +0 `,
		`(?m)^fleet +redis up +\(\d+ calls, 0 failed, 0 skipped while down; 0 values rejected; locks 0 won, 0 lost\)$`,
		`(?m)^  domains misses +1 +\(from redis 1, a peer's 0, own and shared 0, alone 0\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stats text does not match %s", re)
		}
	}
	if code != 0 {
		t.Errorf("stats: exit %d", code)
	}
}
