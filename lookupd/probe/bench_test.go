package probe

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// BenchmarkProbeCost probes real lab servers (OpenSSL DHE-768 TLS 1.2,
// OpenSSL RSA-1024, Exim with GnuTLS and TLS 1.3) in turn, one at a time
// and from 64 goroutines, then runs `openssl s_client -starttls smtp` and
// `gnutls-cli --starttls-proto=smtp` against the same servers one after
// another, as postmasters do by hand. Per operation (one probe, or one run of
// a client) it reports:
//
//	cpu-ms/op         client CPU: user+sys of this process (getrusage) for the
//	                  probes, of the child process (wait4) for the tools
//	server-cpu-ms/op  CPU of the lab servers and their connection processes
//	                  (a cpuacct cgroup they were started in; absent without one)
//	busy-cores        the whole machine's busy CPU (/proc/stat) over the run,
//	                  other engineers' work included: 2 = saturated
//	ops/s             probes (or tool runs) per second
//
// and at the end the ratios of the tools' CPU to the probe's.
func BenchmarkProbeCost(b *testing.B) {
	lab.Require(b, "gcc", "exim", "openssl", "gnutls-cli")
	q := quietTB{b}
	grp := newCPUGroup(b)
	grp.enter(b)
	// Every probe reaches TLS (outcome ok, whatever the verdict); modern
	// says whether openssl s_client must succeed too (it refuses a prime
	// under 1024 bits).
	servers := []struct {
		name   string
		addr   netip.AddrPort
		modern bool
	}{
		{"openssl-dhe768", lab.StartOpenSSL(q, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}).Addr, false},
		{"openssl-rsa1024", lab.StartOpenSSL(q, lab.OpenSSLOptions{Cert: "rsa1024", MaxTLS: "1.2"}).Addr, false},
		// Exim's defaults take 20 connections and a backlog of 20; 64
		// probers need more.
		{"exim-modern", lab.StartExim(q, lab.EximOptions{Extra: "smtp_accept_max = 256\nsmtp_connect_backlog = 256"}).Addr, true},
	}
	grp.leave(b)
	for _, s := range servers {
		b.Logf("server %s at %s, modern %v", s.name, s.addr, s.modern)
	}

	// What this process spends doing nothing (runtime, lab log readers),
	// which the probes' figures include: most visible at concurrency 1.
	c0, t0 := selfCPU(), time.Now()
	time.Sleep(time.Second)
	b.Logf("IDLE this process uses %.3f ms of CPU per second when idle", float64(selfCPU().sub(c0).total().Microseconds())/1000/time.Since(t0).Seconds())

	results := map[string]costResult{}
	measure := func(name string, ops func(n int) (client cpuTimes)) {
		b.Run(name, func(b *testing.B) {
			m0, srv0 := machineCPU(), grp.usage()
			start := time.Now()
			client := ops(b.N)
			wall := time.Since(start)
			m1, srv1 := machineCPU(), grp.usage()
			r := costResult{n: b.N, client: client.total(), wall: wall, busy: m1.busy - m0.busy, server: -1}
			if grp != nil {
				r.server = srv1 - srv0
			}
			r.report(b)
			results[name] = r
		})
	}

	// 1: one after another, as the tools below run; 16: the daemon's default
	// probe.concurrency; 64: a burst, where the servers should be the limit.
	for _, c := range []int{1, 16, 64} {
		measure(fmt.Sprintf("probe-c%d", c), func(n int) cpuTimes {
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan string, c)
			walls := make([]atomic.Int64, len(servers)) // summed probe durations
			defer func() {
				var parts []string
				for i, s := range servers {
					k := (n + len(servers) - 1 - i) / len(servers) // probes of server i
					if k > 0 {
						parts = append(parts, fmt.Sprintf("%s %.1f ms", s.name, float64(walls[i].Load())/1e6/float64(k)))
					}
				}
				b.Logf("WALL %d probes at concurrency %d, mean time per probe: %s", n, c, strings.Join(parts, ", "))
			}()
			r0 := selfCPU()
			for range c {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(n) {
							return
						}
						s := servers[i%int64(len(servers))]
						o := Options{HELO: "bench.test", Timeout: 20 * time.Second}
						r := Addr(context.Background(), s.addr, o)
						walls[i%int64(len(servers))].Add(int64(r.Duration))
						if r.Outcome != OK {
							select {
							case errs <- fmt.Sprintf("%s: %s (%s %s), want ok", s.name, r.Outcome, r.Stage, r.Error):
							default:
							}
						}
					}
				})
			}
			wg.Wait()
			cpu := selfCPU().sub(r0)
			close(errs)
			for e := range errs {
				b.Fatal(e)
			}
			return cpu
		})
	}

	tools := []struct {
		name string
		args func(a netip.AddrPort) []string
	}{
		// What docs/design.md section 0 says admins run (stdin at EOF ends the session).
		{"openssl-s_client", func(a netip.AddrPort) []string {
			return []string{"openssl", "s_client", "-starttls", "smtp", "-connect", a.String()}
		}},
		// The weak profile is what shows a DHE-768 server at all (docs/design.md section 8).
		{"gnutls-cli", func(a netip.AddrPort) []string {
			return []string{"gnutls-cli", "--starttls-proto=smtp", "--insecure", "--priority", "NORMAL:%PROFILE_VERY_WEAK",
				"-p", strconv.Itoa(int(a.Port())), a.Addr().String()}
		}},
	}
	for _, tool := range tools {
		measure(tool.name, func(n int) cpuTimes {
			var cpu cpuTimes
			ok := map[string]int{}
			walls := make([]time.Duration, len(servers))
			defer func() {
				var parts []string
				for i, s := range servers {
					if k := (n + len(servers) - 1 - i) / len(servers); k > 0 {
						parts = append(parts, fmt.Sprintf("%s %.1f ms (%d of %d ok)", s.name, float64(walls[i])/1e6/float64(k), ok[s.name], k))
					}
				}
				b.Logf("WALL %d runs of %s, mean time per run: %s", n, tool.name, strings.Join(parts, ", "))
			}()
			for i := range n {
				s := servers[i%len(servers)]
				t0 := time.Now()
				args := tool.args(s.addr)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				cmd := exec.CommandContext(ctx, args[0], args[1:]...)
				cmd.Stdin = nil // /dev/null: the session ends after the handshake
				out, err := cmd.CombinedOutput()
				cancel()
				if cmd.ProcessState == nil {
					b.Fatalf("%v: %v", args, err)
				}
				walls[i%len(servers)] += time.Since(t0)
				cpu.user += cmd.ProcessState.UserTime()
				cpu.sys += cmd.ProcessState.SystemTime()
				if err == nil {
					ok[s.name]++
				} else if s.modern {
					b.Fatalf("%v against a modern server: %v\n%s", args, err, out)
				}
			}
			if n >= len(servers) && ok["exim-modern"] == 0 {
				b.Fatalf("%s never succeeded", tool.name)
			}
			return cpu
		})
	}

	for _, tool := range tools {
		for _, pc := range []string{"probe-c1", "probe-c16", "probe-c64"} {
			t, p := results[tool.name], results[pc]
			if p.n == 0 || t.n == 0 {
				continue
			}
			b.Logf("RATIO %s/%s client CPU per host: %.1f (%.3f ms / %.3f ms)",
				tool.name, pc, t.cpuPerOp()/p.cpuPerOp(), t.cpuPerOp(), p.cpuPerOp())
		}
	}
	for _, name := range []string{"probe-c1", "probe-c16", "probe-c64", "openssl-s_client", "gnutls-cli"} {
		if r := results[name]; r.n > 0 {
			b.Logf("SPLIT %s: %.1f hosts/s; CPU per host: client %.3f ms, servers %s; machine busy %.2f of 2 cores, of which client %.0f%%",
				name, float64(r.n)/r.wall.Seconds(), r.cpuPerOp(), r.serverPerOp(), r.busyCores(), 100*r.client.Seconds()/r.busy.Seconds())
		}
	}
}

