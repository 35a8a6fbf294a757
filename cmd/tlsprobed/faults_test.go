package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// TestRestartAnswersFromCache: the daemon learns a verdict from a real probe
// of a real server, saves its cache when stopped, and after a restart
// answers from the saved cache at once: no probe line in the log, no
// connection to the server.
func TestRestartAnswersFromCache(t *testing.T) {
	lab.Require(t, "gcc")
	server := lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"})
	port, conns := countingProxy(t, server.Addr.String())
	dns := lab.StartDNS(t, "restart.test. 300 IN MX 10 mx.restart.test.", "mx.restart.test. 300 IN A 127.0.0.5")
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	writeConfig(t, cfgFile, labConfig(sock, dns, "1s", port, "20s")+fmt.Sprintf(`
[answer]
wait = "20s"
[cache]
file = %q
`, filepath.Join(dir, "cache.json")))

	d1 := startDaemon(t, bin, cfgFile, sock)
	if got := query(t, sock, "restart.test"); got != "tlsexport" {
		t.Fatalf("first daemon: answer %q, want tlsexport (from a probe)", got)
	}
	// The probe line is logged as the probe ends, which may be just after
	// the answer went out.
	d1.waitLines(t, "probe", 1)
	probed := conns.Load()
	if len(d1.lines("probe")) == 0 || probed == 0 {
		t.Fatalf("first daemon: %d probe log lines, %d connections; want a probe", len(d1.lines("probe")), probed)
	}
	if err := d1.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("first daemon exit: %v", err)
	}

	d2 := startDaemon(t, bin, cfgFile, sock)
	start := time.Now()
	got := query(t, sock, "restart.test")
	took := time.Since(start)
	out := query(t, sock, "explain restart.test")
	var dec decision.Decision
	if err := json.Unmarshal([]byte(out), &dec); err != nil {
		t.Fatalf("explain: %v in %q", err, out)
	}
	// A background probe or reload started by these queries would count
	// as a cache load at once (the cache counts a load when it starts it,
	// before the query returns): the stats are the event to look at, not
	// time left for a probe to show up.
	loads := cacheLoads(t, query(t, sock, "stats"))
	t.Logf("figure: after restart: %q in %v; explain source %s, MX from %s; cache loads %v; probe lines %d; connections %d before, %d after",
		got, took.Round(time.Millisecond), dec.Source, dec.MX[0].Source, loads, len(d2.lines("probe")), probed, conns.Load())
	if len(loads) == 0 {
		t.Errorf("after restart: stats hold no cache load counters, cannot tell whether anything was reloaded")
	}
	for name, n := range loads {
		if n != 0 {
			t.Errorf("after restart: cache %s started %v loads, want none (answers from the saved cache)", name, n)
		}
	}
	if got != "tlsexport" {
		t.Errorf("after restart: answer %q, want tlsexport from the saved cache", got)
	}
	if len(dec.MX) != 1 || dec.MX[0].Source != "cache" {
		t.Errorf("after restart: explain %s, want the MX host from the cache", out)
	}
	if n := len(d2.lines("probe")); n != 0 || conns.Load() != probed {
		t.Errorf("after restart: %d probe log lines and %d new connections, want none", n, conns.Load()-probed)
	}
	if l := d2.lines("cache"); len(l) == 0 || l[0]["loaded"] == nil {
		t.Errorf("after restart: no log line saying the cache was loaded: %v", l)
	}
}

// cacheLoads returns, from a stats answer, every cache's count of loads
// started and in flight ("hosts.loads": 0, ...): wherever the service puts
// its caches, each is an object with "loads" and "in_flight".
func cacheLoads(t *testing.T, stats string) map[string]float64 {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(stats), &m); err != nil {
		t.Fatalf("stats: %v in %q", err, stats)
	}
	out := map[string]float64{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		o, ok := v.(map[string]any)
		if !ok {
			return
		}
		if loads, ok := o["loads"].(float64); ok {
			inFlight, _ := o["in_flight"].(float64)
			out[prefix+"loads"] = loads
			out[prefix+"in_flight"] = inFlight
		}
		for k, c := range o {
			walk(prefix+k+".", c)
		}
	}
	walk("", m)
	return out
}

