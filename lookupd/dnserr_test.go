package lookupd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// failingDNS fails every lookup with err, or, when block is set, waits for
// the lookup's context to end.
type failingDNS struct {
	err   error
	block bool
}

func (f *failingDNS) LookupMX(ctx context.Context, domain string) (mx.Set, error) {
	if f.block {
		<-ctx.Done()
		return mx.Set{}, fmt.Errorf("look up MX: %w", mx.ErrTimeout)
	}
	return mx.Set{}, fmt.Errorf("look up MX for %s: %w", domain, f.err)
}

func (f *failingDNS) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	if f.block {
		<-ctx.Done()
		return nil, 0, fmt.Errorf("look up addresses: %w", mx.ErrTimeout)
	}
	return nil, 0, fmt.Errorf("look up addresses for %s: %w", host, f.err)
}

// TestDNSErrorKeepsKind: a DNS failure stored in the caches still answers
// errors.Is for the resolver's sentinel, in memory and after a save and a
// load of the cache files.
func TestDNSErrorKeepsKind(t *testing.T) {
	for _, sentinel := range []error{mx.ErrServFail, mx.ErrTimeout} {
		s := fakeService(t, &failingDNS{err: sentinel}, &fakeProber{probes: map[netip.AddrPort]int{}}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, _, err := s.domains.Get(ctx, "broken.test")
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := s.names.Get(ctx, "mx.broken.test")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(d.DNSErr(), sentinel) || !errors.Is(n.DNSErr(), sentinel) {
			t.Fatalf("cached errors %v, %v are not %v", d.DNSErr(), n.DNSErr(), sentinel)
		}
		path := filepath.Join(t.TempDir(), "cache.json")
		if err := s.SaveCache(path); err != nil {
			t.Fatal(err)
		}
		r := fakeService(t, &fakeDNS{}, &fakeProber{probes: map[netip.AddrPort]int{}}, nil)
		if _, err := r.LoadCache(path); err != nil {
			t.Fatal(err)
		}
		d, _, _, _ = r.domains.Peek("broken.test")
		n, _, _, _ = r.names.Peek("mx.broken.test")
		if !errors.Is(d.DNSErr(), sentinel) || !errors.Is(n.DNSErr(), sentinel) {
			t.Fatalf("errors loaded from the file %v, %v are not %v", d.DNSErr(), n.DNSErr(), sentinel)
		}
	}
	old := store.Domain{Err: "a file saved before kinds"}
	if err := old.DNSErr(); err == nil || errors.Is(err, mx.ErrServFail) || errors.Is(err, mx.ErrTimeout) {
		t.Fatalf("an entry without a kind: %v", err)
	}
}

// TestDNSLoadCutShort: a lookup cut short by its load's context (the
// service closing) is the load's error, not a DNS failure to cache:
// nothing was learnt of the domain. Before, the loaders' errors were
// always nil.
func TestDNSLoadCutShort(t *testing.T) {
	s := fakeService(t, &failingDNS{block: true}, &fakeProber{probes: map[netip.AddrPort]int{}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { _, err := s.origin.MX(ctx, "slow.test"); done <- err }()
	go func() { _, err := s.origin.Names(ctx, "mx.slow.test"); done <- err }()
	cancel()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("a lookup cut short returned %v, want context.Canceled", err)
		}
	}
}
