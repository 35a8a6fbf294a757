package lookupd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestPersistence: a new service answers from the saved caches (facts,
// names and MX sets) without DNS or probes.
func TestPersistence(t *testing.T) {
	l := startLab(t)
	file := filepath.Join(t.TempDir(), "cache.json")
	s1 := newTestService(t, l.config(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d := s1.Decide(ctx, "both.test"); d.Verdict != verdict.SmallKey {
		t.Fatalf("both.test: %q", d.Verdict)
	}
	if err := s1.SaveCache(file); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, store.NamesFile(file), store.DomainsFile(file)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", f, fi, err)
		}
	}
	// The new service's DNS server leads nowhere, and so would a probe.
	s2 := newTestService(t, l.config(t, func(c *config.Config) { c.DNS.Servers = []string{"127.0.0.1:9"} }))
	n, err := s2.LoadCache(file)
	if err != nil || n != 1+2+2 {
		t.Fatalf("LoadCache: %d entries, %v; want 1 domain, 2 names, 2 addresses", n, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if d := s2.Decide(ctx2, "both.test"); d.Verdict != verdict.SmallKey {
		t.Errorf("after restart: %+v", d)
	}
	if st := s2.Stats(); st.Probes != 0 || st.Names.Loads != 0 || st.Domains.Loads != 0 {
		t.Errorf("after restart: %d probes, %d address and %d MX lookups, want none", st.Probes, st.Names.Loads, st.Domains.Loads)
	}
}

// legacyFile is a cache file as the release before facts per address wrote
// it: probe results (verdicts then) keyed by MX host name, each with the
// address it came from; written for the lab's addresses at port.
func legacyFile(t *testing.T, port int) string {
	t.Helper()
	probed := time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339Nano)
	entry := func(host, addr, outcome, extra string) string {
		return fmt.Sprintf(`{"key":%q,"value":{"addr":"%s:%d","outcome":%q,"tls_version":"TLS1.2","cipher":"TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",`+
			`"key_type":"RSA",%s"time":%q,"duration_ns":12000000,"key_min_bits":2048,"dh_min_bits":1024},"stored":%q}`,
			host, addr, port, outcome, extra, probed, probed)
	}
	doc := `{"version":1,"saved":"` + probed + `","entries":[` + strings.Join([]string{
		entry("mx-dh768.test", "127.0.0.2", "tlsexport", `"key_bits":2048,"dh_bits":768,`),
		entry("mx-rsa1024.test", "127.0.0.3", "smallkey", `"key_bits":1024,`),
		`{"key":"mx-gone.test","value":{"outcome":"error","stage":"dns","error":"look up addresses: server failure","time":"` + probed +
			`","duration_ns":1000},"stored":"` + probed + `"}`,
	}, ",") + `]}`
	file := filepath.Join(t.TempDir(), "cache.json")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestPersistenceLegacy: a host-keyed cache file of the previous release is
// converted on load, with one log line: the facts behind its verdicts
// answer at once, without a probe (only the names are looked up again);
// its errors are dropped. A file that is no cache file is an error that
// leaves the caches empty, never a crash.
func TestPersistenceLegacy(t *testing.T) {
	l := startLab(t)
	file := legacyFile(t, l.Port)
	sink := &lab.LogBuffer{}
	s := loggedService(t, l.config(t, nil), sink)
	n, err := s.LoadCache(file)
	if err != nil || n != 2 {
		t.Fatalf("LoadCache of a legacy file: %d entries, %v; want the 2 results that reached TLS", n, err)
	}
	if c := sink.Count("msg=cache", "converted=2"); c != 1 {
		t.Errorf("%d conversion log lines, want 1:\n%s", c, sink.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for domain, want := range map[string]verdict.Verdict{"dh768.test": verdict.TLSExport, "rsa1024.test": verdict.SmallKey, "both.test": verdict.SmallKey} {
		d := s.Decide(ctx, domain)
		if d.Verdict != want {
			t.Errorf("%s: %q, want %q (%+v)", domain, d.Verdict, want, d)
		}
		for _, h := range d.MX {
			for _, a := range h.Addrs {
				if a.Source != decision.SourceCache || a.Age == "" || !strings.HasPrefix(a.Age, "10m") {
					t.Errorf("%s %s: source %s age %s, want the converted facts with their age", domain, a.Addr, a.Source, a.Age)
				}
			}
		}
	}
	if st := s.Stats(); st.Probes != 0 {
		t.Errorf("%d probes after loading a legacy file, want 0", st.Probes)
	}
	// Saved again, it is the new layout, and loads as such.
	if err := s.SaveCache(file); err != nil {
		t.Fatal(err)
	}
	s2 := newTestService(t, l.config(t, nil))
	if n, err := s2.LoadCache(file); err != nil || n != 2+2+3 {
		t.Errorf("reload of the converted file: %d entries, %v; want 2 addresses, 2 names, 3 domains", n, err)
	}

	bad := filepath.Join(t.TempDir(), "cache.json")
	os.WriteFile(bad, []byte(`{"version":1,"saved":"2026-01-01T00:00:00Z","entries":[{"key":{"x":1},"value":[]}]}`), 0o600)
	s3 := newTestService(t, l.config(t, nil))
	if n, err := s3.LoadCache(bad); !errors.Is(err, cache.ErrCorrupt) || n != 0 || s3.facts.Len() != 0 {
		t.Errorf("LoadCache of junk: %d entries, %v; want ErrCorrupt and nothing loaded", n, err)
	}
}
