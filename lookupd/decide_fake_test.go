package lookupd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Fast tests of the decision logic through the Resolver and Prober seams:
// no server, no DNS. The real servers prove the same paths in
// address_test.go and decide_test.go.

// fakeDNS answers from maps; a name in neither has no address.
type fakeDNS struct {
	mx    map[string][]string     // domain -> MX host names, in preference order
	addrs map[string][]netip.Addr // host name -> addresses, as DNS gives them (IPv6 first)
}

func (f *fakeDNS) LookupMX(_ context.Context, domain string) (mx.Set, error) {
	hosts, ok := f.mx[domain]
	if !ok {
		return mx.Set{NXDomain: true, TTL: time.Minute}, nil
	}
	s := mx.Set{TTL: time.Hour}
	for i, h := range hosts {
		s.Hosts = append(s.Hosts, mx.Host{Name: h, Pref: uint16(10 * (i + 1))})
	}
	return s, nil
}

func (f *fakeDNS) LookupAddrs(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return f.addrs[host], time.Hour, nil
}

// fakeProber returns the facts set for an IP address (ok with a modern key
// otherwise) and counts the probes per address.
type fakeProber struct {
	mu     sync.Mutex
	facts  map[netip.Addr]probe.Facts
	probes map[netip.AddrPort]int
}

func (p *fakeProber) probe(_ context.Context, ap netip.AddrPort, o probe.Options) probe.Facts {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes[ap]++
	f, ok := p.facts[ap.Addr()]
	if !ok {
		f = probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 2048, TLS13: true}
	}
	f.Addr, f.Client, f.Time = ap, o.Client, time.Now()
	return f
}

