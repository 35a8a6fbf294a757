package lookupd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// fanOut runs clients goroutines that share the indices 0..n-1 between
// them, each with its own 64-byte answer buffer, and waits for them all.
func fanOut(clients, n int, do func(i int, buf []byte)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			buf := make([]byte, 64)
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				do(i, buf)
			}
		})
	}
	wg.Wait()
}

// TestOverloadCached: 100,000 requests for cached domains from 256
// concurrent clients, over the real socket, Exim-style (connect, request,
// half-close, read to EOF): every one answered, and answered right; no DNS
// query and no probe.
func TestOverloadCached(t *testing.T) {
	const requests, clients = 100000, 256
	s := benchService(t, benchDomains)
	srv := &socket.Server{Handler: s, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	path := sockettest.Start(t, srv)
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	names, want := benchNames(benchDomains)

	var errs, wrong atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	fanOut(clients, requests, func(i int, buf []byte) {
		d := i % len(names)
		got, err := benchQuery(addr, []byte(names[d]), buf)
		switch {
		case err != nil:
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		case string(got) != want[d]:
			wrong.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %q, want %q", names[d], got, want[d]))
		}
	})
	took := time.Since(start)
	fs, ns, ds := s.facts.Stats(), s.names.Stats(), s.domains.Stats()
	t.Logf("figure: %d cached requests from %d clients in %v (%.0f/s): %d errors, %d wrong answers; server %+v; probes %d, address lookups %d, MX lookups %d",
		requests, clients, took.Round(time.Millisecond), float64(requests)/took.Seconds(), errs.Load(), wrong.Load(), srv.Stats(), fs.Loads, ns.Loads, ds.Loads)
	if errs.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("%d errors and %d wrong answers; first: %v", errs.Load(), wrong.Load(), firstErr.Load())
	}
	if fs.Loads != 0 || ns.Loads != 0 || ds.Loads != 0 {
		t.Errorf("%d probes, %d address and %d MX lookups for cached domains, want none", fs.Loads, ns.Loads, ds.Loads)
	}
	if st := srv.Stats(); st.Accepted != requests || st.Refused != 0 || st.Malformed != 0 {
		t.Errorf("server stats %+v, want %d accepted and nothing else", st, requests)
	}
}

// floodServer is a lab MX at one address: banner, EHLO with STARTTLS, and
// after hold, "454 TLS not available" (outcome notls, one connection per
// probe); with a negative hold it greets with "421 busy" (outcome error at
// the banner, kept for cache.error_ttl). It notes when each connection came; open counts the connections of
// every floodServer sharing it that have not been answered yet.
type floodServer struct {
	addr string
	mu   sync.Mutex
	at   []time.Time
}

type openCount struct{ cur, peak atomic.Int64 }

func (o *openCount) inc() {
	n := o.cur.Add(1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
}

func startFlood(t *testing.T, addr string, hold time.Duration, open *openCount) (*floodServer, error) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fs := &floodServer{addr: ln.Addr().String()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.inc()
			fs.mu.Lock()
			fs.at = append(fs.at, time.Now())
			fs.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				answered := false
				defer func() {
					if !answered {
						open.cur.Add(-1)
					}
				}()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				if hold < 0 {
					open.cur.Add(-1)
					answered = true
					io.WriteString(c, "421 4.3.2 flood.test busy\r\n")
					return
				}
				io.WriteString(c, "220 flood.test ESMTP\r\n")
				r.ReadString('\n')
				io.WriteString(c, "250-flood.test\r\n250 STARTTLS\r\n")
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				select {
				case <-time.After(hold):
				case <-stop:
				}
				// The connection ends for the count before the probe can
				// learn it is over and free its slot.
				open.cur.Add(-1)
				answered = true
				io.WriteString(c, "454 4.7.0 TLS not available\r\n")
				r.ReadString('\n')
			})
		}
	})
	t.Cleanup(func() { close(stop); ln.Close(); wg.Wait() })
	return fs, nil
}

func (fs *floodServer) times() []time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.at)
}

