//go:build soak

// The soak (scripts/soak; not in CI): the daemon binary for SOAK_DURATION
// (default 30m) against the lab under mixed load. See BENCHMARKS.md.

package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// soakVariant is one server set-up a lab host can be restarted with, and
// the answer docs/design.md section 1 gives for it (key_min_bits 2048,
// dh_min_bits 1024): what the server really does, fixed by its options.
type soakVariant struct {
	name string
	opts lab.OpenSSLOptions
	want string
}

var soakVariants = []soakVariant{
	{"dh512", lab.OpenSSLOptions{DH: "dh512", Ciphers: "kDHE", MaxTLS: "1.2"}, "tlsexport"},
	{"dh768", lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}, "tlsexport"},
	{"dh1024", lab.OpenSSLOptions{DH: "dh1024", Ciphers: "kDHE", MaxTLS: "1.2"}, ""},
	{"modern", lab.OpenSSLOptions{}, ""},
	{"rsa1024", lab.OpenSSLOptions{Cert: "rsa1024"}, "smallkey"},
}

const (
	soakHosts  = 6   // MX hosts, 127.0.0.2 ... 127.0.0.7
	soakCached = 200 // domains asked again and again
	// soakGrace: an answer is judged only when nothing it depends on (its
	// MX record, the server behind that MX host) changed within soakGrace:
	// the facts' TTL (cache.ttl 1m) or the MX TTL (60 s, the minimum), a
	// refresh probe (probe.timeout 10s), answer.wait, and 20 s of margin.
	soakGrace = 100 * time.Second
)

// switchProxy is a lab host: 127.0.0.N:port forwarding to the fixture of
// the moment. restart points it to a new fixture and cuts the connections
// in flight, as a server restart does.
type switchProxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func startSwitchProxy(t *testing.T, addr, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.target.Store(&target)
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *switchProxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.DialTimeout("tcp", *p.target.Load(), 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.conns, c); delete(p.conns, s); p.mu.Unlock() }()
	c.SetDeadline(time.Now().Add(time.Minute))
	s.SetDeadline(time.Now().Add(time.Minute))
	done := make(chan struct{})
	go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(c, s)
	c.Close()
	<-done
}

func (p *switchProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *switchProxy) restart(target string) {
	p.target.Store(&target)
	p.cut()
}

// soakWorld is the truth the answers are judged against, with the time
// each part last changed.
type soakWorld struct {
	mu        sync.Mutex
	variant   [soakHosts]int       // host -> index in soakVariants
	hostSince [soakHosts]time.Time // host -> when its server last changed
	mx        map[string]int       // domain -> host
	mxSince   map[string]time.Time // domain -> when its MX record last changed
	newSeq    int                  // new domains made so far
	fresh     []string             // new domains in the zone, not asked yet
}

func (w *soakWorld) zone() []string {
	var z []string
	for h := range soakHosts {
		z = append(z, fmt.Sprintf("mx%d.soak. 60 IN A 127.0.0.%d", h, h+2))
	}
	for d, h := range w.mx {
		z = append(z, fmt.Sprintf("%s. 60 IN MX 10 mx%d.soak.", d, h))
	}
	return z
}

// expect returns the answer due for domain at now, and whether it is
// judged (nothing it depends on changed within soakGrace).
func (w *soakWorld) expect(domain string, now time.Time) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.mx[domain]
	if !ok {
		return "", false
	}
	settled := now.Sub(w.mxSince[domain]) >= soakGrace && now.Sub(w.hostSince[h]) >= soakGrace
	return soakVariants[w.variant[h]].want, settled
}

// soakSample is one row of samples.csv.
type soakSample struct {
	at                           time.Duration
	rssKiB, goroutines           int64
	load1                        string
	requests, judged, wrong, bad int64
	slowest                      time.Duration
	logErrors, logWarns          int
}