// costResult is one sub-benchmark's measure.
type costResult struct {
	n                  int
	client, wall, busy time.Duration // client: user+sys
	server             time.Duration // -1: not measured
}

func (r costResult) cpuPerOp() float64  { return float64(r.client.Microseconds()) / 1000 / float64(r.n) }
func (r costResult) busyCores() float64 { return r.busy.Seconds() / r.wall.Seconds() }

func (r costResult) serverPerOp() string {
	if r.server < 0 {
		return "not measured"
	}
	return fmt.Sprintf("%.3f ms", float64(r.server.Microseconds())/1000/float64(r.n))
}

func (r costResult) report(b *testing.B) {
	b.ReportMetric(r.cpuPerOp(), "cpu-ms/op")
	if r.server >= 0 {
		b.ReportMetric(float64(r.server.Microseconds())/1000/float64(r.n), "server-cpu-ms/op")
	}
	b.ReportMetric(r.busyCores(), "busy-cores")
	b.ReportMetric(float64(r.n)/r.wall.Seconds(), "ops/s")
}

// quietTB drops the lab servers' per-connection log lines, which would
// otherwise fill the benchmark's output.
type quietTB struct{ testing.TB }

func (quietTB) Log(...any)          {}
func (quietTB) Logf(string, ...any) {}

