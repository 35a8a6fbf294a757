package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

func TestServiceVerdicts(t *testing.T) {
	l := startLab(t)
	s := newTestService(t, l.config(t, nil))
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
			if d.Verdict.String() != tc.verdict || string(d.Source) != tc.source {
				t.Errorf("verdict %q from %q, want %q from %q", d.Verdict, d.Source, tc.verdict, tc.source)
			}
		})
	}
	t.Run("no-probe-for-overrides", func(t *testing.T) {
		if _, _, _, ok := s.names.Peek("mx-legacy.test"); ok {
			t.Error("mx-legacy.test was looked up although [overrides] names it")
		}
	})
}

// TestServiceTimeoutDNS: a DNS server that never answers costs at most
// answer.wait, and the answer is empty.
func TestServiceTimeoutDNS(t *testing.T) {
	l := startLab(t)
	s := newTestService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 300 * time.Millisecond} }))
	path := serveService(t, s)
	start := time.Now()
	if got := sockettest.Raw(t, path, []byte("silent.test"), true); got != "" {
		t.Errorf("answer %q, want empty", got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer took %v with answer.wait 300ms", took)
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
	s := newTestService(t, l.config(t, func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: 200 * time.Millisecond} }))
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
			// While the three addresses' facts arrive one by one, a
			// domain may be flagged tlsexport by the DHE-768 address
			// before the RSA-1024 one is known: a flag either way.
			if a := string(b[:n]); a != "" && a != "smallkey" && a != "tlsexport" {
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
	waitAnswer(t, s, path, "d999.burst.test", "smallkey")
	if st := s.facts.Stats(); st.Loads != 3 {
		t.Errorf("%d probes for 1000 domains over 3 MX hosts, want 3 (stats %+v)", st.Loads, st)
	}
	if st := s.names.Stats(); st.Loads != 3 {
		t.Errorf("%d address lookups for 3 MX hosts, want 3 (stats %+v)", st.Loads, st)
	}
	if st := s.domains.Stats(); st.Loads != 1000 {
		t.Errorf("%d MX lookups, want 1000", st.Loads)
	}
}
