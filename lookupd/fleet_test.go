package lookupd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// Tests of relays sharing one real redis-server (docs/design.md section 5),
// against the lab's real servers (service_test.go). Each subtest has a
// prefix of its own, so they share one lab and one Redis.

// fleetWant are the lab's domains with their answers.
var fleetWant = map[string]string{
	"dh768.test": "tlsexport", "rsa1024.test": "smallkey", "modern.test": "", "notls.test": "",
	"mixed.test": "tlsexport", "both.test": "smallkey", "implicit.test": "tlsexport",
}

func fleetDomains() []string {
	var out []string
	for d := range fleetWant {
		out = append(out, d)
	}
	return out
}

// relay is one daemon of a fleet: a service on a socket, with its log.
type relay struct {
	s    *Service
	path string
	log  *lab.LogBuffer
}

// startRelay starts a service of the fleet at url with prefix.
func startRelay(t *testing.T, l *testLab, url, prefix string, edit func(*config.Config)) *relay {
	t.Helper()
	r := &relay{log: &lab.LogBuffer{}}
	cfg := l.config(t, func(c *config.Config) {
		c.Redis.URL, c.Redis.Prefix = url, prefix
		if edit != nil {
			edit(c)
		}
	})
	var err error
	if r.s, err = NewService(cfg, r.log.Logger()); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, r.s)
	r.path = serveService(t, r.s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay log (%s):\n%s", prefix, r.log)
		}
	})
	return r
}

// probes counts the relays' probe log lines by address.
func probes(relays ...*relay) map[string]int {
	out := map[string]int{}
	for _, r := range relays {
		for _, line := range strings.Split(r.log.String(), "\n") {
			if !strings.Contains(line, "msg=probe ") {
				continue
			}
			_, rest, _ := strings.Cut(line, " addr=")
			addr, _, _ := strings.Cut(rest, " ")
			out[addr]++
		}
	}
	return out
}

func checkAnswers(t *testing.T, who string, got map[string]string) {
	t.Helper()
	for d, want := range fleetWant {
		if a, ok := got[d]; ok && a != want {
			t.Errorf("%s: %s answered %q, want %q", who, d, a, want)
		}
	}
}

func redisDo(t *testing.T, r *lab.Redis, args ...string) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := r.Do(ctx, args...)
	if err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
	return v
}

func redisKeys(t *testing.T, r *lab.Redis, prefix string) []string {
	t.Helper()
	v := redisDo(t, r, "KEYS", prefix+"*")
	var out []string
	for _, k := range v.([]any) {
		out = append(out, k.(string))
	}
	return out
}

