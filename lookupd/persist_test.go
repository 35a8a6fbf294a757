package lookupd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
)

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
