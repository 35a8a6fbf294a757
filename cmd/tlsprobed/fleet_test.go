package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// TestFleetOfDaemons: three real daemons share one real redis-server (with
// a password) and face one real server with a 768-bit prime behind a
// counting proxy. The same cold burst of domains at all three at once
// makes one probe, counted at the server; every answer is tlsexport. A
// fourth daemon started afterwards, without a cache file, answers every
// domain from Redis at once: no probe line, no connection.
func TestFleetOfDaemons(t *testing.T) {
	lab.Require(t, "gcc")
	server := lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"})
	port, conns := countingProxy(t, server.Addr.String())
	const nDomains = 20
	zone := []string{"mx.fleet.test. 300 IN A 127.0.0.5"}
	var domains []string
	for i := range nDomains {
		d := fmt.Sprintf("d%d.fleet.test", i)
		domains = append(domains, d)
		zone = append(zone, d+". 300 IN MX 10 mx.fleet.test.")
	}
	dns := lab.StartDNS(t, zone...)
	redis := lab.StartRedis(t, lab.RedisOptions{Password: "fleet-secret"})
	bin := buildDaemon(t)

	f := fleetLab{bin: bin, dns: dns, port: port, redis: redis.URL()}
	start := func() (*daemon, string) { return f.start(t) }
	var socks []string
	var daemons []*daemon
	for range 3 {
		d, s := start()
		daemons, socks = append(daemons, d), append(socks, s)
	}

	burst := time.Now()
	wrong := askAll(socks, domains, "tlsexport")
	took := time.Since(burst)
	if len(wrong) != 0 {
		t.Errorf("%d of %d answers wrong: %v", len(wrong), 3*nDomains, wrong)
	}
	probeLines := 0
	for _, d := range daemons {
		probeLines += len(d.lines("probe"))
	}
	connsAfterBurst := conns.Load()
	t.Logf("figure: cold burst of %d domains at 3 daemons at once (%d requests): answered in %v; %d probe lines across the fleet, %d connections at the server",
		nDomains, 3*nDomains, took.Round(time.Millisecond), probeLines, connsAfterBurst)
	if probeLines != 1 {
		t.Errorf("%d probes across the fleet, want 1", probeLines)
	}
	// A probe of a TLS 1.2-only server with a weak prime takes at most two
	// connections (the hello, then the TLS 1.3 question).
	if connsAfterBurst < 1 || connsAfterBurst > 2 {
		t.Errorf("%d connections at the server for one probe", connsAfterBurst)
	}

	// A daemon added afterwards, no cache file: every domain from Redis.
	d4, sock4 := start()
	burst = time.Now()
	for _, dom := range domains {
		if got := query(t, sock4, dom); got != "tlsexport" {
			t.Errorf("relay 4: %s answered %q, want tlsexport from Redis", dom, got)
		}
	}
	took = time.Since(burst)
	t.Logf("figure: a new daemon without a cache file answered %d known domains one after another in %v; %d probe lines, %d new connections",
		nDomains, took.Round(time.Millisecond), len(d4.lines("probe")), conns.Load()-connsAfterBurst)
	if n := len(d4.lines("probe")); n != 0 || conns.Load() != connsAfterBurst {
		t.Errorf("relay 4: %d probe lines, %d new connections; want none", n, conns.Load()-connsAfterBurst)
	}
	if n := len(d4.lines("redis")); n != 1 {
		t.Errorf("relay 4 logged %d redis state lines, want 1 (up)", n)
	}
}

// fleetLab is what the daemons of TestFleetOfDaemons share: the binary,
// the DNS server, the probed port and the Redis URL.
type fleetLab struct {
	bin, dns, redis string
	port            int
}

// start starts one daemon of the fleet and returns it and its socket.
func (f fleetLab) start(t *testing.T) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "s"), filepath.Join(dir, "config.toml")
	writeConfig(t, cfgFile, fmt.Sprintf(`
[listen]
socket = %q
[dns]
servers = [%q]
timeout = "1s"
[probe]
port = %d
helo = "relay.test"
timeout = "20s"
ignore_networks = ["10.0.0.0/8"]
[answer]
wait = "20s"
[redis]
url = %q
prefix = "fleet-test:"
`, sock, f.dns, f.port, f.redis))
	d := startDaemon(t, f.bin, cfgFile, sock)
	return d, sock
}

// askAll asks every daemon for every domain at once and returns the
// answers other than want (socket and domain -> answer and error).
func askAll(socks, domains []string, want string) map[string]string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := map[string]string{}
	for _, sock := range socks {
		for _, dom := range domains {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				got, err := queryErr(ctx, sock, dom)
				if err != nil || got != want {
					mu.Lock()
					wrong[sock+" "+dom] = fmt.Sprintf("%q %v", got, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return wrong
}

// queryErr is query that returns the error instead of failing the test
// (for goroutines).
func queryErr(ctx context.Context, sock, req string) (string, error) {
	b, err := socket.Query(ctx, sock, req)
	return string(b), err
}
