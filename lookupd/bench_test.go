package lookupd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Benchmarks of the cached request path. The services here are warmed by
// storing realistic entries in their caches (what a probe or an MX lookup
// would have stored); their DNS server and SMTP port lead nowhere, so a
// request that missed the cache would show as a wrong answer, not as a fast one.
//
// scripts/bench sets TLSPROBE_BENCH_CACHE_FILE: BenchmarkLoadCache then
// leaves its 100,000-host, 100,000-domain cache file there for the daemon's
// start-up and memory figures; TLSPROBE_BENCH_CACHE_SIZE changes its size and
// TLSPROBE_BENCH_HEAP_PROFILE names a file for the heap profile once loaded.

// benchDomain and benchHost name the synthetic domains and MX hosts: domain
// i has MX hosts i (preference 10) and i+1 (20), modulo the host count.
func benchDomain(i int) string { return fmt.Sprintf("d%d.bench.test", i) }
func benchHost(i int) string   { return fmt.Sprintf("mx%d.bench.test", i) }

// benchAddr is host i's one address (port 9 of benchConfig), in the IPv6
// documentation prefix 2001:db8::/32, to which this machine has no route: a
// probe that a cache miss started would fail at once, without a packet.
func benchAddr(i int) netip.AddrPort {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
	return netip.AddrPortFrom(netip.AddrFrom16(a), 9)
}

// benchFacts are realistic facts for host i's address: mostly modern
// servers, one in 20 with a small key, one in 20 with a weak DH prime, some
// without STARTTLS, some that failed.
func benchFacts(i int, now time.Time) probe.Facts {
	ap := benchAddr(i)
	f := probe.Facts{
		Addr:       ap,
		Client:     "gnutls",
		Outcome:    probe.OK,
		TLSVersion: "TLS1.2",
		Cipher:     "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
		KeyType:    "RSA",
		KeyBits:    2048,
		Time:       now.Add(-time.Duration(i%3600) * time.Second),
		Duration:   time.Duration(80+i%400) * time.Millisecond,
	}
	switch {
	case i%20 == 0:
		f.KeyBits, f.Cipher = 1024, "TLS_RSA_WITH_AES_128_GCM_SHA256"
	case i%20 == 1:
		f.DHBits, f.Cipher = 768, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"
	case i%20 == 2:
		f = probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.NoTLS, Stage: "ehlo",
			Error: "STARTTLS not advertised", Time: f.Time, Duration: f.Duration}
	case i%50 == 3:
		f = probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.Error, Stage: "connect",
			Error: "connect to " + ap.String() + ": dial tcp " + ap.String() + ": i/o timeout", Time: f.Time, Duration: 30 * time.Second}
	case i%4 == 0:
		f.TLS13, f.TLSVersion, f.Cipher, f.KeyType, f.KeyBits = true, "TLS1.3", "TLS_AES_256_GCM_SHA384", "ECDSA", 256
	}
	return f
}

// benchEntry is domain i's cached MX set, as lookupMX stores it.
func benchEntry(i, hosts int) store.Domain {
	return store.Domain{Set: mx.Set{
		Hosts: []mx.Host{{Name: benchHost(i % hosts), Pref: 10}, {Name: benchHost((i + 1) % hosts), Pref: 20}},
		TTL:   time.Hour,
	}}
}

// benchVerdict is the answer benchService gives for domain i.
func benchVerdict(i, hosts int) string {
	v := verdict.None
	for _, h := range benchEntry(i, hosts).Set.Hosts {
		var n int
		fmt.Sscanf(h.Name, "mx%d.", &n)
		f := benchFacts(n, time.Time{})
		v = verdict.Max(v, verdict.Policy{}.Of(&f))
	}
	return v.String()
}

