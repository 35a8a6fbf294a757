package lookupd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// TestListVerb: after real probes, "list" over the socket names the
// flagged hosts and domains, with age, from cached data and the overrides
// in force.
func TestListVerb(t *testing.T) {
	l := startLab(t)
	cfg := l.config(t, nil)
	s := newTestService(t, cfg)
	path := serveService(t, s)

	// Nothing known yet: empty lists, not null; the override items.
	if got := sockettest.Raw(t, path, []byte("list"), true); got != `{"addresses":[],"domains":[],"overrides":[`+
		`{"item":"mx-legacy.test","verdict":"smallkey"},{"item":"*.override-wild.test","verdict":"tlsexport"},`+
		`{"item":"override.test","verdict":"tlsexport"}]}`+"\n" {
		t.Errorf("list of an empty cache: %q", got)
	}
	for _, d := range []string{"dh768.test", "rsa1024.test", "mixed.test", "both.test", "legacy.test", "modern.test", "quiet.test", "nullmx.test", "broken.test"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s.Decide(ctx, d)
		cancel()
	}

	list := func(req string) decision.Listed {
		t.Helper()
		out := sockettest.Raw(t, path, []byte(req), true)
		if !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Fatalf("%s: not one line: %q", req, out)
		}
		var ls decision.Listed
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("%s: %v in %q", req, err, out)
		}
		t.Logf("%s: %s", req, out)
		return ls
	}
	// The lab's hosts: 127.0.0.2 mx-dh768.test, 127.0.0.3 mx-rsa1024.test.
	weak := fmt.Sprintf("127.0.0.2:%d", l.Port)
	small := fmt.Sprintf("127.0.0.3:%d", l.Port)
	names := func(ls decision.Listed) (addrs, domains []string) {
		for _, a := range ls.Addrs {
			addrs = append(addrs, fmt.Sprintf("%s=%s[%s|%s]", a.Addr, a.Verdict, strings.Join(a.Names, ","), strings.Join(a.Domains, ",")))
		}
		for _, d := range ls.Domains {
			domains = append(domains, d.Domain+"="+d.Verdict.String()+"("+strings.Join(d.Hosts, ",")+")")
		}
		return addrs, domains
	}

	ls := list("list")
	addrs, domains := names(ls)
	wantAddrs := small + "=smallkey[mx-rsa1024.test|both.test,rsa1024.test] " + weak + "=tlsexport[mx-dh768.test|dh768.test,mixed.test]"
	wantDomains := "both.test=smallkey(mx-rsa1024.test) legacy.test=smallkey(mx-legacy.test) rsa1024.test=smallkey(mx-rsa1024.test) " +
		"dh768.test=tlsexport(mx-dh768.test) mixed.test=tlsexport(mx-dh768.test)"
	if got := strings.Join(addrs, " "); got != wantAddrs {
		t.Errorf("addresses: %s\nwant:      %s", got, wantAddrs)
	}
	if got := strings.Join(domains, " "); got != wantDomains {
		t.Errorf("domains: %s\nwant:    %s", got, wantDomains)
	}
	for _, a := range ls.Addrs {
		if age, err := time.ParseDuration(a.Age); err != nil || age < 0 || age > time.Minute || a.Probed.IsZero() || a.Stale || a.Reason == "" {
			t.Errorf("address %s: age %q probed %v stale %v reason %q", a.Addr, a.Age, a.Probed, a.Stale, a.Reason)
		}
		switch a.Addr.String() {
		case small:
			if a.KeyType != "RSA" || a.KeyBits != 1024 {
				t.Errorf("%s: key %s-%d", a.Addr, a.KeyType, a.KeyBits)
			}
		case weak:
			if a.DHBits != 768 {
				t.Errorf("%s: DH %d", a.Addr, a.DHBits)
			}
		}
	}
	for _, d := range ls.Domains {
		switch {
		case d.Domain == "legacy.test":
			if d.Source != decision.SourceOverride || d.Pattern != "mx-legacy.test" {
				t.Errorf("legacy.test: %+v, want the host override", d)
			}
		case d.Source != decision.SourceMX:
			t.Errorf("%s: %+v, want facts", d.Domain, d)
		}
	}

	if addrs, domains := names(list("list tlsexport")); strings.Join(addrs, " ") != weak+"=tlsexport[mx-dh768.test|dh768.test,mixed.test]" ||
		strings.Join(domains, " ") != "dh768.test=tlsexport(mx-dh768.test) mixed.test=tlsexport(mx-dh768.test)" {
		t.Errorf("list tlsexport: %v %v", addrs, domains)
	}
	if ls := list("list smallkey"); len(ls.Addrs) != 1 || len(ls.Domains) != 3 || len(ls.Overrides) != 1 {
		t.Errorf("list smallkey: %+v", ls)
	}
	if got, want := sockettest.Raw(t, path, []byte("list ok"), true), "error: bad request: list takes smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing\n"; got != want {
		t.Errorf("list ok: %q, want %q (an admin verb with a bad argument is told why)", got, want)
	}

	// Overrides reloaded since: they decide, without a probe. The weak
	// server stays listed (its facts have not changed), but no name or
	// domain leads to it any more.
	probes := s.Stats().Probes
	ncfg := l.config(t, func(c *config.Config) {
		c.OverrideLists.None = append(c.OverrideLists.None, "mx-dh768.test")
		c.OverrideLists.TLSExport = append(c.OverrideLists.TLSExport, "modern.test")
	})
	if err := s.Reload(ncfg); err != nil {
		t.Fatal(err)
	}
	addrs, domains = names(list("list"))
	wantAddrs = small + "=smallkey[mx-rsa1024.test|both.test,rsa1024.test] " + weak + "=tlsexport[|]"
	wantDomains = "both.test=smallkey(mx-rsa1024.test) legacy.test=smallkey(mx-legacy.test) rsa1024.test=smallkey(mx-rsa1024.test) " +
		"modern.test=tlsexport()"
	if strings.Join(addrs, " ") != wantAddrs || strings.Join(domains, " ") != wantDomains {
		t.Errorf("after reload: %v %v\nwant %s\nand  %s", addrs, domains, wantAddrs, wantDomains)
	}
	if n := s.Stats().Probes; n != probes {
		t.Errorf("%d probes after the reload, want none", n-probes)
	}
}
