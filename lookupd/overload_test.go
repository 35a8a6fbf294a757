package lookupd

import (
	"bufio"
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
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
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
	hs, ds := s.hosts.Stats(), s.domains.Stats()
	t.Logf("figure: %d cached requests from %d clients in %v (%.0f/s): %d errors, %d wrong answers; server %+v; probes %d, MX lookups %d",
		requests, clients, took.Round(time.Millisecond), float64(requests)/took.Seconds(), errs.Load(), wrong.Load(), srv.Stats(), hs.Loads, ds.Loads)
	if errs.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("%d errors and %d wrong answers; first: %v", errs.Load(), wrong.Load(), firstErr.Load())
	}
	if hs.Loads != 0 || ds.Loads != 0 {
		t.Errorf("%d probes and %d MX lookups for cached domains, want none", hs.Loads, ds.Loads)
	}
	if st := srv.Stats(); st.Accepted != requests || st.Refused != 0 || st.Malformed != 0 {
		t.Errorf("server stats %+v, want %d accepted and nothing else", st, requests)
	}
}

// floodServer is a lab MX at one address: banner, EHLO with STARTTLS, and
// after hold, "454 TLS not available" (outcome notls, one connection per
// probe). It notes when each connection came; open counts the connections of
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
// MX host, all pointing at a few lab servers, sent by 1,000 clients at once.
// probe.concurrency holds (the servers count the connections open at once),
// rate_per_address holds (each server notes when connections came), every
// flood request is answered (empty) within answer.wait, and a cached domain
// keeps answering right within answer.wait throughout.
func TestOverloadFlood(t *testing.T) {
	const (
		domains    = 10000
		clients    = 1000
		concurrent = 4
		perSecond  = 5.0
		burst      = 2
		wait       = 500 * time.Millisecond
		slowHold   = 800 * time.Millisecond
		slowAddrs  = 8
	)
	// One fast server (answers at once: only the rate limit holds it back)
	// at 127.0.0.10 and slow ones (800 ms: they fill the probe slots) at
	// 127.0.0.11-18, all on one port.
	var open openCount
	var servers []*floodServer
	var port string
	for try := 0; len(servers) < 1+slowAddrs; try++ {
		if try == 20 {
			t.Fatal("no port free on 127.0.0.10-18")
		}
		servers = servers[:0]
		fast, err := startFlood(t, "127.0.0.10:0", 0, &open)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(fast.addr)
		servers = append(servers, fast)
		for i := range slowAddrs {
			fs, err := startFlood(t, fmt.Sprintf("127.0.0.%d:%s", 11+i, port), slowHold, &open)
			if err != nil {
				break
			}
			servers = append(servers, fs)
		}
	}
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
	var p int
	fmt.Sscan(port, &p)
	sink := &lab.LogBuffer{}
	cfg := hostileConfig(t, dns, p, func(c *config.Config) {
		c.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
		c.Probe.Concurrency = concurrent
		c.Probe.RatePerAddress = config.RateEvery(time.Duration(float64(time.Second) / perSecond))
		c.Probe.RateBurst = burst
		c.Answer.Wait = config.Duration{Duration: wait}
	})
	s := warmService(t, cfg, sink.Logger())
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
	// Every flood request is answered (empty) within answer.wait, long
	// before the probes it queued are done, and on a fast machine in less
	// than a second: too short for the rate limit to show. Let the queued
	// probes run, the cached domain still asked, until the fast server has
	// seen two connections more than the burst allows at once (5 s at most;
	// the check below fails if it has not).
	for deadline := time.Now().Add(5 * time.Second); len(servers[0].times()) < burst+2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	flood := time.Since(start)
	close(stopWatch)
	<-watchDone
	// The flood is over: stop the probes still queued.
	s.hosts.Close()
	s.domains.Close()
	s.Wait()

	hs := s.hosts.Stats()
	t.Logf("figure: %d unknown domains from %d clients in %v: %d errors, %d non-empty answers, slowest answer %v; probes started %d; server %+v",
		domains, clients, answered.Round(time.Millisecond), errs.Load(), nonEmpty.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), hs.Loads, srv.Stats())
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

	peak := open.peak.Load()
	t.Logf("figure: connections open at once: at most %d (probe.concurrency %d)", peak, concurrent)
	if peak > concurrent {
		t.Errorf("%d probe connections open at once, probe.concurrency is %d", peak, concurrent)
	}
	for _, fs := range servers {
		at := fs.times()
		excess, n, window := worstWindow(at, perSecond, burst)
		t.Logf("figure: %s: %d connections in %v; worst window %d connections in %v (excess %.1f over %v/s burst %d)",
			fs.addr, len(at), flood.Round(time.Millisecond), n, window.Round(time.Millisecond), excess, perSecond, burst)
		// Connections reach the server a little after their token: allow
		// one more token and a second's jitter.
		if excess > 1+perSecond {
			t.Errorf("%s: %d connections within %v, over rate_per_address %v/s burst %d", fs.addr, n, window, perSecond, burst)
		}
	}
	if len(servers[0].times()) < burst+2 {
		t.Errorf("the fast server saw %d connections in %v: the rate limit was not reached, the test proves little", len(servers[0].times()), flood)
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