// benchConfig is a valid config whose DNS and probes lead nowhere, with
// caches of size n and nOverrides domain overrides ("o<i>.override.test").
func benchConfig(tb testing.TB, n, nOverrides int) *config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.DNS.Servers = []string{"127.0.0.1:9"}
	cfg.DNS.Timeout = config.Duration{Duration: time.Second}
	cfg.Probe.Port = 9
	cfg.Cache.Hosts, cfg.Cache.Domains = max(n, 1000), max(n, 1000)
	for i := range nOverrides {
		cfg.OverrideLists.SmallKey = append(cfg.OverrideLists.SmallKey, fmt.Sprintf("o%d.override.test", i))
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return &cfg
}

// benchService returns a service whose caches hold n domains, n host
// names and n addresses.
func benchService(tb testing.TB, n int) *Service {
	tb.Helper()
	s, err := NewService(benchConfig(tb, n, 1000), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		f := benchFacts(i, now)
		s.facts.Set(store.AddrKey{AP: f.Addr, Client: store.SymOf(f.Client)}, store.NewRecord(&f))
		s.names.Set(benchHost(i), store.Name{Addrs: []netip.Addr{f.Addr.Addr()}, TTL: time.Hour})
		s.domains.Set(benchDomain(i), benchEntry(i, n))
	}
	return s
}

const benchDomains = 10000

// benchNames returns the names of n domains and their answers.
func benchNames(n int) (names, want []string) {
	names, want = make([]string, n), make([]string, n)
	for i := range names {
		names[i], want[i] = benchDomain(i), benchVerdict(i, n)
	}
	return names, want
}

func BenchmarkParseRequest(b *testing.B) {
	for _, line := range []string{"mail.example.org", "postmaster@Mail.Example.ORG.", "explain mail.example.org"} {
		b.Run(line, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := socket.ParseRequest([]byte(line)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecide is the verdict for a domain whose MX set and both MX
// hosts are cached (10,000 domains, taken in turn), or that a domain
// override names (1,000 overrides).
func BenchmarkDecide(b *testing.B) {
	s := benchService(b, benchDomains)
	ctx := context.Background()
	names, want := benchNames(benchDomains)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % benchDomains
			if d := s.Decide(ctx, names[i]); d.Source != decision.SourceMX || d.Verdict.String() != want[i] {
				b.Fatalf("%s: %+v", names[i], d)
			}
		}
	})
	b.Run("override", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := s.Decide(ctx, "o77.override.test"); d.Source != decision.SourceOverride {
				b.Fatalf("%+v", d)
			}
		}
	})
}

// BenchmarkHandle is what the server calls for a domain request: the
// verdict under answer.wait, counted, as bytes. The names are built before
// the timer runs (the server gets them from socket.ParseRequest).
func BenchmarkHandle(b *testing.B) {
	s := benchService(b, benchDomains)
	ctx := context.Background()
	names, want := benchNames(benchDomains)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % benchDomains
			if got := s.Handle(ctx, socket.Request{Verb: socket.VerbDomain, Arg: names[i]}); string(got) != want[i] {
				b.Fatalf("%s: %q, want %q", names[i], got, want[i])
			}
		}
	})
	b.Run("override", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := s.Handle(ctx, socket.Request{Verb: socket.VerbDomain, Arg: "o77.override.test"}); string(got) != "smallkey" {
				b.Fatalf("%q", got)
			}
		}
	})
}

// fixedHandler answers every request with one word, as the floor does.
type fixedHandler []byte

func (h fixedHandler) Handle(context.Context, socket.Request) []byte { return h }