// cpuTimes is a process's user and system (kernel) CPU time.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration    { return c.user + c.sys }
func (c cpuTimes) sub(d cpuTimes) cpuTimes { return cpuTimes{c.user - d.user, c.sys - d.sys} }

// selfCPU is this process's CPU time so far.
func selfCPU() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	return cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

type machineTimes struct{ busy time.Duration }

// machineCPU reads the busy time of all CPUs from /proc/stat (user, nice,
// system, irq, softirq, steal: everything but idle and iowait).
func machineCPU() machineTimes {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return machineTimes{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return machineTimes{}
	}
	fields := strings.Fields(sc.Text())
	var busy int64
	for i, v := range fields[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest is inside user
			busy += n
		}
	}
	return machineTimes{busy: time.Duration(busy) * time.Second / 100} // USER_HZ
}

// cpuGroup is a cgroup-v1 cpuacct group that the lab servers are started
// in, so that their CPU, and that of every connection process they fork,
// can be read. This process joins it only while it starts them. nil when
// cgroups cannot be used here (not root, no cpuacct hierarchy).
type cpuGroup struct{ dir, home string }

const cpuacctRoot = "/sys/fs/cgroup/cpuacct"

func newCPUGroup(b *testing.B) *cpuGroup {
	home := cpuacctHome()
	if home == "" {
		b.Log("no cpuacct cgroup: servers' CPU not measured")
		return nil
	}
	// Groups left by benchmarks that were killed: rmdir fails on a group
	// that still holds a process.
	if old, err := filepath.Glob(filepath.Join(cpuacctRoot, "tlsprobe-bench-*")); err == nil {
		for _, d := range old {
			os.Remove(d)
		}
	}
	dir := filepath.Join(cpuacctRoot, fmt.Sprintf("tlsprobe-bench-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Logf("servers' CPU not measured: %v", err)
		return nil
	}
	// Registered before the servers start, so it runs after they stop.
	b.Cleanup(func() {
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.Logf("could not remove cgroup %s", dir)
	})
	return &cpuGroup{dir: dir, home: filepath.Join(cpuacctRoot, home)}
}

// cpuacctHome is this process's cpuacct cgroup path, from /proc/self/cgroup.
func cpuacctHome() string {
	if _, err := os.Stat(filepath.Join(cpuacctRoot, "cpuacct.usage")); err != nil {
		return ""
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",cpuacct,") {
			return parts[2]
		}
	}
	return ""
}

func (g *cpuGroup) move(b *testing.B, dir string) {
	if g == nil {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		b.Fatalf("move to cgroup %s: %v", dir, err)
	}
}

// enter moves this process into the group; processes it starts stay there.
func (g *cpuGroup) enter(b *testing.B) {
	if g != nil {
		g.move(b, g.dir)
	}
}

// leave moves this process back where it was.
func (g *cpuGroup) leave(b *testing.B) {
	if g != nil {
		g.move(b, g.home)
	}
}

// usage is the group's CPU time so far.
func (g *cpuGroup) usage() time.Duration {
	if g == nil {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return time.Duration(n)
}