// TestReloadBrokenConfig: SIGHUP with a broken config (bad TOML, an unknown
// key, an invalid value) is refused with the reason in the log, and the old
// config stays in force; a good config then takes over.
func TestReloadBrokenConfig(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	base := fmt.Sprintf("[listen]\nsocket = %q\n[dns]\nservers = [\"127.0.0.1:1\"]\ntimeout = \"200ms\"\n", sock)
	writeConfig(t, cfgFile, base+"[overrides]\ntlsexport = [\"old.test\"]\n")
	d := startDaemon(t, bin, cfgFile, sock)
	if got := query(t, sock, "old.test"); got != "tlsexport" {
		t.Fatalf("old.test: %q, want tlsexport", got)
	}
	reloads := 0
	for _, tc := range []struct{ name, text, reason string }{
		{"bad-toml", base + "[overrides\ntlsexport = [\"new.test\"]\n", "config.toml:"},
		{"unknown-key", base + "[probe]\ntimout = \"3s\"\n", "probe.timout"},
		{"invalid-value", base + "[probe]\ntimeout = \"0s\"\n", "probe.timeout"},
		{"same-name-in-two-lists", base + "[overrides]\nsmallkey = [\"x.test\"]\ntlsexport = [\"x.test\"]\n", "x.test"},
		{"missing-file", "", ""},
	} {
		if tc.name == "missing-file" {
			os.Remove(cfgFile)
			tc.reason = "no such file"
		} else {
			writeConfig(t, cfgFile, tc.text)
		}
		d.cmd.Process.Signal(syscall.SIGHUP)
		reloads++
		l := d.waitLines(t, "reload", reloads)
		last := l[len(l)-1]
		t.Logf("figure: SIGHUP with %s: %v", tc.name, last)
		if last["result"] != "refused" || !strings.Contains(fmt.Sprint(last["err"]), tc.reason) {
			t.Errorf("%s: reload log %v, want refused naming %q", tc.name, last, tc.reason)
		}
		if got := query(t, sock, "old.test"); got != "tlsexport" {
			t.Errorf("%s: old.test answered %q after the refused reload, want tlsexport (old config)", tc.name, got)
		}
	}
	writeConfig(t, cfgFile, base+"[overrides]\nsmallkey = [\"new.test\"]\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	reloads++
	if l := d.waitLines(t, "reload", reloads); l[len(l)-1]["result"] != "ok" {
		t.Errorf("good config: reload log %v, want ok", l[len(l)-1])
	}
	if a, b := query(t, sock, "new.test"), query(t, sock, "old.test"); a != "smallkey" || b != "" {
		t.Errorf("after the good reload: new.test %q, old.test %q; want smallkey and empty", a, b)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestTermWithRequestsInFlight: SIGTERM while requests wait for their
// answers (explain of a domain whose DNS never answers, waiting answer.wait):
// every one is answered before the daemon exits, new connections are
// refused meanwhile, the exit is clean, the socket is gone and the cache
// saved.
func TestTermWithRequestsInFlight(t *testing.T) {
	const inFlight = 20
	dns := lab.StartDNS(t, "TIMEOUT slow.test.")
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile, cacheFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml"), filepath.Join(dir, "cache.json")
	writeConfig(t, cfgFile, fmt.Sprintf(`
[listen]
socket = %q
[dns]
servers = [%q]
timeout = "1s"
[answer]
wait = "2s"
[cache]
file = %q
`, sock, dns, cacheFile))
	d := startDaemon(t, bin, cfgFile, sock)

	answers := sendInFlight(sock, "explain slow.test\n", inFlight)
	// Wait until the daemon holds every one of them.
	// The requests, the start-up check's stats queries and this one: at
	// least inFlight+2 accepted.
	lab.WaitFor(t, "acceptance of the requests in flight", func() bool {
		var st lookupd.Stats
		return json.Unmarshal([]byte(query(t, sock, "stats")), &st) == nil && st.Conns != nil && st.Conns.Accepted >= inFlight+2
	})
	sent := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	// Once shutdown has begun, the socket is gone: nobody new gets in.
	// (The shutdown line comes just before the socket goes: wait for both.)
	d.waitLines(t, "shutdown", 1)
	lab.WaitFor(t, "removal of the socket after SIGTERM", func() bool {
		_, err := os.Stat(sock)
		return errors.Is(err, os.ErrNotExist)
	})
	refusedNew := false
	if _, err := net.Dial("unix", sock); err != nil {
		refusedNew = true
	}
	err := d.stop(t, syscall.Signal(0))
	exited := time.Now()
	answered := checkExplained(t, answers, inFlight, "slow.test", exited)
	_, statErr := os.Stat(sock)
	_, cacheErr := os.Stat(cacheFile)
	t.Logf("figure: SIGTERM with %d requests in flight: %d answered, exit %v after %v; new connection refused: %v; socket removed: %v; cache saved: %v",
		inFlight, answered, err, exited.Sub(sent).Round(time.Millisecond), refusedNew, os.IsNotExist(statErr), cacheErr == nil)
	if err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if !refusedNew {
		t.Error("a new connection was accepted after SIGTERM")
	}
	if !os.IsNotExist(statErr) {
		t.Errorf("socket left behind: %v", statErr)
	}
	if cacheErr != nil {
		t.Errorf("cache not saved on exit: %v", cacheErr)
	}
}

// timedAnswer is an answer and when it came.
type timedAnswer struct {
	out string
	err error
	at  time.Time
}

// sendInFlight sends req to sock n times at once, each on a connection of
// its own, and returns the channel their n answers come on.
func sendInFlight(sock, req string, n int) <-chan timedAnswer {
	answers := make(chan timedAnswer, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := socket.Query(ctx, sock, req)
			answers <- timedAnswer{string(b), err, time.Now()}
		}()
	}
	return answers
}

// checkExplained reads n answers, each the explanation of domain, that
// came before the daemon exited, and returns how many there were.
func checkExplained(t *testing.T, answers <-chan timedAnswer, n int, domain string, exited time.Time) int {
	t.Helper()
	answered := 0
	for range n {
		a := <-answers
		var dec decision.Decision
		if a.err != nil || json.Unmarshal([]byte(a.out), &dec) != nil || dec.Domain != domain {
			t.Errorf("in-flight request: %q, %v; want its explanation", a.out, a.err)
			continue
		}
		if a.at.After(exited) {
			t.Errorf("an answer came %v after the exit", a.at.Sub(exited))
		}
		answered++
	}
	return answered
}

// mountTmpfs mounts a tmpfs of size bytes at dir until the test ends.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tlsprobe-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// Small writes too: the last blocks.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	return path
}

// saveAndWait sends SIGUSR1 (save the cache now) and waits for the debug
// line of that attempt, the n-th.
func (d *daemon) saveAndWait(t *testing.T, n int) map[string]any {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGUSR1)
	var l []map[string]any
	lab.WaitFor(t, fmt.Sprintf("save attempt %d after SIGUSR1", n), func() bool {
		l = nil
		for _, m := range d.lines("cache") {
			if m["event"] == "save attempted" {
				l = append(l, m)
			}
		}
		return len(l) >= n
	})
	return l[n-1]
}

