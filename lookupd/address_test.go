package lookupd

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Tests of facts per address against the lab's real servers (see
// service_test.go: 127.0.0.2 sends a 768-bit prime, 127.0.0.3 an RSA-1024
// key, 127.0.0.4 is a modern Exim, 127.0.0.6 sends a 512-bit prime after a
// 3 s banner delay).

// loggedService is newTestService whose log goes to sink as well.
func loggedService(t *testing.T, cfg *config.Config, sink *lab.LogBuffer) *Service {
	t.Helper()
	s, err := NewService(cfg, sink.Logger())
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	return s
}

// askAll sends each domain over the socket at once, as many Exim processes
// would, and returns the answers.
func askAll(t *testing.T, path string, domains []string) map[string]string {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Go(func() {
			a := sockettest.Raw(t, path, []byte(d), true)
			mu.Lock()
			got[d] = a
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

// probesOf counts the probe log lines of addr.
func probesOf(sink *lab.LogBuffer, addr string) int {
	return sink.Count("msg=probe", "addr="+addr+" ")
}

// TestHostingProvider: twelve domains, each with its own MX name, all on
// one address that sends a 768-bit prime, asked at once with a rate limit
// of one probe a minute per address: one probe, and every domain answers
// tlsexport from it. Then the same with a second weak address (the 512-bit
// server) behind half of the names.
func TestHostingProvider(t *testing.T) {
	const n = 12
	var zone []string
	var one, two []string
	for i := range n {
		zone = append(zone, fmt.Sprintf("hp%d.test. 60 IN MX 10 mx%d.hosting.test.", i, i),
			fmt.Sprintf("mx%d.hosting.test. 60 IN A 127.0.0.2", i))
		one = append(one, fmt.Sprintf("hp%d.test", i))
		ip := "127.0.0.2"
		if i%2 == 1 {
			ip = "127.0.0.6"
		}
		zone = append(zone, fmt.Sprintf("hq%d.test. 60 IN MX 10 mx%d.hosting2.test.", i, i),
			fmt.Sprintf("mx%d.hosting2.test. 60 IN A %s", i, ip))
		two = append(two, fmt.Sprintf("hq%d.test", i))
	}
	l := startLab(t, zone...)
	sink := &lab.LogBuffer{}
	s := loggedService(t, l.config(t, func(c *config.Config) {
		c.Probe.RatePerAddress = config.RateEvery(time.Minute)
		c.Probe.RateBurst = 1
	}), sink)
	path := serveService(t, s)
	weak, weak2 := fmt.Sprintf("127.0.0.2:%d", l.Port), fmt.Sprintf("127.0.0.6:%d", l.Port)

	start := time.Now()
	got := askAll(t, path, one)
	took := time.Since(start)
	for _, d := range one {
		if got[d] != "tlsexport" {
			t.Errorf("%s: %q, want tlsexport", d, got[d])
		}
	}
	if p := probesOf(sink, weak); p != 1 || s.Stats().Probes != 1 {
		t.Errorf("%d probes of %s (%d in all) for %d names on it, want 1", p, weak, s.Stats().Probes, n)
	}
	t.Logf("figure: %d domains on one weak address, asked at once: all tlsexport in %v, %d probe", n, took.Round(time.Millisecond), s.Stats().Probes)

	// The second batch: 127.0.0.2 is known, 127.0.0.6 is new (and slow).
	start = time.Now()
	got = askAll(t, path, two)
	took = time.Since(start)
	for _, d := range two {
		if got[d] != "tlsexport" {
			t.Errorf("%s: %q, want tlsexport", d, got[d])
		}
	}
	if p, p2 := probesOf(sink, weak), probesOf(sink, weak2); p != 1 || p2 != 1 {
		t.Errorf("probes: %d of %s, %d of %s; want 1 each", p, weak, p2, weak2)
	}
	if n := sink.Count("rate limit"); n != 0 {
		t.Errorf("%d log lines name the rate limit", n)
	}
	t.Logf("figure: %d more domains over the known and a new weak address: all tlsexport in %v, probes %d in all",
		n, took.Round(time.Millisecond), s.Stats().Probes)
}

// TestAddressesOfOneHost: every address Exim may reach counts. A host with
// a modern and a weak A record is tlsexport (Exim picks either at random);
// a dual-stack host whose AAAA is weak is tlsexport (Exim tries IPv6
// first); so is one whose A is weak and AAAA modern (Exim falls back to
// IPv4 whenever IPv6 fails). A CNAME'd MX name that leads to an address
// already known costs no probe.
func TestAddressesOfOneHost(t *testing.T) {
	t.Run("weak-aaaa", func(t *testing.T) {
		t.Parallel()
		l := startLab(t,
			"dual6.test. 60 IN MX 10 mx-dual6.test.", "mx-dual6.test. 60 IN AAAA ::1", "mx-dual6.test. 60 IN A 127.0.0.4",
			"twoa.test. 60 IN MX 10 mx-twoa.test.", "mx-twoa.test. 60 IN A 127.0.0.4", "mx-twoa.test. 60 IN A 127.0.0.2",
			"cname.test. 60 IN MX 10 mx-alias.test.", "mx-alias.test. 60 IN CNAME mx-dh768.test.",
		)
		lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2", Listen: fmt.Sprintf("[::1]:%d", l.Port)})
		sink := &lab.LogBuffer{}
		s := loggedService(t, l.config(t, nil), sink)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d := s.Decide(ctx, "dual6.test")
		checkAddrs(t, d, verdict.TLSExport, []string{fmt.Sprintf("[::1]:%d=tlsexport", l.Port), fmt.Sprintf("127.0.0.4:%d=", l.Port)})
		d = s.Decide(ctx, "twoa.test")
		checkAddrs(t, d, verdict.TLSExport, []string{fmt.Sprintf("127.0.0.4:%d=", l.Port), fmt.Sprintf("127.0.0.2:%d=tlsexport", l.Port)})
		if p := probesOf(sink, fmt.Sprintf("127.0.0.4:%d", l.Port)); p != 1 {
			t.Errorf("%d probes of the modern address behind two names, want 1", p)
		}
		before := s.Stats().Probes
		d = s.Decide(ctx, "cname.test")
		checkAddrs(t, d, verdict.TLSExport, []string{fmt.Sprintf("127.0.0.2:%d=tlsexport", l.Port)})
		if n := s.Stats().Probes - before; n != 0 || d.MX[0].Addrs[0].Source != decision.SourceCache {
			t.Errorf("cname.test: %d probes, source %s; want none: its address is known", n, d.MX[0].Addrs[0].Source)
		}
	})
	t.Run("weak-a", func(t *testing.T) {
		t.Parallel()
		l := startLab(t, "dual4.test. 60 IN MX 10 mx-dual4.test.", "mx-dual4.test. 60 IN AAAA ::1", "mx-dual4.test. 60 IN A 127.0.0.2")
		lab.StartOpenSSL(t, lab.OpenSSLOptions{Listen: fmt.Sprintf("[::1]:%d", l.Port)}) // modern: RSA-2048, ECDHE
		s := loggedService(t, l.config(t, nil), &lab.LogBuffer{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d := s.Decide(ctx, "dual4.test")
		checkAddrs(t, d, verdict.TLSExport, []string{fmt.Sprintf("[::1]:%d=", l.Port), fmt.Sprintf("127.0.0.2:%d=tlsexport", l.Port)})
	})
	t.Run("max-addresses", func(t *testing.T) {
		t.Parallel()
		// The weak address comes third: with max_addresses 2 Exim would
		// not reach it, and it is not considered (nor probed).
		l := startLab(t, "three.test. 60 IN MX 10 mx-three.test.", "mx-three.test. 60 IN A 127.0.0.4",
			"mx-three.test. 60 IN A 127.0.0.10", "mx-three.test. 60 IN A 127.0.0.2", "mx-three.test. 60 IN A 10.9.9.9")
		s := loggedService(t, l.config(t, func(c *config.Config) { c.Probe.MaxAddresses = 2 }), &lab.LogBuffer{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d := s.Decide(ctx, "three.test")
		if d.Verdict != verdict.None || len(d.MX) != 1 || len(d.MX[0].Addrs) != 2 {
			t.Errorf("three.test with max_addresses 2: %+v", d)
		}
	})
}

// checkAddrs checks a decision's verdict and its one MX host's addresses,
// in order, as "addr=verdict".
func checkAddrs(t *testing.T, d decision.Decision, want verdict.Verdict, addrs []string) {
	t.Helper()
	var got []string
	if len(d.MX) == 1 {
		for _, a := range d.MX[0].Addrs {
			got = append(got, a.Addr.String()+"="+a.Verdict.String())
		}
	}
	if d.Verdict != want || strings.Join(got, " ") != strings.Join(addrs, " ") {
		t.Errorf("%s: %q with addresses %v, want %q with %v (%+v)", d.Domain, d.Verdict, got, want, addrs, d)
	}
}

// switchResolver asks one real DNS server, then, once switched, another.
type switchResolver struct {
	before, after *mx.Resolver
	switched      atomic.Bool
}

func (r *switchResolver) current() *mx.Resolver {
	if r.switched.Load() {
		return r.after
	}
	return r.before
}

func (r *switchResolver) LookupMX(ctx context.Context, domain string) (mx.Set, error) {
	return r.current().LookupMX(ctx, domain)
}

func (r *switchResolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	return r.current().LookupAddrs(ctx, host)
}

// TestAddressChangeFollowed: an MX host moves from a modern to a weak
// address in DNS; after its TTL (1 s here) the daemon follows it: the
// stale address set is served once while it is looked up again, the new
// address is probed, and the answer becomes tlsexport.
func TestAddressChangeFollowed(t *testing.T) {
	l := startLab(t, "moving.test. 1 IN MX 10 mx-moving.test.", "mx-moving.test. 1 IN A 127.0.0.4")
	moved := lab.StartDNS(t, "moving.test. 1 IN MX 10 mx-moving.test.", "mx-moving.test. 1 IN A 127.0.0.2")
	res := &switchResolver{
		before: &mx.Resolver{Servers: []string{l.DNS}, MinTTL: time.Second, MaxTTL: time.Second},
		after:  &mx.Resolver{Servers: []string{moved}, MinTTL: time.Second, MaxTTL: time.Second},
	}
	cfg := l.config(t, nil)
	s, err := newService(cfg, testLogger(t), res, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d := s.Decide(ctx, "moving.test"); d.Verdict != verdict.None {
		t.Fatalf("before the move: %+v", d)
	}
	res.switched.Store(true)
	start := time.Now()
	var d decision.Decision
	tick := time.NewTicker(50 * time.Millisecond) // paces the asking; the TTL is what passes
	defer tick.Stop()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); <-tick.C {
		if d = s.Decide(ctx, "moving.test"); d.Verdict == verdict.TLSExport {
			break
		}
		s.Wait() // the refreshes and probes this request started
	}
	t.Logf("figure: the move was followed in %v", time.Since(start).Round(time.Millisecond))
	checkAddrs(t, d, verdict.TLSExport, []string{fmt.Sprintf("127.0.0.2:%d=tlsexport", l.Port)})
}

// TestReloadPolicy: a reload with another dh_min_bits or key_min_bits
// changes the answers at once, from the same facts, with no probe; a
// reload to tls13 = false probes again the addresses whose facts cannot
// answer it (a TLS 1.3 server's), and then answers from the new facts.
func TestReloadPolicy(t *testing.T) {
	// 127.0.0.7: TLS 1.3, and a 768-bit prime for TLS 1.2-only clients.
	l := startLab(t, "both13.test. 60 IN MX 10 mx-both13.test.", "mx-both13.test. 60 IN A 127.0.0.7")
	lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", Listen: fmt.Sprintf("127.0.0.7:%d", l.Port)})
	s := newTestService(t, l.config(t, nil))
	path := serveService(t, s)
	domains := []string{"dh768.test", "rsa1024.test", "modern.test", "both13.test"}
	check := func(when string, want map[string]string) {
		t.Helper()
		got := askAll(t, path, domains)
		for _, d := range domains {
			if got[d] != want[d] {
				t.Errorf("%s: %s: %q, want %q", when, d, got[d], want[d])
			}
		}
	}
	check("at start", map[string]string{"dh768.test": "tlsexport", "rsa1024.test": "smallkey", "modern.test": "", "both13.test": ""})
	probes := s.Stats().Probes
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want map[string]string
	}{
		{"dh_min_bits 512", func(c *config.Config) { c.Probe.DHMinBits = 512 },
			map[string]string{"dh768.test": "", "rsa1024.test": "smallkey", "modern.test": "", "both13.test": ""}},
		{"key_min_bits 1024", func(c *config.Config) { c.Probe.KeyMinBits = 1024 },
			map[string]string{"dh768.test": "tlsexport", "rsa1024.test": "", "modern.test": "", "both13.test": ""}},
	} {
		ncfg := l.config(t, tc.edit)
		if err := s.Reload(ncfg); err != nil {
			t.Fatal(err)
		}
		check(tc.name, tc.want)
	}
	if n := s.Stats().Probes - probes; n != 0 {
		t.Errorf("%d probes after the reloads, want none", n)
	}

	// tls13 = false: both13.test's server speaks TLS 1.3, so the probe
	// under tls13 = true had one TLS 1.3 session and never read the prime
	// a TLS 1.2-only client gets (kx_unobserved, docs/probe.md). Those
	// facts cannot answer the new policy (verdict.Policy.Unanswered): the
	// first answer comes from them, and the address is probed again; once
	// that probe has landed, the answer is tlsexport.
	if err := s.Reload(l.config(t, func(c *config.Config) { c.Probe.TLS13 = false })); err != nil {
		t.Fatal(err)
	}
	check("tls13 false, first ask", map[string]string{"dh768.test": "tlsexport", "rsa1024.test": "smallkey", "modern.test": "", "both13.test": ""})
	s.Wait() // the probes the first ask started
	reprobed := s.Stats().Probes - probes
	check("tls13 false, after the re-probe", map[string]string{"dh768.test": "tlsexport", "rsa1024.test": "smallkey", "modern.test": "", "both13.test": "tlsexport"})
	if reprobed == 0 {
		t.Errorf("no probe after the reload to tls13 = false: facts with kx_unobserved answered a policy they cannot")
	}
	t.Logf("figure: tls13 = false: %d addresses probed again", reprobed)
	if err := s.Reload(l.config(t, nil)); err != nil {
		t.Fatal(err)
	}
	check("back to the defaults", map[string]string{"dh768.test": "tlsexport", "rsa1024.test": "smallkey", "modern.test": "", "both13.test": ""})
	if n := s.Stats().Probes - probes; n != reprobed {
		t.Errorf("%d probes after the reload back to the defaults, want none", n-reprobed)
	}
}