func (p *fakeProber) count(a string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for ap, c := range p.probes {
		if ap.Addr() == netip.MustParseAddr(a) {
			n += c
		}
	}
	return n
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func fakeService(t *testing.T, dns Resolver, p *fakeProber, edit func(*config.Config)) *Service {
	t.Helper()
	return fakeServiceLog(t, dns, p, edit, testLogger(t))
}

// fakeServiceLog is fakeService logging to log.
func fakeServiceLog(t *testing.T, dns Resolver, p *fakeProber, edit func(*config.Config), log *slog.Logger) *Service {
	t.Helper()
	cfg := config.Default()
	cfg.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	cfg.Probe.RatePerAddress = config.RateEvery(0)
	cfg.OverrideLists.None = []string{"mx.never.test"}
	cfg.OverrideLists.SmallKey = []string{"listed.test"}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newService(&cfg, log, dns, p.probe)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	return s
}

// TestDecideFake: the verdict is the largest over every considered address
// of every MX host; overrides decide without DNS or probe; ignored networks
// and max_addresses bound what is considered; each address is probed once.
func TestDecideFake(t *testing.T) {
	weak := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 768}
	small := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 1024, TLS13: true}
	both13 := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 2048, DHBits: 768, TLS13: true}
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{
		netip.MustParseAddr("192.0.2.2"): weak, netip.MustParseAddr("2001:db8::2"): weak,
		netip.MustParseAddr("192.0.2.3"): small, netip.MustParseAddr("192.0.2.7"): both13,
	}}
	dns := &fakeDNS{
		mx: map[string][]string{
			"modern.test": {"mx.modern.test"}, "weak6.test": {"mx.dual6.test"}, "twoa.test": {"mx.twoa.test"},
			"mixed.test": {"mx.modern.test", "mx.weak.test"}, "both.test": {"mx.weak.test", "mx.small.test"},
			"never.test": {"mx.never.test"}, "ignored.test": {"mx.ignored.test"}, "third.test": {"mx.third.test"},
			"both13.test": {"mx.both13.test"}, "noaddr.test": {"mx.noaddr.test"}, "listed.test": {"mx.weak.test"},
		},
		addrs: map[string][]netip.Addr{
			"mx.modern.test": addrs("192.0.2.4"), "mx.weak.test": addrs("192.0.2.2"), "mx.small.test": addrs("192.0.2.3"),
			"mx.dual6.test": addrs("2001:db8::2", "192.0.2.4"), "mx.twoa.test": addrs("192.0.2.4", "192.0.2.2"),
			"mx.never.test": addrs("192.0.2.2"), "mx.ignored.test": addrs("10.1.1.1", "192.0.2.4"),
			"mx.third.test": addrs("192.0.2.4", "192.0.2.5", "192.0.2.2"), "mx.both13.test": addrs("192.0.2.7"),
		},
	}
	s := fakeService(t, dns, p, func(c *config.Config) { c.Probe.MaxAddresses = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		domain string
		want   verdict.Verdict
		source decision.Source
	}{
		{"modern.test", verdict.None, decision.SourceMX},
		{"weak6.test", verdict.TLSExport, decision.SourceMX}, // the AAAA is weak
		{"twoa.test", verdict.TLSExport, decision.SourceMX},  // the second A is weak
		{"mixed.test", verdict.TLSExport, decision.SourceMX}, // any MX host counts
		{"both.test", verdict.SmallKey, decision.SourceMX},   // smallkey beats tlsexport
		{"never.test", verdict.None, decision.SourceMX},      // the host is in [overrides] none
		{"ignored.test", verdict.None, decision.SourceMX},    // 10.1.1.1 is ignored, never probed
		{"third.test", verdict.None, decision.SourceMX},      // the weak address is the third; max_addresses 2
		{"both13.test", verdict.None, decision.SourceMX},     // TLS 1.3 spoken: not tlsexport
		{"noaddr.test", verdict.None, decision.SourceMX},     // no address at all
		{"listed.test", verdict.SmallKey, decision.SourceOverride},
		{"nxdomain.test", verdict.None, decision.SourceDNS},
	} {
		d := s.Decide(ctx, tc.domain)
		if d.Verdict != tc.want || d.Source != tc.source {
			t.Errorf("%s: %q from %s, want %q from %s (%+v)", tc.domain, d.Verdict, d.Source, tc.want, tc.source, d)
		}
	}
	for a, want := range map[string]int{"192.0.2.2": 1, "192.0.2.4": 1, "2001:db8::2": 1, "10.1.1.1": 0, "192.0.2.5": 1, "192.0.2.7": 1} {
		if n := p.count(a); n != want {
			t.Errorf("%s probed %d times, want %d", a, n, want)
		}
	}
	if _, _, _, ok := s.names.Peek("mx.never.test"); ok {
		t.Error("mx.never.test was looked up although [overrides] names it")
	}

	// The same facts under another policy: no probe.
	before := len(p.probes)
	ncfg := *s.st.Load().Config
	ncfg.Probe.TLS13 = false
	ncfg.Probe.KeyMinBits = 1024
	if err := s.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]verdict.Verdict{"both13.test": verdict.TLSExport, "both.test": verdict.TLSExport, "modern.test": verdict.None} {
		if d := s.Decide(ctx, domain); d.Verdict != want {
			t.Errorf("after the reload: %s: %q, want %q", domain, d.Verdict, want)
		}
	}
	if len(p.probes) != before {
		t.Errorf("the reload probed")
	}
}

// TestDecideFakeBurst: 1,000 domains with their own MX names on 3
// addresses, asked at once: 3 probes, every domain answered from them.
func TestDecideFakeBurst(t *testing.T) {
	weak := probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 512}
	p := &fakeProber{probes: map[netip.AddrPort]int{}, facts: map[netip.Addr]probe.Facts{netip.MustParseAddr("192.0.2.1"): weak}}
	dns := &fakeDNS{mx: map[string][]string{}, addrs: map[string][]netip.Addr{}}
	for i := range 1000 {
		d, h := fmt.Sprintf("d%d.test", i), fmt.Sprintf("mx%d.hoster.test", i)
		dns.mx[d] = []string{h}
		dns.addrs[h] = addrs(fmt.Sprintf("192.0.2.%d", i%3+1))
	}
	s := fakeService(t, dns, p, nil)
	var wg sync.WaitGroup
	got := make([]verdict.Verdict, 1000)
	for i := range 1000 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got[i] = s.Decide(ctx, fmt.Sprintf("d%d.test", i)).Verdict
		})
	}
	wg.Wait()
	for i, v := range got {
		if want := map[bool]verdict.Verdict{true: verdict.TLSExport, false: verdict.None}[i%3 == 0]; v != want {
			t.Errorf("d%d.test: %q, want %q", i, v, want)
		}
	}
	if n := len(p.probes); n != 3 || s.Stats().Probes != 3 {
		t.Errorf("%d addresses probed, %d probes; want 3 and 3", n, s.Stats().Probes)
	}
}