// cacheEvents returns the events of the cache log lines other than the
// save attempts, in order.
func (d *daemon) cacheEvents() []string {
	var out []string
	for _, m := range d.lines("cache") {
		if e, ok := m["event"].(string); ok && e != "save attempted" {
			out = append(out, e+": "+fmt.Sprint(m["reason"]))
		}
	}
	return out
}

// TestCacheFileFaults: the state directory (a small tmpfs) fills up, then
// becomes read-only, then disappears, while the daemon saves its cache
// (SIGUSR1 asks for a save now). Each time the previous file stays whole,
// the failure is logged once however many saves fail (one line per change
// of state: failing for a reason, working again), and answers go on.
func TestCacheFileFaults(t *testing.T) {
	lab.RequireRoot(t, "mounts a tmpfs")
	lab.Require(t, "mount", "umount")
	f := startCacheFaults(t)
	d, sock, mnt, state, cacheFile := f.d, f.sock, f.mnt, f.state, f.cacheFile
	ask := func(i int) {
		t.Helper()
		if got := query(t, sock, fmt.Sprintf("d%d.test", i)); got != "" {
			t.Fatalf("d%d.test answered %q, want empty (its MX address is ignored)", i, got)
		}
	}
	for i := range 10 {
		ask(i)
	}
	saves := 1
	if a := d.saveAndWait(t, saves); a["err"] != nil {
		t.Fatalf("first save: %v", a)
	}
	good, err := readCacheFiles(cacheFile)
	if err != nil || !strings.Contains(good, "mx9.test") {
		t.Fatalf("first save wrote %q, %v", good, err)
	}
	wholeAndUnchanged := func(when string) {
		t.Helper()
		checkCacheFilesKept(t, when, cacheFile, state, good)
	}
	// The disk fills.
	filler := fillDisk(t, mnt)
	for i := 10; i < 20; i++ {
		ask(i) // answers go on, and the cache grows
	}
	for range 3 {
		saves++
		if a := d.saveAndWait(t, saves); a["err"] == nil {
			t.Fatalf("save on a full disk: %v, want an error", a)
		}
	}
	wholeAndUnchanged("disk full")
	os.Remove(filler)
	saves++
	if a := d.saveAndWait(t, saves); a["err"] != nil {
		t.Fatalf("save after space came back: %v", a)
	}
	if good, err = readCacheFiles(cacheFile); err != nil || !strings.Contains(good, "mx19.test") {
		t.Errorf("after space came back: the files lack what was learnt meanwhile (%v)", err)
	}

	// The file system becomes read-only.
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v: %s", err, out)
	}
	ask(20)
	for range 3 {
		saves++
		if a := d.saveAndWait(t, saves); a["err"] == nil {
			t.Fatalf("save on a read-only file system: %v, want an error", a)
		}
	}
	wholeAndUnchanged("read-only")
	if out, err := exec.Command("mount", "-o", "remount,rw", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount rw: %v: %s", err, out)
	}

	// The state directory disappears: it is made again.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	ask(21)
	saves++
	if a := d.saveAndWait(t, saves); a["err"] != nil {
		t.Errorf("save after the state directory went: %v, want it recreated and saved", a)
	}
	if b, err := readCacheFiles(cacheFile); err != nil || !strings.Contains(b, "mx21.test") {
		t.Errorf("after the state directory went: %d bytes, %v", len(b), err)
	}

	checkFaultEvents(t, d, saves)
	if got := query(t, sock, "stats"); !strings.Contains(got, `"answers"`) {
		t.Errorf("stats after the faults: %q", got)
	}
}

