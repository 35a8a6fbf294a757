package decision

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// world is what the store's loaders find: MX hosts per domain, addresses
// per host, facts per address (a modern server's otherwise). It counts
// the facts loads per address, and the re-probes (refetch) with the time
// of the facts they must be newer than.
type world struct {
	mx    map[string][]string
	addrs map[string][]string
	facts map[string]probe.Facts

	mu       sync.Mutex
	loads    map[netip.Addr]int
	refetchs []store.UnixNano
}

func (w *world) loadMX(_ context.Context, d string) (cache.Loaded[store.Domain], error) {
	hosts, ok := w.mx[d]
	if !ok {
		return cache.Loaded[store.Domain]{Value: store.Domain{Set: mx.Set{NXDomain: true, TTL: time.Minute}}}, nil
	}
	set := mx.Set{TTL: time.Hour}
	for i, h := range hosts {
		set.Hosts = append(set.Hosts, mx.Host{Name: h, Pref: uint16(10 * (i + 1))})
	}
	return cache.Loaded[store.Domain]{Value: store.Domain{Set: set}}, nil
}

func (w *world) loadNames(_ context.Context, h string) (cache.Loaded[store.Name], error) {
	var as []netip.Addr
	for _, a := range w.addrs[h] {
		as = append(as, netip.MustParseAddr(a))
	}
	return cache.Loaded[store.Name]{Value: store.Name{Addrs: as, TTL: time.Hour}}, nil
}

func (w *world) loadFacts(_ context.Context, k store.AddrKey) (cache.Loaded[store.Record], error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.loads[k.AP.Addr()]++
	f, ok := w.facts[k.AP.Addr().String()]
	if !ok {
		f = probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 2048, TLS13: true}
	}
	f.Addr, f.Client, f.Time = k.AP, tlswire.Client(k.Client.String()), time.Now()
	return cache.Loaded[store.Record]{Value: store.NewRecord(&f)}, nil
}

func (w *world) refetch(ctx context.Context, k store.AddrKey, after store.UnixNano) (cache.Loaded[store.Record], error) {
	w.mu.Lock()
	w.refetchs = append(w.refetchs, after)
	w.mu.Unlock()
	return w.loadFacts(ctx, k)
}

func (w *world) loadsOf(a string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.loads[netip.MustParseAddr(a)]
}

// newDecider is a Decider over a store whose loaders are w's, with the
// settings of cfg (config.Default edited by edit).
func newDecider(t *testing.T, w *world, edit func(*config.Config)) (*Decider, *Settings) {
	t.Helper()
	w.loads = map[netip.Addr]int{}
	cfg := config.Default()
	cfg.OverrideLists.None = []string{"mx.never.test"}
	cfg.OverrideLists.SmallKey = []string{"listed.test"}
	cfg.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(store.Options{Hosts: 100, Domains: 100, MaxPending: 100,
		FactsTTL: func(store.Record) time.Duration { return time.Hour },
		LoadMX:   w.loadMX, LoadNames: w.loadNames, LoadFacts: w.loadFacts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Cancel(); st.Wait() })
	return New(st, w.refetch, nil), settingsOf(t, &cfg)
}

// settingsOf are the decision settings of cfg.
func settingsOf(t *testing.T, cfg *config.Config) *Settings {
	t.Helper()
	ov, err := cfg.Overrides()
	if err != nil {
		t.Fatal(err)
	}
	return &Settings{Config: cfg, Overrides: ov, Client: cfg.Probe.Client, Ignore: cfg.Probe.Networks(),
		Policy: verdict.Policy{Client: cfg.Probe.Client, SecLevel: cfg.Probe.OpenSSLSecLevel,
			KeyMinBits: cfg.Probe.KeyMinBits, DHMinBits: cfg.Probe.DHMinBits, NoTLS13: !cfg.Probe.TLS13}}
}

var (
	weakDH  = probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2", KeyType: "RSA", KeyBits: 2048, DHBits: 768}
	smallRS = probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 1024, TLS13: true}
	weak13  = probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.3", KeyType: "RSA", KeyBits: 2048, DHBits: 768, TLS13: true}
)