// BenchmarkServe is one Exim request over a real Unix socket (connect,
// write, half-close, read to EOF), one at a time: through the Service for a
// cached domain and for an override, and through a fixed-word handler, which
// leaves the Server's own cost.
func BenchmarkServe(b *testing.B) {
	s := benchService(b, benchDomains)
	for _, tc := range []struct {
		name    string
		h       socket.Handler
		domains func(i int) (string, string)
	}{
		{"cached", s, func(i int) (string, string) { return benchDomain(i), benchVerdict(i, benchDomains) }},
		{"override", s, func(int) (string, string) { return "o77.override.test", "smallkey" }},
		{"fixed-handler", fixedHandler("smallkey"), func(int) (string, string) { return "x.example", "smallkey" }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := benchServer(b, &socket.Server{Handler: tc.h})
			addr := &net.UnixAddr{Name: path, Net: "unix"}
			reqs := make([][]byte, 1000)
			want := make([]string, len(reqs))
			for i := range reqs {
				d, w := tc.domains(i * 7)
				reqs[i], want[i] = []byte(d), w
			}
			buf := make([]byte, 64)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i = (i + 1) % len(reqs)
				got, err := benchQuery(addr, reqs[i], buf)
				if err != nil || string(got) != want[i] {
					b.Fatalf("%s: %q, %v; want %q", reqs[i], got, err, want[i])
				}
			}
		})
	}
}

func benchServer(b *testing.B, s *socket.Server) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "b.sock")
	ln, err := socket.ListenUnix(path, 0o600, "")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	b.Cleanup(func() {
		s.Shutdown(context.Background())
		<-done
	})
	return path
}

// benchQuery is one request as Exim sends it; the answer is read into buf.
func benchQuery(addr *net.UnixAddr, req, buf []byte) ([]byte, error) {
	c, err := net.DialUnix("unix", nil, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return buf[:n], nil
		}
		if err != nil {
			return buf[:n], err
		}
		if n == len(buf) {
			return buf[:n], errors.New("answer too long")
		}
	}
}

// benchCacheFile writes the persisted cache of BenchmarkLoadCache and
// returns its path, its number of hosts (and domains) and its size.
func benchCacheFile(b *testing.B) (file string, n int, size int64) {
	n = 100_000
	if v := os.Getenv("TLSPROBE_BENCH_CACHE_SIZE"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
			b.Fatalf("TLSPROBE_BENCH_CACHE_SIZE=%q", v)
		}
	}
	file = os.Getenv("TLSPROBE_BENCH_CACHE_FILE")
	if file == "" {
		file = filepath.Join(b.TempDir(), "cache.json")
	}
	if err := benchService(b, n).SaveCache(file); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{file, store.NamesFile(file), store.DomainsFile(file)} {
		fi, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		size += fi.Size()
	}
	return file, n, size
}

// BenchmarkLoadCache is the daemon's start-up with a persisted cache of
// 100,000 addresses, 100,000 host names and 100,000 domains: a new Service
// and LoadCache (which loads the three files at once). It reports
// the file size and the live heap once loaded.
func BenchmarkLoadCache(b *testing.B) {
	file, n, size := benchCacheFile(b)
	cfg := benchConfig(b, n, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runtime.GC()
	debug.FreeOSMemory()
	var s *Service
	b.ResetTimer()
	for b.Loop() {
		s = nil
		var err error
		if s, err = NewService(cfg, log); err != nil {
			b.Fatal(err)
		}
		if got, err := s.LoadCache(file); err != nil || got != 3*n {
			b.Fatalf("loaded %d entries, %v; want %d", got, err, 3*n)
		}
	}
	b.StopTimer()
	if got := s.Handle(context.Background(), socket.Request{Verb: socket.VerbDomain, Arg: benchDomain(1)}); string(got) != benchVerdict(1, n) {
		b.Fatalf("answer after load %q", got)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if path := os.Getenv("TLSPROBE_BENCH_HEAP_PROFILE"); path != "" {
		// What the loaded cache is made of: go tool pprof -sample_index=inuse_space.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-heap-MiB")
	runtime.KeepAlive(s)
}

// BenchmarkSaveCache is the periodic (and shutdown) save of 100,000
// addresses, names and domains; B/op is what a save adds to the daemon's heap.
func BenchmarkSaveCache(b *testing.B) {
	s := benchService(b, 100_000)
	file := filepath.Join(b.TempDir(), "cache.json")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SaveCache(file); err != nil {
			b.Fatal(err)
		}
	}
}
