package lookupd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/origin"
)

// switchDNS is fakeDNS (works) or failingDNS, switched by the test.
type switchDNS struct {
	works fakeDNS
	fail  atomic.Pointer[Resolver]
}

func (d *switchDNS) now() Resolver {
	if r := d.fail.Load(); r != nil {
		return *r
	}
	return &d.works
}
func (d *switchDNS) LookupMX(ctx context.Context, domain string) (mx.Set, error) {
	return d.now().LookupMX(ctx, domain)
}
func (d *switchDNS) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return d.now().LookupAddrs(ctx, host)
}

// TestDNSPatternLogged: when every domain is NXDOMAIN, or every lookup
// SERVFAILs, one info line says so (with the pattern and a pointer to
// explain), however many lookups fail after; one says when lookups work
// again; a few failures among working lookups log no pattern.
func TestDNSPatternLogged(t *testing.T) {
	dns := &switchDNS{works: fakeDNS{mx: map[string][]string{}, addrs: map[string][]netip.Addr{}}}
	for i := range 100 {
		dns.works.mx[fmt.Sprintf("ok%d.test", i)] = []string{"mx.ok.test"}
	}
	var logs lab.LogBuffer
	cfg := config.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := newService(&cfg, slog.New(slog.NewTextHandler(&logs, nil)), dns, (&fakeProber{probes: map[netip.AddrPort]int{}}).probe)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	n := 0
	lookup := func(prefix string, count int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range count {
			n++
			if _, _, err := s.domains.Get(ctx, fmt.Sprintf("%s%d.test", prefix, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	pattern := func(p string) int {
		return logs.Count("msg=dns", "event=\"every lookup fails\"", "pattern="+p, "explain")
	}
	again := func() int { return logs.Count("msg=dns", "event=\"lookups work again\"") }

	lookup("nx", origin.DNSPatternRun-1) // a few unknown domains: no pattern
	lookup("ok", 1)
	lookup("nx", origin.DNSPatternRun-1)
	if pattern("nxdomain") != 0 || again() != 0 {
		t.Fatalf("a pattern logged after %d NXDOMAINs in a row:\n%s", origin.DNSPatternRun-1, logs.String())
	}
	lookup("nx", 30) // every domain NXDOMAIN
	if pattern("nxdomain") != 1 {
		t.Fatalf("%d nxdomain pattern lines after 30 NXDOMAINs in a row, want 1:\n%s", pattern("nxdomain"), logs.String())
	}
	var fail Resolver = &failingDNS{err: mx.ErrServFail}
	dns.fail.Store(&fail)
	lookup("sf", 20)
	if pattern("mixed") != 1 || pattern("servfail") != 0 {
		t.Fatalf("after NXDOMAINs then SERVFAILs in one run: mixed %d, servfail %d, want 1, 0:\n%s", pattern("mixed"), pattern("servfail"), logs.String())
	}
	dns.fail.Store(nil)
	n = 0
	lookup("ok", 3)
	if again() != 1 {
		t.Fatalf("%d 'work again' lines, want 1:\n%s", again(), logs.String())
	}
	dns.fail.Store(&fail)
	n = 100
	lookup("sf", 20)
	if pattern("servfail") != 1 {
		t.Fatalf("%d servfail pattern lines, want 1:\n%s", pattern("servfail"), logs.String())
	}
}
