package lookupd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// BenchmarkAnswerFromRedis: every request is a local miss of all three
// caches answered from a real redis-server on loopback: the MX set, both
// hosts' addresses and both addresses' facts, in one script call
// (getChain). One and four clients at once send requests as Exim does
// (connect, write, half-close, read to EOF); it reports the latency
// percentiles of that.
//
// Its "local" case is the same harness on caches that hold everything
// (filled from Redis by a first pass): the local hit, for comparison.
func BenchmarkAnswerFromRedis(b *testing.B) {
	r := lab.StartRedis(b, lab.RedisOptions{})
	b.Run("miss/in-process", func(b *testing.B) { benchFromRedis(b, r, 64, 0) })
	for _, c := range []int{1, 4} {
		b.Run(fmt.Sprintf("miss/clients=%d", c), func(b *testing.B) { benchFromRedis(b, r, 64, c) })
	}
	b.Run("local/clients=4", func(b *testing.B) { benchFromRedis(b, r, 20000, 4) })
}

// benchFromRedis runs clients against a service with caches of size (64:
// each request a local miss, as the 10,000 domains go round); clients 0
// is one caller of Service.Decide, without the socket.
func benchFromRedis(b *testing.B, r *lab.Redis, size, clients int) {
	const n = 10000
	cfg := benchConfig(b, 0, 0)
	cfg.Redis.URL = r.URL()
	cfg.Cache.Hosts, cfg.Cache.Domains = size, size
	// Latency, not the breaker: on a busy shared machine a call may wait
	// past the default 100ms for a core.
	cfg.Redis.Timeout.Duration = time.Second
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	s, err := NewService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	closeAtEnd(b, s)
	c, ctx := s.origin.(*fleet.Level).Client(), context.Background()
	// plant writes v under the key of kind (the fleet's key layout:
	// lookupd/fleet's kindFacts, kindName, kindDomain).
	plant := func(v any, kind string, parts ...string) {
		key := c.Key(append([]string{kind}, parts...)...)
		val, err := fleet.Encode(key, v)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Set(ctx, key, val, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	for i := range n {
		f := benchFacts(i, now)
		rec := store.NewRecord(&f)
		plant(&rec, "f", string(f.Client), f.Addr.String())
		plant(&store.Name{Addrs: []netip.Addr{f.Addr.Addr()}}, "n", benchHost(i))
		e := benchEntry(i, n)
		plant(&e, "d", benchDomain(i))
	}
	names, want := benchNames(n)
	addr := &net.UnixAddr{Name: benchServer(b, &socket.Server{Handler: s}), Net: "unix"}
	if size > n {
		for i := range n {
			s.Decide(ctx, names[i])
		}
	}

	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	var next, wrong atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	if clients == 0 {
		for i := range b.N {
			t0 := time.Now()
			d := s.Decide(ctx, names[i%n])
			lat = append(lat, time.Since(t0))
			if d.Verdict.String() != want[i%n] {
				wrong.Add(1)
			}
		}
	}
	for range clients {
		wg.Go(func() {
			buf := make([]byte, 64)
			mine := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					break
				}
				t0 := time.Now()
				got, err := benchQuery(addr, []byte(names[i%n]), buf)
				mine = append(mine, time.Since(t0))
				if err != nil || string(got) != want[i%n] {
					wrong.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	if w := wrong.Load(); w != 0 {
		b.Fatalf("%d of %d answers wrong", w, b.N)
	}
	st := s.Stats().Fleet
	if self := st.Loads["addresses"]["self"] + st.Loads["addresses"]["alone"] + st.Loads["domains"]["self"] + st.Loads["domains"]["alone"]; self != 0 {
		b.Fatalf("%d loads not from Redis: %+v", self, st.Loads)
	}
	if size > n && st.Loads["domains"]["redis"] != n {
		b.Fatalf("%d domain loads for %d domains: not local hits", st.Loads["domains"]["redis"], n)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.5), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(0.999), "p99.9-µs")
	b.ReportMetric(float64(st.Loads["domains"]["redis"])/float64(b.N), "redis-domain-loads/op")
}

// BenchmarkColdBurstFleet is BenchmarkColdBurst over a fleet: three
// services sharing one real redis-server, each asked the same 3,000 cold
// domains (each with its own MX name, over 100 addresses) by 16 clients of
// its own at once, with answer.wait 2s, then again until every relay
// answers every domain right. Reported: probes per address across the
// fleet (goal: 1), connections at the servers, and the time until all
// three answer everything right.
func BenchmarkColdBurstFleet(b *testing.B) {
	const domains, addrs, relays, clients = 3000, 100, 3, 16
	bl := startBurstLab(b, domains, addrs)
	r := lab.StartRedis(b, lab.RedisOptions{})
	cfg := bl.cfg
	cfg.Redis.URL = r.URL()
	var probes, conns int64
	var total time.Duration
	round := 0
	for b.Loop() {
		round++
		cfg.Redis.Prefix = fmt.Sprintf("burst%d:", round)
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
		before := bl.conns()
		var svcs []*Service
		var addrsOf []*net.UnixAddr
		for range relays {
			s, err := NewService(&cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			svcs = append(svcs, s)
			path := sockettest.Start(b, &socket.Server{Handler: s, MaxConns: 2 * clients, Logger: slog.New(slog.DiscardHandler)})
			addrsOf = append(addrsOf, &net.UnixAddr{Name: path, Net: "unix"})
		}
		start := time.Now()
		var wg sync.WaitGroup
		for i := range relays {
			wg.Go(func() {
				pending := make([]int, domains)
				for j := range pending {
					pending[j] = j
				}
				for len(pending) > 0 && time.Since(start) < 2*time.Minute {
					var mu sync.Mutex
					var wrong []int
					fanOut(clients, len(pending), func(j int, buf []byte) {
						d := pending[j]
						got, err := benchQuery(addrsOf[i], []byte(bl.names[d]), buf)
						if err != nil || string(got) != bl.want[d] {
							mu.Lock()
							wrong = append(wrong, d)
							mu.Unlock()
						}
					})
					pending = wrong
				}
				if len(pending) > 0 {
					b.Errorf("relay %d: %d domains still wrong after 2 minutes", i+1, len(pending))
				}
			})
		}
		wg.Wait()
		total += time.Since(start)
		for _, s := range svcs {
			s.Close(context.Background())
			probes += int64(s.Stats().Probes)
		}
		conns += bl.conns() - before
	}
	n := float64(b.N)
	b.ReportMetric(float64(probes)/n/addrs, "probes/address")
	b.ReportMetric(float64(conns)/n/addrs, "connections/address")
	b.ReportMetric(float64(total.Milliseconds())/n, "ms-until-all-right")
	b.ReportMetric(0, "ns/op")
}