func TestSoak(t *testing.T) {
	dur, out := soakSettings(t)
	lab.Require(t, "gcc")
	rng := rand.New(rand.NewPCG(1, 2))

	// The lab: a fixture per host behind a proxy on 127.0.0.N:port.
	lw := startSoakWorld(t, rng)
	w, proxies, cached, dns, port, start := lw.w, lw.proxies, lw.cached, lw.dns, lw.port, lw.start

	sd := startSoakDaemon(t, dns.Addr, port)
	d, sock, metricsAddr := sd.d, sd.sock, sd.metricsAddr

	// Load: 4 clients, 80% cached domains, 20% new ones, ~50 requests/s.
	load := &soakLoad{sock: sock, w: w, cached: cached, start: start}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for c := range 4 {
		clients.Go(func() { load.client(c, stop) })
	}

	// Changes: a server restart with another set-up every 45 s (a host
	// at random), DNS changes each minute (10 cached domains move to
	// another host, 100 new domains), SIGHUP every 3 minutes, a cache
	// save (SIGUSR1) every minute, a sample every 10 s.
	cw := sampleCSV(t, out)
	var rows []soakSample
	sample := func() { rows = append(rows, load.sample(cw, d, metricsAddr)) }
	restarts, dnsChanges, hups, saves := 0, 0, 0, 0
	restartT, dnsT, hupT, saveT, sampleT := time.NewTicker(45*time.Second), time.NewTicker(time.Minute), time.NewTicker(3*time.Minute), time.NewTicker(time.Minute), time.NewTicker(10*time.Second)
	defer func() { restartT.Stop(); dnsT.Stop(); hupT.Stop(); saveT.Stop(); sampleT.Stop() }()
	sample()
	end := time.After(dur)
loop:
	for {
		select {
		case <-end:
			break loop
		case <-restartT.C:
			h, v := w.restartHost(t, rng, proxies[:])
			restarts++
			t.Logf("%v: host %d restarted as %s", time.Since(start).Round(time.Second), h, soakVariants[v].name)
		case <-dnsT.C:
			w.changeDNS(t, rng, dns, cached)
			dnsChanges++
		case <-hupT.C:
			hups++
			sd.writeConfig(t, hups)
			d.cmd.Process.Signal(syscall.SIGHUP)
			if l := d.waitLines(t, "reload", hups); l[len(l)-1]["result"] != "ok" {
				t.Errorf("SIGHUP %d: %v", hups, l[len(l)-1])
			}
		case <-saveT.C:
			saves++
			if a := d.saveAndWait(t, saves); a["err"] != nil {
				t.Errorf("save %d: %v", saves, a)
			}
		case <-sampleT.C:
			sample()
		}
	}
	close(stop)
	clients.Wait()
	sample()
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, "daemon.log"), []byte(d.logs.String()), 0o644); err != nil {
		t.Error(err)
	}

	reportSoak(t, rows, load.wrongs, fmt.Sprintf("%d server restarts, %d DNS changes, %d SIGHUPs, %d saves", restarts, dnsChanges, hups, saves), dur, out)
}

// soakSettings are SOAK_DURATION (default 30m) and SOAK_OUT, where the
// samples and the daemon's log go (default a temporary directory).
func soakSettings(t *testing.T) (dur time.Duration, out string) {
	t.Helper()
	dur = 30 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	out = os.Getenv("SOAK_OUT")
	if out == "" {
		out = t.TempDir()
	}
	return dur, out
}

// soakLab is the soak's lab: the world, its servers behind their proxies
// on 127.0.0.N:port, the cached domains and the DNS server.
type soakLab struct {
	w       *soakWorld
	proxies [soakHosts]*switchProxy
	cached  []string
	dns     *lab.DNSServer
	port    int
	start   time.Time
}

// startSoakWorld starts a server of its variant per host, the cached
// domains spread over the hosts, 300 new domains, and the DNS serving them.
func startSoakWorld(t *testing.T, rng *rand.Rand) soakLab {
	t.Helper()
	port := lab.FreePort(t)
	l := soakLab{port: port, start: time.Now()}
	w := &soakWorld{mx: map[string]int{}, mxSince: map[string]time.Time{}}
	start := l.start
	for h := range soakHosts {
		w.variant[h] = h % len(soakVariants)
		w.hostSince[h] = start
		srv := lab.StartOpenSSL(t, soakVariants[w.variant[h]].opts)
		l.proxies[h] = startSwitchProxy(t, fmt.Sprintf("127.0.0.%d:%d", h+2, port), srv.Addr.String())
	}
	for i := range soakCached {
		d := fmt.Sprintf("c%d.soak", i)
		l.cached = append(l.cached, d)
		w.mx[d], w.mxSince[d] = i%soakHosts, start
	}
	// A new domain depends only on its host's server: nothing about it can
	// be cached before it is first asked, so it has no MX change to wait
	// for (mxSince zero). It is handed to the clients only once the DNS
	// serves it.
	w.fresh = w.addNew(rng, 300)
	l.w, l.dns = w, lab.StartDNSServer(t, w.zone()...)
	return l
}

// soakDaemon is the daemon under soak and its configuration file, whose
// text changes with each SIGHUP.
type soakDaemon struct {
	d                          *daemon
	sock, cfgFile, metricsAddr string
	text                       func(hup int) string
}