func TestFleet(t *testing.T) {
	extra := []string{}
	for i := range 6 {
		extra = append(extra, fmt.Sprintf("new%d.test. 60 IN MX 10 mx-rsa1024.test.", i))
	}
	l := startLab(t, extra...)
	r := lab.StartRedis(t, lab.RedisOptions{})
	weak := fmt.Sprintf("127.0.0.2:%d", l.Port)
	modern := fmt.Sprintf("127.0.0.4:%d", l.Port)

	// A burst at relay 1; relay 2 then answers the same domains right with
	// no probe of its own, and a third relay, new and without a cache file,
	// answers them from Redis at once, as explain says.
	t.Run("SecondRelayAnswersFromRedis", func(t *testing.T) {
		a := startRelay(t, l, r.URL(), "share:", nil)
		checkAnswers(t, "relay 1", askAll(t, a.path, fleetDomains()))
		a.s.Wait()
		b := startRelay(t, l, r.URL(), "share:", nil)
		start := time.Now()
		got := askAll(t, b.path, fleetDomains())
		took := time.Since(start)
		checkAnswers(t, "relay 2", got)
		if n := b.s.Stats().Probes; n != 0 || len(probes(b)) != 0 {
			t.Errorf("relay 2 probed %d times: %v", n, probes(b))
		}
		st := b.s.Stats().Fleet
		// One round trip per domain: the MX set, its hosts' addresses and
		// their facts come in one script call.
		if st == nil || st.Loads["addresses"]["redis"] < 4 || st.Loads["domains"]["redis"] != uint64(len(fleetWant)) ||
			st.Loads["addresses"]["self"]+st.Loads["addresses"]["alone"] != 0 ||
			st.Redis.Calls["chain"] != uint64(len(fleetWant)) || st.Redis.Calls["get"] != 0 {
			t.Errorf("relay 2 fleet stats %+v", st)
		}
		t.Logf("figure: relay 2 answered %d domains (4 addresses) from Redis in %v, no probe", len(fleetWant), took.Round(time.Microsecond))

		c := startRelay(t, l, r.URL(), "share:", nil)
		d := explain(t, c.path, "mixed.test")
		if d.Verdict.String() != "tlsexport" || len(d.MX) != 2 {
			t.Fatalf("relay 3 explain mixed.test: %+v", d)
		}
		for _, h := range d.MX {
			if h.Source != decision.SourceRedis || len(h.Addrs) != 1 || h.Addrs[0].Source != decision.SourceRedis || h.Addrs[0].Facts == nil {
				t.Errorf("relay 3 explain: host %s from %s, addresses %+v; want all from redis", h.Name, h.Source, h.Addrs)
			}
		}
		// Known locally now: from the cache.
		if d := explain(t, c.path, "mixed.test"); d.MX[0].Addrs[0].Source != decision.SourceCache {
			t.Errorf("relay 3 explain again: %s, want cache", d.MX[0].Addrs[0].Source)
		}
		if n := c.s.Stats().Probes; n != 0 {
			t.Errorf("relay 3 probed %d times", n)
		}
	})

	// The same cold burst at three relays at once: one probe per address
	// across the fleet, every answer right.
	t.Run("ColdBurstOneProbePerAddress", func(t *testing.T) {
		relays := []*relay{
			startRelay(t, l, r.URL(), "cold:", nil),
			startRelay(t, l, r.URL(), "cold:", nil),
			startRelay(t, l, r.URL(), "cold:", nil),
		}
		var wg sync.WaitGroup
		answers := make([]map[string]string, len(relays))
		for i, rl := range relays {
			wg.Go(func() { answers[i] = askAll(t, rl.path, fleetDomains()) })
		}
		wg.Wait()
		for i := range relays {
			checkAnswers(t, fmt.Sprintf("relay %d", i+1), answers[i])
			relays[i].s.Wait()
		}
		p := probes(relays...)
		var lost uint64
		for _, rl := range relays {
			lost += rl.s.Stats().Fleet.Locks["lost"]
		}
		t.Logf("figure: cold burst of %d domains at 3 relays at once: probes per address %v, locks lost %d", len(fleetWant), p, lost)
		if len(p) != 4 {
			t.Errorf("probed %d addresses, want 4: %v", len(p), p)
		}
		for addr, n := range p {
			if n != 1 {
				t.Errorf("%s probed %d times across the fleet, want 1", addr, n)
			}
		}
	})

	// Values in Redis are untrusted: junk, an old version, another key's
	// value and a well-formed value with an unknown outcome are ignored
	// (a miss: looked up and probed again, then overwritten), never a
	// wrong answer.
	t.Run("JunkIgnored", func(t *testing.T) {
		a := startRelay(t, l, r.URL(), "junk:", nil)
		checkAnswers(t, "relay 1", askAll(t, a.path, []string{"dh768.test", "modern.test"}))
		a.s.Wait()
		fk := func(addr string) string { return "junk:f:gnutls:" + addr }
		weakVal := redisDo(t, r, "GET", fk(weak)).(string)
		bogus, err := fleet.Encode(fk(weak), map[string]any{"outcome": "bogus", "time": time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		redisDo(t, r, "SET", fk(modern), weakVal, "PX", "60000") // the weak server's facts under the modern one's key
		redisDo(t, r, "SET", fk(weak), string(bogus), "PX", "60000")
		redisDo(t, r, "SET", "junk:d:dh768.test", "\x00\xffjunk", "PX", "60000")
		redisDo(t, r, "SET", "junk:n:mx-dh768.test", "tp0 00000000 {\"addrs\":[\"127.0.0.4\"]}", "PX", "60000")
		redisDo(t, r, "SET", "junk:d:modern.test", "tp1 "+strings.Repeat("9", 20000), "PX", "60000")

		b := startRelay(t, l, r.URL(), "junk:", nil)
		got := askAll(t, b.path, []string{"dh768.test", "modern.test"})
		checkAnswers(t, "relay 2 over junk", got)
		b.s.Wait()
		st := b.s.Stats().Fleet
		t.Logf("figure: planted values: rejected %v; relay 2 probed %v", st.Rejected, probes(b))
		// Rejections count reads: each address's facts are read before
		// and after its lock is taken.
		if st.Rejected["version"] != 1 || st.Rejected["corrupt"] != 2+2*2 {
			t.Errorf("rejected %v, want 1 version and 6 corrupt (2 MX sets, 2 addresses' facts read twice)", st.Rejected)
		}
		if p := probes(b); p[weak] != 1 || p[modern] != 1 {
			t.Errorf("relay 2 probes %v, want one of each address the junk stood for", p)
		}
		// Overwritten with good values: a third relay takes them.
		c := startRelay(t, l, r.URL(), "junk:", nil)
		checkAnswers(t, "relay 3", askAll(t, c.path, []string{"dh768.test", "modern.test"}))
		if n := c.s.Stats().Probes; n != 0 || c.s.Stats().Fleet.Rejected["corrupt"] != 0 {
			t.Errorf("relay 3: %d probes, rejected %v", n, c.s.Stats().Fleet.Rejected)
		}
	})

	// Facts taken from Redis live what is left of their TTL there, not a
	// whole cache.ttl again.
	t.Run("AgeCounts", func(t *testing.T) {
		a := startRelay(t, l, r.URL(), "age:", nil)
		askAll(t, a.path, []string{"dh768.test"})
		a.s.Wait()
		redisDo(t, r, "PEXPIRE", "age:f:gnutls:"+weak, "400")
		b := startRelay(t, l, r.URL(), "age:", nil)
		checkAnswers(t, "relay 2", askAll(t, b.path, []string{"dh768.test"}))
		k := store.AddrKey{AP: mustAP(t, weak), Client: store.SymOf("gnutls")}
		if _, _, state, ok := b.s.facts.Peek(k); !ok || state != cache.Fresh {
			t.Fatalf("relay 2 facts of %s: %v %v, want fresh", weak, ok, state)
		}
		start := time.Now()
		lab.WaitFor(t, "facts from Redis with 400ms left gone stale", func() bool {
			_, _, state, _ := b.s.facts.Peek(k)
			return state == cache.Stale
		})
		t.Logf("figure: facts taken from Redis with 400ms left went stale %v later", time.Since(start).Round(time.Millisecond))
	})

	// flush removes the fleet's copy too.
	t.Run("Flush", func(t *testing.T) {
		a := startRelay(t, l, r.URL(), "flush:", nil)
		askAll(t, a.path, []string{"dh768.test", "modern.test"})
		a.s.Wait()
		b := startRelay(t, l, r.URL(), "flush:", nil) // knows nothing locally
		if got := sockettest.Raw(t, b.path, []byte("flush dh768.test"), true); got != "ok\n" {
			t.Fatalf("flush: %q", got)
		}
		keys := strings.Join(redisKeys(t, r, "flush:"), " ")
		for _, gone := range []string{"flush:d:dh768.test", "flush:n:mx-dh768.test", "flush:f:gnutls:" + weak} {
			if strings.Contains(keys, gone+" ") || strings.HasSuffix(keys, gone) {
				t.Errorf("%s still in Redis after flush: %s", gone, keys)
			}
		}
		if !strings.Contains(keys, "flush:d:modern.test") {
			t.Errorf("flush of dh768.test removed modern.test: %s", keys)
		}
		if got := sockettest.Raw(t, b.path, []byte("flush all"), true); got != "ok\n" {
			t.Fatalf("flush all: %q", got)
		}
		if keys := redisKeys(t, r, "flush:"); len(keys) != 0 {
			t.Errorf("keys left after flush all: %v", keys)
		}
	})

	// The rate limit per address holds across the fleet: relay 2's probe
	// of an address relay 1 just probed waits for its turn.
	t.Run("RateFleetWide", func(t *testing.T) {
		every := 2 * time.Second
		edit := func(c *config.Config) {
			c.Probe.RatePerAddress = config.RateEvery(every)
			c.Probe.RateBurst = 1
		}
		a := startRelay(t, l, r.URL(), "rate:", edit)
		askAll(t, a.path, []string{"dh768.test"})
		a.s.Wait()
		first := time.Now()
		redisDo(t, r, "DEL", "rate:f:gnutls:"+weak) // the facts go, the rate key stays
		b := startRelay(t, l, r.URL(), "rate:", edit)
		askAll(t, b.path, []string{"dh768.test"})
		b.s.Wait()
		gap := time.Since(first)
		t.Logf("figure: relay 2's probe of an address relay 1 probed ended %v after relay 1's (rate 1/%v, burst 1)", gap.Round(time.Millisecond), every)
		if probes(b)[weak] != 1 {
			t.Fatalf("relay 2 probes %v", probes(b))
		}
		if gap < every*3/4 {
			t.Errorf("relay 2 probed %v after relay 1, within the fleet's rate of one per %v", gap, every)
		}
	})

	// kill -9 of Redis mid-burst: no request fails or waits past
	// answer.wait; a new domain is probed locally; Redis back (empty), the
	// relays write to it again.
	t.Run("RedisKilledMidBurst", func(t *testing.T) {
		r := lab.StartRedis(t, lab.RedisOptions{})
		wait := time.Second
		edit := func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: wait} }
		a := startRelay(t, l, r.URL(), "kill:", edit)
		b := startRelay(t, l, r.URL(), "kill:", edit)
		var worst atomic.Int64
		var failed atomic.Int64
		ask := func(rl *relay, d string) string {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := queryCtx(ctx, rl.path, d)
			if err != nil {
				failed.Add(1)
			}
			took := time.Since(start)
			for {
				w := worst.Load()
				if int64(took) <= w || worst.CompareAndSwap(w, int64(took)) {
					break
				}
			}
			return out
		}
		var wg sync.WaitGroup
		burst := append(fleetDomains(), "slow.test") // slow.test's server takes 3 s: pending at the kill
		for i, d := range burst {
			for _, rl := range []*relay{a, b} {
				wg.Go(func() { ask(rl, d) })
			}
			if i == 2 {
				r.Kill()
			}
		}
		wg.Wait()
		if failed.Load() != 0 || time.Duration(worst.Load()) > wait+500*time.Millisecond {
			t.Errorf("with Redis killed mid-burst: %d requests failed, the slowest took %v (answer.wait %v)",
				failed.Load(), time.Duration(worst.Load()), wait)
		}
		t.Logf("figure: Redis killed mid-burst of %d requests: slowest answer %v, %d failed", 2*len(burst), time.Duration(worst.Load()).Round(time.Millisecond), failed.Load())
		if got := ask(a, "new0.test"); got != "smallkey" && got != "" {
			t.Errorf("new domain with Redis down: %q", got)
		}
		waitAnswer(t, a.s, a.path, "new0.test", "smallkey")
		if n := a.log.Count("msg=redis", "state=down"); n != 1 {
			t.Errorf("relay 1 logged %d 'down' lines, want 1", n)
		}
		r.Restart()
		// Back, empty: within the breaker's cool-down the relays write again.
		for i, rl := range []*relay{a, b} {
			d := fmt.Sprintf("new%d.test", i+1)
			key := "kill:d:" + d
			lab.WaitFor(t, fmt.Sprintf("relay %d: %s in Redis after it came back", i+1, key), func() bool {
				sockettest.Raw(t, rl.path, []byte("flush "+d), true)
				ask(rl, d)
				rl.s.Wait()
				return redisDo(t, r, "EXISTS", key) == int64(1)
			})
		}
		if n := a.log.Count("msg=redis", "state=up", "was=down"); n != 1 {
			t.Errorf("relay 1 logged %d 'up' lines after the restart, want 1", n)
		}
	})

	// The metrics count Redis calls and say where local misses were
	// answered from.
	t.Run("Metrics", func(t *testing.T) {
		a := startRelay(t, l, r.URL(), "metrics:", nil)
		askAll(t, a.path, []string{"dh768.test"})
		a.s.Wait()
		b := startRelay(t, l, r.URL(), "metrics:", nil)
		reg := prometheus.NewRegistry()
		if _, err := b.s.Instrument(reg); err != nil {
			t.Fatal(err)
		}
		askAll(t, b.path, []string{"dh768.test"})
		list, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		fams := map[string]*dto.MetricFamily{}
		for _, f := range list {
			fams[f.GetName()] = f
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"tlsprobed_redis_calls_total", []string{"op", "chain", "result", "ok"}, 1},
			{"tlsprobed_redis_calls_total", []string{"op", "chain", "result", "error"}, 0},
			{"tlsprobed_redis_call_duration_seconds", []string{"op", "chain"}, 1},
			{"tlsprobed_redis_up", nil, 1},
			{"tlsprobed_fleet_loads_total", []string{"cache", "domains", "source", "redis"}, 1},
			{"tlsprobed_fleet_loads_total", []string{"cache", "addresses", "source", "redis"}, 1},
			{"tlsprobed_fleet_loads_total", []string{"cache", "addresses", "source", "self"}, 0},
			{"tlsprobed_redis_values_rejected_total", []string{"reason", "corrupt"}, 0},
		} {
			if v, ok := metricValue(fams, c.name, c.labels...); !ok || v != c.want {
				t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, v, ok, c.want)
			}
		}
	})

	// Redis slow (every reply held for seconds), refusing the password, or
	// full: a relay answers every domain right within answer.wait by
	// probing alone, and logs the state once.
	t.Run("Faults", func(t *testing.T) {
		for _, tc := range []struct {
			name, state string
			o           lab.RedisOptions
			url         func(*lab.Redis) string
			before      func(*lab.Redis)
		}{
			{"slow", "state=down", lab.RedisOptions{}, (*lab.Redis).URL, func(r *lab.Redis) { r.Pause(6 * time.Second) }},
			{"wrong password", "state=down", lab.RedisOptions{Password: "right"},
				func(r *lab.Redis) string { return strings.Replace(r.URL(), ":right@", ":wrong@", 1) }, nil},
			{"full", "state=full", lab.RedisOptions{MaxMemory: 2 << 20}, (*lab.Redis).URL, func(r *lab.Redis) {
				big := strings.Repeat("x", 64<<10)
				for i := range 100 {
					if _, err := r.Do(context.Background(), "SET", fmt.Sprint("fill", i), big); err != nil {
						return
					}
				}
				t.Fatal("no OOM under 2 MiB")
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := lab.StartRedis(t, tc.o)
				wait := 2 * time.Second
				a := startRelay(t, l, tc.url(r), "fault:", func(c *config.Config) { c.Answer.Wait = config.Duration{Duration: wait} })
				if tc.before != nil {
					tc.before(r)
				}
				start := time.Now()
				checkAnswers(t, "relay", askAll(t, a.path, fleetDomains()))
				took := time.Since(start)
				a.s.Wait()
				st := a.s.Stats().Fleet
				t.Logf("figure: Redis %s: %d domains answered right in %v (answer.wait %v); loads %v; redis %s",
					tc.name, len(fleetWant), took.Round(time.Millisecond), wait, st.Loads["addresses"], st.Redis.State)
				if took > wait+time.Second {
					t.Errorf("the burst took %v, answer.wait %v", took, wait)
				}
				if n := a.log.Count("msg=redis", tc.state); n != 1 {
					t.Errorf("%d %q lines, want 1", n, tc.state)
				}
				if n := a.s.Stats().Probes; n != 4 {
					t.Errorf("%d probes, want 4 (each address once, alone)", n)
				}
			})
		}
	})

	// Redis with AUTH (an ACL user) and TLS: shared the same way.
	t.Run("AuthAndTLS", func(t *testing.T) {
		r := lab.StartRedis(t, lab.RedisOptions{TLS: true, User: "relay", Password: "pw"})
		edit := func(c *config.Config) { c.Redis.CAFile = r.CertFile }
		a := startRelay(t, l, r.URL(), "tls:", edit)
		checkAnswers(t, "relay 1", askAll(t, a.path, []string{"dh768.test", "rsa1024.test"}))
		a.s.Wait()
		b := startRelay(t, l, r.URL(), "tls:", edit)
		checkAnswers(t, "relay 2", askAll(t, b.path, []string{"dh768.test", "rsa1024.test"}))
		if n := b.s.Stats().Probes; n != 0 || b.s.Stats().Fleet.Redis.State != "up" {
			t.Errorf("relay 2 over TLS: %d probes, redis %s", n, b.s.Stats().Fleet.Redis.State)
		}
	})
}