// checkFaultEvents checks that TestCacheFileFaults' daemon logged one
// line per change of state of its saves, after saves attempts.
func checkFaultEvents(t *testing.T, d *daemon, saves int) {
	t.Helper()
	got := d.cacheEvents()
	want := []string{
		"save failed: no space left on device", "saves work again: <nil>",
		// rw again, but the next save finds the directory gone.
		"save failed: read-only file system", "state directory recreated: <nil>", "saves work again: <nil>",
	}
	t.Logf("figure: %d saves; cache log lines other than the attempts: %q", saves, got)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("cache log lines %q, want %q (one per change of state)", got, want)
	}
}

// cacheFaults is the daemon of TestCacheFileFaults, its cache file in
// the state directory on a small tmpfs of its own.
type cacheFaults struct {
	d                           *daemon
	sock, mnt, state, cacheFile string
}

// startCacheFaults starts the daemon on 40 domains whose MX addresses
// are ignored (127.0.0.0/8 stays ignored, the default: the MX sets are
// cached, no address is probed), with debug logs (the save attempts).
func startCacheFaults(t *testing.T) cacheFaults {
	t.Helper()
	var zone []string
	for i := range 40 {
		zone = append(zone, fmt.Sprintf("d%d.test. 300 IN MX 10 mx%d.test.", i, i), fmt.Sprintf("mx%d.test. 300 IN A 127.0.0.%d", i, 10+i))
	}
	dns := lab.StartDNS(t, zone...)
	bin := buildDaemon(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	mountTmpfs(t, mnt, 64<<10)
	state := filepath.Join(mnt, "state")
	os.Mkdir(state, 0o750)
	sock, cfgFile, cacheFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml"), filepath.Join(state, "cache.json")
	writeConfig(t, cfgFile, fmt.Sprintf("[listen]\nsocket = %q\n[dns]\nservers = [%q]\ntimeout = \"1s\"\n[cache]\nfile = %q\n", sock, dns, cacheFile))
	d := startDaemonArgs(t, bin, sock, "-config", cfgFile, "-log-format", "json", "-log-level", "debug")
	return cacheFaults{d: d, sock: sock, mnt: mnt, state: state, cacheFile: cacheFile}
}

// readCacheFiles reads the cache: cache.file and whatever files the
// service keeps next to it (cache.file.*), as one, in name order.
func readCacheFiles(cacheFile string) (string, error) {
	names, err := filepath.Glob(cacheFile + "*")
	if err != nil || len(names) == 0 {
		return "", fmt.Errorf("no cache files: %v", err)
	}
	var b strings.Builder
	for _, n := range names {
		if strings.Contains(filepath.Base(n), ".tmp") {
			continue
		}
		c, err := os.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "== %s\n%s", filepath.Base(n), c)
	}
	return b.String(), nil
}