// worstWindow returns the largest excess of connections over what a token
// bucket of rate per second and burst allows, over every window [t_i, t_j].
func worstWindow(at []time.Time, perSecond float64, burst int) (excess float64, n int, window time.Duration) {
	excess = -1e9
	for i := range at {
		for j := i; j < len(at); j++ {
			d := at[j].Sub(at[i])
			allowed := float64(burst) + perSecond*d.Seconds()
			if e := float64(j-i+1) - allowed; e > excess {
				excess, n, window = e, j-i+1, d
			}
		}
	}
	return excess, n, window
}

// TestOverloadFlood: requests for 10,000 unknown domains, each with its own
// MX host name, all pointing at 9 lab servers, sent by 1,000 clients at
// once. One probe per address (9 in all), probe.concurrency holds (the
// servers count the connections open at once), every flood request is
// answered (empty) within answer.wait, a cached domain keeps answering
// right within answer.wait throughout, and once the probes are done every
// flooded domain answers from the real outcome of its server.
func TestOverloadFlood(t *testing.T) {
	const (
		domains    = 10000
		clients    = 1000
		concurrent = 4
		wait       = 500 * time.Millisecond
		slowHold   = 800 * time.Millisecond
		slowAddrs  = 8
	)
	// One fast server at 127.0.0.10 and slow ones (800 ms: they fill the
	// probe slots) at 127.0.0.11-18, all on one port.
	var open openCount
	servers, port := startFloodServers(t, 0, slowHold, slowAddrs, &open)
	zone := make([]string, 0, 2*domains)
	for i := range domains {
		ip := "127.0.0.10" // even domains: the fast server
		if i%2 == 1 {
			ip = fmt.Sprintf("127.0.0.%d", 11+(i/2)%slowAddrs)
		}
		zone = append(zone, fmt.Sprintf("f%d.flood.test. 300 IN MX 10 mx%d.flood.test.", i, i),
			fmt.Sprintf("mx%d.flood.test. 300 IN A %s", i, ip))
	}
	dns := lab.StartDNS(t, zone...)
	sink := &lab.LogBuffer{}
	cfg := hostileConfig(t, dns, port, func(c *config.Config) {
		c.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
		c.Probe.Concurrency = concurrent
		c.Answer.Wait = config.Duration{Duration: wait}
		// 10,000 address lookups at once on a shared 2-core machine: a
		// DNS timeout would be remembered as a failure (30 s), which is
		// not what this test is about.
		c.DNS.Timeout = config.Duration{Duration: 5 * time.Second}
	})
	s := warmService(t, cfg, sink.Logger())
	closeAtEnd(t, s)
	srv := &socket.Server{Handler: s, MaxConns: 2 * clients, Logger: sink.Logger()}
	path := sockettest.Start(t, srv)
	addr := &net.UnixAddr{Name: path, Net: "unix"}

	// The cached domain, asked every 10 ms while the flood runs.
	var (
		watchMu   sync.Mutex
		latencies []time.Duration
		badWatch  []string
	)
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		buf := make([]byte, 64)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
			start := time.Now()
			got, err := benchQuery(addr, []byte("warm.test"), buf)
			took := time.Since(start)
			watchMu.Lock()
			latencies = append(latencies, took)
			if err != nil || string(got) != "smallkey" {
				badWatch = append(badWatch, fmt.Sprintf("%q %v", got, err))
			}
			watchMu.Unlock()
		}
	}()

	var errs, nonEmpty atomic.Int64
	var slowest atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	fanOut(clients, domains, func(i int, buf []byte) {
		t0 := time.Now()
		got, err := benchQuery(addr, []byte(fmt.Sprintf("f%d.flood.test", i)), buf)
		took := int64(time.Since(t0))
		for s := slowest.Load(); took > s && !slowest.CompareAndSwap(s, took); s = slowest.Load() {
		}
		switch {
		case err != nil:
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		case len(got) != 0:
			nonEmpty.Add(1)
		}
	})
	answered := time.Since(start)
	// Let the probes the flood queued finish (the cached domain still asked).
	s.Wait()
	close(stopWatch)
	<-watchDone

	fs := s.facts.Stats()
	t.Logf("figure: %d unknown domains from %d clients in %v: %d errors, %d non-empty answers, slowest answer %v; probes %d; address lookups %d; server %+v",
		domains, clients, answered.Round(time.Millisecond), errs.Load(), nonEmpty.Load(), time.Duration(slowest.Load()).Round(time.Millisecond),
		fs.Loads, s.names.Stats().Loads, srv.Stats())
	if errs.Load() != 0 {
		t.Errorf("%d flood requests failed; first: %v", errs.Load(), firstErr.Load())
	}
	if nonEmpty.Load() != 0 {
		t.Errorf("%d flood requests got a non-empty answer", nonEmpty.Load())
	}
	// Generous bounds: the machine may be busy; a stall would take far longer.
	if d := time.Duration(slowest.Load()); d > wait+5*time.Second {
		t.Errorf("slowest flood answer %v, answer.wait %v", d, wait)
	}
	if fs.Loads != 1+slowAddrs {
		t.Errorf("%d probes for %d domains over %d addresses, want one per address", fs.Loads, domains, 1+slowAddrs)
	}
	for i, srv := range servers {
		if n := len(srv.times()); n != 1 {
			t.Errorf("server %d (%s) saw %d connections, want 1", i, srv.addr, n)
		}
	}
	// Every flooded domain now has the real outcome of its server (notls),
	// from the cache: no answer is left pending, none is an error.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outcomes := map[probe.Outcome]int{}
	for i := range domains {
		d := s.Decide(ctx, fmt.Sprintf("f%d.flood.test", i))
		if len(d.MX) != 1 || len(d.MX[0].Addrs) != 1 || d.MX[0].Addrs[0].Facts == nil {
			t.Fatalf("f%d.flood.test: %+v, want one MX host with the facts of its address", i, d)
		}
		a := d.MX[0].Addrs[0]
		outcomes[a.Facts.Outcome]++
		if a.Source != decision.SourceCache || a.Facts.Outcome != probe.NoTLS {
			t.Errorf("f%d.flood.test: %s %s (%s), want notls from the cache", i, a.Source, a.Facts.Outcome, a.Facts.Error)
		}
	}
	t.Logf("figure: after the probes, outcomes of the %d flooded domains: %v", domains, outcomes)

	peak := open.peak.Load()
	t.Logf("figure: connections open at once: at most %d (probe.concurrency %d)", peak, concurrent)
	if peak > concurrent {
		t.Errorf("%d probe connections open at once, probe.concurrency is %d", peak, concurrent)
	}
	watchMu.Lock()
	defer watchMu.Unlock()
	slices.Sort(latencies)
	if len(latencies) == 0 {
		t.Fatal("the cached domain was never asked")
	}
	p50, p99, worst := latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1]
	t.Logf("figure: cached domain during the flood: %d requests, p50 %v, p99 %v, max %v, %d wrong", len(latencies),
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), worst.Round(time.Microsecond), len(badWatch))
	if len(badWatch) != 0 {
		t.Errorf("cached domain answered wrong %d times: %s", len(badWatch), strings.Join(badWatch[:min(5, len(badWatch))], "; "))
	}
	if worst > wait+2*time.Second {
		t.Errorf("cached domain took up to %v, answer.wait is %v", worst, wait)
	}
}