func (sd soakDaemon) writeConfig(t *testing.T, hup int) { writeConfig(t, sd.cfgFile, sd.text(hup)) }

// startSoakDaemon starts the daemon on the lab's DNS and port, with
// metrics, a cache file, and debug logs.
func startSoakDaemon(t *testing.T, dnsAddr string, port int) soakDaemon {
	t.Helper()
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", lab.FreePort(t))
	sd := soakDaemon{sock: sock, cfgFile: cfgFile, metricsAddr: metricsAddr, text: func(hup int) string {
		return labConfig(sock, dnsAddr, "1s", port, "10s") + fmt.Sprintf(`
[answer]
wait = "2s"
[cache]
ttl = "1m"
error_ttl = "30s"
file = %q
[metrics]
listen = %q
[overrides]
none = ["hup%d.invalid"]
`, filepath.Join(dir, "cache.json"), metricsAddr, hup)
	}}
	sd.writeConfig(t, 0)
	sd.d = startDaemonArgs(t, bin, sock, "-config", cfgFile, "-log-format", "json", "-log-level", "debug")
	return sd
}

// sampleCSV creates samples.csv in out, with its header.
func sampleCSV(t *testing.T, out string) *csv.Writer {
	t.Helper()
	samples, err := os.Create(filepath.Join(out, "samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { samples.Close() })
	cw := csv.NewWriter(samples)
	cw.Write([]string{"seconds", "rss_kib", "goroutines", "load1", "requests", "judged", "wrong", "errors_or_slow", "slowest_ms", "log_errors", "log_warns"})
	return cw
}

// addNew adds n new domains, each on a random host, to the zone (not yet
// to fresh: the caller hands them to the clients once the DNS serves
// them). A new domain depends only on its host's server: nothing about it
// can be cached before it is first asked, so it has no MX change to wait
// for (mxSince zero). Called with w.mu held, or before the clients start.
func (w *soakWorld) addNew(rng *rand.Rand, n int) (added []string) {
	for range n {
		d := fmt.Sprintf("n%d.soak", w.newSeq)
		w.newSeq++
		w.mx[d] = rng.IntN(soakHosts)
		added = append(added, d)
	}
	return added
}

// restartHost restarts a random host's server with another set-up and
// returns the host and its new variant.
func (w *soakWorld) restartHost(t *testing.T, rng *rand.Rand, proxies []*switchProxy) (h, v int) {
	h = rng.IntN(soakHosts)
	w.mu.Lock()
	v = (w.variant[h] + 1 + rng.IntN(len(soakVariants)-1)) % len(soakVariants)
	w.mu.Unlock()
	srv := lab.StartOpenSSL(t, soakVariants[v].opts)
	w.mu.Lock()
	w.variant[h], w.hostSince[h] = v, time.Now()
	w.mu.Unlock()
	proxies[h].restart(srv.Addr.String())
	return h, v
}

// changeDNS moves 10 cached domains to another host and adds 100 new
// domains, forgetting the oldest new domains asked (the zone stays
// bounded); the new ones go to the clients once the DNS serves them.
func (w *soakWorld) changeDNS(t *testing.T, rng *rand.Rand, dns *lab.DNSServer, cached []string) {
	w.mu.Lock()
	for range 10 {
		dom := cached[rng.IntN(len(cached))]
		w.mx[dom], w.mxSince[dom] = (w.mx[dom]+1+rng.IntN(soakHosts-1))%soakHosts, time.Now()
	}
	added := w.addNew(rng, 100)
	for dom := range w.mx {
		if n, ok := strings.CutPrefix(dom, "n"); ok && !slices.Contains(w.fresh, dom) {
			if i, _ := strconv.Atoi(strings.TrimSuffix(n, ".soak")); i < w.newSeq-1000 {
				delete(w.mx, dom)
				delete(w.mxSince, dom)
			}
		}
	}
	z := w.zone()
	w.mu.Unlock()
	dns.SetRecords(t, z...)
	w.mu.Lock()
	w.fresh = append(w.fresh, added...)
	w.mu.Unlock()
}

// soakLoad is the soak's clients and what they counted.
type soakLoad struct {
	sock   string
	w      *soakWorld
	cached []string
	start  time.Time

	requests, judged, wrong, bad atomic.Int64
	slowest                      atomic.Int64 // nanoseconds
	mu                           sync.Mutex
	wrongs                       []string // what went wrong, for the log
}

// client is one client: a request every 80 ms until stop, for a cached
// domain or (one in five) a new one, each answer judged against the world.
func (l *soakLoad) client(c int, stop <-chan struct{}) {
	r := rand.New(rand.NewPCG(uint64(c), 7))
	tick := time.NewTicker(80 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		domain := l.cached[r.IntN(len(l.cached))]
		if r.IntN(5) == 0 {
			l.w.mu.Lock()
			if len(l.w.fresh) > 0 {
				domain, l.w.fresh = l.w.fresh[0], l.w.fresh[1:]
			}
			l.w.mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		b, err := socket.Query(ctx, l.sock, domain)
		took := time.Since(t0)
		cancel()
		l.requests.Add(1)
		for {
			s := l.slowest.Load()
			if int64(took) <= s || l.slowest.CompareAndSwap(s, int64(took)) {
				break
			}
		}
		if err != nil || took > 3*time.Second {
			l.bad.Add(1)
			l.mu.Lock()
			l.wrongs = append(l.wrongs, fmt.Sprintf("%v: %s: error %v after %v", time.Since(l.start).Round(time.Second), domain, err, took))
			l.mu.Unlock()
			continue
		}
		want, ok := l.w.expect(domain, t0)
		if !ok {
			continue
		}
		l.judged.Add(1)
		if string(b) != want {
			l.wrong.Add(1)
			l.mu.Lock()
			l.wrongs = append(l.wrongs, fmt.Sprintf("%v: %s answered %q, want %q", time.Since(l.start).Round(time.Second), domain, b, want))
			l.mu.Unlock()
		}
	}
}

// sample is the row of samples.csv for now, written to cw.
func (l *soakLoad) sample(cw *csv.Writer, d *daemon, metricsAddr string) soakSample {
	s := soakSample{at: time.Since(l.start), rssKiB: rssKiB(d.cmd.Process.Pid), goroutines: goroutines(metricsAddr),
		load1: load1(), requests: l.requests.Load(), judged: l.judged.Load(), wrong: l.wrong.Load(), bad: l.bad.Load(),
		slowest: time.Duration(l.slowest.Load())}
	s.logErrors, s.logWarns = logLevels(d)
	cw.Write([]string{strconv.Itoa(int(s.at.Seconds())), strconv.FormatInt(s.rssKiB, 10), strconv.FormatInt(s.goroutines, 10), s.load1,
		strconv.FormatInt(s.requests, 10), strconv.FormatInt(s.judged, 10), strconv.FormatInt(s.wrong, 10), strconv.FormatInt(s.bad, 10),
		strconv.FormatInt(s.slowest.Milliseconds(), 10), strconv.Itoa(s.logErrors), strconv.Itoa(s.logWarns)})
	cw.Flush()
	return s
}

// reportSoak logs the soak's figure line and its first wrong answers, and
// fails the test on any wrong or slow answer or error log line.
func reportSoak(t *testing.T, rows []soakSample, wrongs []string, changes string, dur time.Duration, out string) {
	t.Helper()
	first, last := rows[min(1, len(rows)-1)], rows[len(rows)-1]
	var maxRSS, maxG int64
	for _, r := range rows[1:] {
		maxRSS, maxG = max(maxRSS, r.rssKiB), max(maxG, r.goroutines)
	}
	t.Logf("figure: soak %v: %d requests, %d judged, %d wrong, %d errors or answers over 3s, slowest %v; %s; RSS %d KiB at 10 s, %d KiB max, %d KiB at the end; goroutines %d at 10 s, %d max, %d at the end; log: %d error lines, %d warn lines; load average at the end %s; samples in %s",
		dur, last.requests, last.judged, last.wrong, last.bad, last.slowest.Round(time.Millisecond), changes,
		first.rssKiB, maxRSS, last.rssKiB, first.goroutines, maxG, last.goroutines, last.logErrors, last.logWarns, last.load1, out)
	for i, s := range wrongs {
		if i == 20 {
			t.Logf("... %d more", len(wrongs)-20)
			break
		}
		t.Log(s)
	}
	if last.wrong != 0 || last.bad != 0 || last.logErrors != 0 {
		t.Errorf("soak: %d wrong answers, %d errors or slow answers, %d error log lines; want none", last.wrong, last.bad, last.logErrors)
	}
}

// rssKiB is VmRSS of pid.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// goroutines is go_goroutines from the daemon's metrics endpoint.
func goroutines(addr string) int64 {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int64(n)
		}
	}
	return -1
}

func load1() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// logLevels counts the daemon's ERROR and WARN log lines.
func logLevels(d *daemon) (errs, warns int) {
	for _, l := range strings.Split(d.logs.String(), "\n") {
		switch {
		case strings.Contains(l, `"level":"ERROR"`):
			errs++
		case strings.Contains(l, `"level":"WARN"`):
			warns++
		}
	}
	return errs, warns
}
