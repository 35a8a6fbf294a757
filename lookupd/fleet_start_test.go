package lookupd

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// TestNoFleetUnchanged: without [redis] the service has no Redis level:
// no fleet in stats, no Redis metrics, the loaders as before.
func TestNoFleetUnchanged(t *testing.T) {
	cfg := config.Default()
	if cfg.Redis.Enabled() {
		t.Fatal("the default config has a fleet")
	}
	s, err := NewService(&cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, ok := s.origin.(*fleet.Level); ok {
		t.Fatal("a Redis level without [redis] url")
	}
	b, _ := json.Marshal(s.Stats())
	if strings.Contains(string(b), "fleet") || strings.Contains(string(b), "redis") {
		t.Errorf("stats without a fleet: %s", b)
	}
	reg := prometheus.NewRegistry()
	if _, err := s.Instrument(reg); err != nil {
		t.Fatal(err)
	}
	fams, _ := reg.Gather()
	for _, f := range fams {
		if strings.Contains(f.GetName(), "redis") || strings.Contains(f.GetName(), "fleet") {
			t.Errorf("metric %s without a fleet", f.GetName())
		}
	}
}

// TestFleetRedisAbsentAtStart: a relay whose Redis is not there answers
// and probes alone, logs it once, and writes to Redis once it is there.
func TestFleetRedisAbsentAtStart(t *testing.T) {
	l := startLab(t)
	r := lab.StartRedis(t, lab.RedisOptions{})
	r.Kill()
	a := startRelay(t, l, r.URL(), "absent:", nil)
	checkAnswers(t, "relay alone", askAll(t, a.path, fleetDomains()))
	a.s.Wait()
	if st := a.s.Stats().Fleet; st.Redis.State != "down" || st.Loads["addresses"]["alone"] != 4 {
		t.Errorf("with Redis absent: %+v", st)
	}
	if n := a.log.Count("msg=redis", "state=down"); n != 1 {
		t.Errorf("%d 'down' lines, want 1", n)
	}
	r.Restart()
	// Each round's calls let the breaker try Redis again once its
	// cool-down is over; the round ends when its loads have.
	lab.WaitFor(t, "dh768.test's MX set written to Redis once it is back", func() bool {
		sockettest.Raw(t, a.path, []byte("flush dh768.test"), true)
		askAll(t, a.path, []string{"dh768.test"})
		a.s.Wait()
		return redisDo(t, r, "EXISTS", "absent:d:dh768.test") == int64(1)
	})
}

// queryCtx sends one request and returns the answer.
func queryCtx(ctx context.Context, path, req string) (string, error) {
	b, err := socket.Query(ctx, path, req)
	return string(b), err
}

func mustAP(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestFleetRestartOnly: [redis] is taken at start; a reload that changes
// it says so (the Redis level stays as it was), and a Redis that is not
// there is no error of NewService (it is down until it answers).
func TestFleetRestartOnly(t *testing.T) {
	cfg := config.Default()
	cfg.Redis.URL = "redis://127.0.0.1:1/0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := NewService(&cfg, testLogger(t))
	if err != nil {
		t.Fatalf("NewService with a Redis that is not there: %v", err)
	}
	defer s.Close(context.Background())
	next := cfg
	next.Redis.Prefix = "other:"
	if got := s.RestartOnly(&next); len(got) != 1 || got[0] != "redis" {
		t.Errorf("RestartOnly after a new prefix: %v, want [redis]", got)
	}
	before := s.origin
	if err := s.Reload(&next); err != nil || s.origin != before || s.origin.(*fleet.Level).Client().Key("x") != "tlsprobed:x" {
		t.Errorf("reload replaced the Redis level (%v)", err)
	}
}