// startFloodServers starts a fast floodServer (hold fast) at 127.0.0.10 and
// n slow ones (hold slow) at 127.0.0.11 and up, all on one port, and
// returns them (the fast one first) and the port.
func startFloodServers(t *testing.T, fast, slow time.Duration, n int, open *openCount) ([]*floodServer, int) {
	t.Helper()
	var servers []*floodServer
	var port string
	for try := 0; len(servers) < 1+n; try++ {
		if try == 20 {
			t.Fatalf("no port free on 127.0.0.10-%d", 10+n)
		}
		servers = servers[:0]
		first, err := startFlood(t, "127.0.0.10:0", fast, open)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(first.addr)
		servers = append(servers, first)
		for i := range n {
			fs, err := startFlood(t, fmt.Sprintf("127.0.0.%d:%s", 11+i, port), slow, open)
			if err != nil {
				break
			}
			servers = append(servers, fs)
		}
	}
	var p int
	fmt.Sscan(port, &p)
	return servers, p
}

// TestRateLimitIsNotAFact: one address behind many names, whose facts
// expire every second (a server that greets with 421: error_ttl 1s), asked
// without pause for 4 s while rate_per_address allows one probe every
// 400 ms. The server sees no more probes than the rate allows; the answers
// stay within answer.wait; and no fact the daemon keeps is "wait for the
// rate limit": the refused refreshes wait their turn instead.
func TestRateLimitIsNotAFact(t *testing.T) {
	const (
		names     = 50
		every     = 400 * time.Millisecond
		burst     = 1
		wait      = 300 * time.Millisecond
		askingFor = 4 * time.Second
	)
	var open openCount
	servers, port := startFloodServers(t, -1, 0, 0, &open)
	srv := servers[0]
	zone := []string{}
	for i := range names {
		zone = append(zone, fmt.Sprintf("r%d.rate.test. 300 IN MX 10 mx%d.rate.test.", i, i),
			fmt.Sprintf("mx%d.rate.test. 300 IN A 127.0.0.10", i))
	}
	dns := lab.StartDNS(t, zone...)
	sink := &lab.LogBuffer{}
	cfg := hostileConfig(t, dns, port, func(c *config.Config) {
		c.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
		c.Probe.RatePerAddress = config.RateEvery(every)
		c.Probe.RateBurst = burst
		c.Cache.ErrorTTL = config.Duration{Duration: time.Second}
		c.Answer.Wait = config.Duration{Duration: wait}
	})
	s := loggedService(t, cfg, sink)
	path := serveService(t, s)
	addr := &net.UnixAddr{Name: path, Net: "unix"}

	start := time.Now()
	var asked, slow atomic.Int64
	// Eight clients ask until askingFor has passed. (fanOut with a huge
	// count here spun through a billion empty calls after the deadline:
	// 185 s under -race.)
	var clients sync.WaitGroup
	for c := range 8 {
		clients.Go(func() {
			buf := make([]byte, 64)
			for i := c; time.Since(start) < askingFor; i += 8 {
				t0 := time.Now()
				benchQuery(addr, []byte(fmt.Sprintf("r%d.rate.test", i%names)), buf)
				if time.Since(t0) > wait+2*time.Second {
					slow.Add(1)
				}
				asked.Add(1)
			}
		})
	}
	clients.Wait()
	took := time.Since(start)
	s.Wait()
	at := srv.times()
	perSecond := float64(time.Second) / float64(every)
	excess, n, window := worstWindow(at, perSecond, burst)
	t.Logf("figure: %d requests in %v over %d names of one address: %d probes (connections); worst window %d in %v (excess %.1f over %.1f/s burst %d); %d answers slower than answer.wait+2s",
		asked.Load(), took.Round(time.Millisecond), names, len(at), n, window.Round(time.Millisecond), excess, perSecond, burst, slow.Load())
	// Connections reach the server a little after their token: allow one more.
	if excess > 1 {
		t.Errorf("%d connections within %v, over rate_per_address %v/s burst %d", n, window, perSecond, burst)
	}
	if len(at) < 4 {
		t.Errorf("the server saw %d connections in %v: the facts did not expire and refresh, the test proves little", len(at), took)
	}
	if slow.Load() != 0 {
		t.Errorf("%d answers took longer than answer.wait + 2s", slow.Load())
	}
	s.facts.Range(func(k store.AddrKey, r store.Record, _ time.Time) bool {
		if strings.Contains(r.Error, "rate limit") || r.Stage.String() != "banner" {
			t.Errorf("%s: facts %+v, want the server's 421 at the banner", k, r)
		}
		return true
	})
	if n := sink.Count("rate limit"); n != 0 {
		t.Errorf("%d log lines name the rate limit: waiting for it is not an event", n)
	}
	if st := s.facts.Stats(); st.Len != 1 {
		t.Errorf("%d addresses cached, want 1", st.Len)
	}
}