// checkCacheFilesKept checks, after failed saves, that the cache files
// are good, whole, and that no temporary file is left in state.
func checkCacheFilesKept(t *testing.T, when, cacheFile, state, good string) {
	t.Helper()
	b, err := readCacheFiles(cacheFile)
	if err != nil || b != good {
		t.Errorf("%s: cache files %d bytes, %v; want the previous files, whole (%d bytes)", when, len(b), err, len(good))
	}
	ents, _ := os.ReadDir(state)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("%s: temporary file %s left behind", when, e.Name())
		}
	}
}

// TestDNSFlap: the DNS server flaps between answering, SERVFAIL and
// silence, a mode every flapPhase, for flapFor: long enough that the
// known domain's MX and address records (TTL clamped up to the 60 s
// minimum) expire in the middle of it and are refreshed against a failing
// server. Every request is answered within answer.wait (plus a margin for
// the machine); the known domain keeps its answer throughout; a domain
// never asked before is empty while the server fails and right as soon as
// it answers again.
func TestDNSFlap(t *testing.T) {
	const (
		flapPhase = 3 * time.Second
		flapFor   = 75 * time.Second
		wait      = time.Second
	)
	lab.Require(t, "gcc")
	server := lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh512", Ciphers: "kDHE", MaxTLS: "1.2"})
	var zone []string
	zone = append(zone, "known.test. 1 IN MX 10 mx.flap.test.", fmt.Sprintf("mx.flap.test. 1 IN A %s", server.Addr.Addr()))
	for i := range int(flapFor/flapPhase) + 1 {
		zone = append(zone, fmt.Sprintf("new%d.test. 1 IN MX 10 mx.flap.test.", i))
	}
	dns := lab.StartDNSServer(t, zone...)
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	writeConfig(t, cfgFile, labConfig(sock, dns.Addr, "300ms", int(server.Addr.Port()), "10s")+fmt.Sprintf("[answer]\nwait = %q\n", wait.String()))
	startDaemon(t, bin, cfgFile, sock) // its cleanup logs the daemon's log if the test fails
	// Learn the known domain (its probe may outlast answer.wait).
	lab.WaitFor(t, "tlsexport for known.test before the flap", func() bool { return query(t, sock, "known.test") == "tlsexport" })
	timed := func(req string) (string, time.Duration) {
		start := time.Now()
		got := query(t, sock, req)
		return got, time.Since(start)
	}
	modes := []lab.DNSMode{lab.DNSServfail, lab.DNSSilent, lab.DNSAnswer}
	start := time.Now()
	var worst time.Duration
	asked := map[lab.DNSMode]int{}
	for phase := 0; time.Since(start) < flapFor; phase++ {
		mode := modes[phase%len(modes)]
		dns.SetMode(mode)
		newDomain := fmt.Sprintf("new%d.test", phase)
		first := true
		for end := time.Now().Add(flapPhase); time.Now().Before(end); {
			got, took := timed("known.test")
			worst = max(worst, took)
			if got != "tlsexport" {
				t.Errorf("%v into the flap (DNS %v): known.test answered %q, want tlsexport", time.Since(start).Round(time.Second), mode, got)
			}
			if first { // a domain never asked, once per phase
				first = false
				got, took = timed(newDomain)
				worst = max(worst, took)
				want := ""
				if mode == lab.DNSAnswer {
					want = "tlsexport"
				}
				if got != want {
					t.Errorf("%v into the flap (DNS %v): %s answered %q, want %q", time.Since(start).Round(time.Second), mode, newDomain, got, want)
				}
				asked[mode]++
			}
			if took > wait+500*time.Millisecond {
				t.Errorf("%v into the flap (DNS %v): an answer took %v, answer.wait is %v", time.Since(start).Round(time.Second), mode, took, wait)
			}
			time.Sleep(50 * time.Millisecond) // pacing of the queries, not a synchronisation
		}
	}
	dns.SetMode(lab.DNSAnswer)
	t.Logf("figure: %v of flapping DNS (%v per mode): slowest answer %v, new domains asked per mode %v", flapFor, flapPhase, worst.Round(time.Millisecond), asked)
}
