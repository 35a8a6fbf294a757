package lookupd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// TestListVerb: after real probes, "list" over the socket names the
// flagged hosts and domains, with age, from cached data and the overrides
// in force.
func TestListVerb(t *testing.T) {
	l := startLab(t)
	cfg := l.config(t, nil)
	s := newService(t, cfg)
	path := serveService(t, s)

	// Nothing known yet: empty lists, not null.
	if got := sockettest.Raw(t, path, []byte("list"), true); got != `{"hosts":[],"domains":[]}`+"\n" {
		t.Errorf("list of an empty cache: %q", got)
	}
	for _, d := range []string{"dh768.test", "rsa1024.test", "mixed.test", "both.test", "legacy.test", "modern.test", "quiet.test", "nullmx.test", "broken.test"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s.Decide(ctx, d)
		cancel()
	}

	list := func(req string) Listed {
		t.Helper()
		out := sockettest.Raw(t, path, []byte(req), true)
		if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Fatalf("%s: not one line: %q", req, out)
		}
		var ls Listed
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("%s: %v in %q", req, err, out)
		}
		t.Logf("%s: %s", req, out)
		return ls
	}
	names := func(ls Listed) (hosts, domains []string) {
		for _, h := range ls.Hosts {
			hosts = append(hosts, h.Name+"="+string(h.Outcome))
		}
		for _, d := range ls.Domains {
			domains = append(domains, d.Domain+"="+d.Verdict+"("+strings.Join(d.Hosts, ",")+")")
		}
		return hosts, domains
	}

	ls := list("list")
	hosts, domains := names(ls)
	wantHosts := "mx-rsa1024.test=smallkey mx-dh768.test=tlsexport"
	wantDomains := "both.test=smallkey(mx-rsa1024.test) legacy.test=smallkey(mx-legacy.test) rsa1024.test=smallkey(mx-rsa1024.test) " +
		"dh768.test=tlsexport(mx-dh768.test) mixed.test=tlsexport(mx-dh768.test)"
	if got := strings.Join(hosts, " "); got != wantHosts {
		t.Errorf("hosts: %s\nwant:  %s", got, wantHosts)
	}
	if got := strings.Join(domains, " "); got != wantDomains {
		t.Errorf("domains: %s\nwant:    %s", got, wantDomains)
	}
	for _, h := range ls.Hosts {
		if age, err := time.ParseDuration(h.Age); err != nil || age < 0 || age > time.Minute || h.Probed.IsZero() || h.Stale {
			t.Errorf("host %s: age %q probed %v stale %v", h.Name, h.Age, h.Probed, h.Stale)
		}
		switch h.Name {
		case "mx-rsa1024.test":
			if h.KeyType != "RSA" || h.KeyBits != 1024 {
				t.Errorf("%s: key %s-%d", h.Name, h.KeyType, h.KeyBits)
			}
		case "mx-dh768.test":
			if h.DHBits != 768 || h.Addr == "" {
				t.Errorf("%s: DH %d, addr %q", h.Name, h.DHBits, h.Addr)
			}
		}
	}
	for _, d := range ls.Domains {
		switch {
		case d.Domain == "legacy.test":
			if d.Source != "override" || d.Pattern != "mx-legacy.test" || d.Age != "" {
				t.Errorf("legacy.test: %+v, want the host override and no age", d)
			}
		case d.Source != "probe" || d.Probed.IsZero() || d.Age == "":
			t.Errorf("%s: %+v, want a probe with its age", d.Domain, d)
		}
	}

	if hosts, domains := names(list("list tlsexport")); strings.Join(hosts, " ") != "mx-dh768.test=tlsexport" ||
		strings.Join(domains, " ") != "dh768.test=tlsexport(mx-dh768.test) mixed.test=tlsexport(mx-dh768.test)" {
		t.Errorf("list tlsexport: %v %v", hosts, domains)
	}
	if hosts, domains := names(list("list smallkey")); len(hosts) != 1 || len(domains) != 3 {
		t.Errorf("list smallkey: %v %v", hosts, domains)
	}
	if got := sockettest.Raw(t, path, []byte("list ok"), true); got != "" {
		t.Errorf("list ok: %q, want the empty answer of a malformed request", got)
	}

	// Overrides reloaded since: they decide, without a probe.
	ncfg := l.config(t, func(c *config.Config) {
		c.OverrideLists.None = append(c.OverrideLists.None, "mx-dh768.test")
		c.OverrideLists.TLSExport = append(c.OverrideLists.TLSExport, "modern.test")
	})
	if err := s.Reload(ncfg); err != nil {
		t.Fatal(err)
	}
	hosts, domains = names(list("list"))
	wantDomains = "both.test=smallkey(mx-rsa1024.test) legacy.test=smallkey(mx-legacy.test) rsa1024.test=smallkey(mx-rsa1024.test) " +
		"modern.test=tlsexport()"
	if strings.Join(hosts, " ") != "mx-rsa1024.test=smallkey" || strings.Join(domains, " ") != wantDomains {
		t.Errorf("after reload: %v %v\nwant domains %s", hosts, domains, wantDomains)
	}
}

// TestListTruncated: a list bigger than the budget is cut and says so.
func TestListTruncated(t *testing.T) {
	ls := Listed{}
	for range 10000 {
		ls.Hosts = append(ls.Hosts, ListedHost{Name: strings.Repeat("h", 60) + ".test", Outcome: probe.SmallKey})
	}
	ls.truncate()
	b, _ := json.Marshal(ls)
	if !ls.Truncated || len(ls.Hosts) == 0 || len(b) > listBudget || len(b) > socket.MaxAnswer {
		t.Errorf("truncated %v to %d hosts, %d bytes", ls.Truncated, len(ls.Hosts), len(b))
	}
}
