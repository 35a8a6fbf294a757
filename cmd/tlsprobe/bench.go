package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
)

// runBench drives a running tlsprobed the way Exim does (one request per
// connection: connect, write, half-close, read to EOF) with N concurrent
// clients and reports requests per second and latency percentiles; with
// -floor it measures the floor (floor.go) in the same run, alternating with
// the daemon, and reports the daemon's figures as ratios of the floor's.
func runBench(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobe bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(stderr, `usage: tlsprobe bench [flags] [DOMAIN...]
Sends the domains (and those of -domains), in turn, to the daemon from -c
clients at once, one request per connection as Exim does, and prints
requests/s, errors and latency percentiles (p50, p99, p99.9, max).
Flags:
`)
		fl.PrintDefaults()
	}
	socket := fl.String("socket", config.Default().Listen.Socket, "the daemon's socket `path`, or inet:HOST:PORT")
	clients := fl.String("c", "4", "concurrent clients: a `list` such as 4,64 runs one phase per number")
	duration := fl.Duration("duration", 5*time.Second, "length of a phase")
	count := fl.Int("n", 0, "requests per phase instead of a -duration")
	warmup := fl.Duration("warmup", 200*time.Millisecond, "unrecorded load before each phase")
	domainsFile := fl.String("domains", "", "`file` of domains, one per line (# starts a comment)")
	withFloor := fl.Bool("floor", false, "also measure the floor, a minimal Unix-socket server in a process of its own, and print daemon/floor ratios")
	floorWord := fl.String("floor-word", "smallkey", "the floor's answer")
	floorInProcess := fl.Bool("floor-in-process", false, "with -floor: serve the floor from this process (it then shares the clients' scheduler)")
	serveFloorWord := fl.String("serve-floor", "", "be the floor process: serve this `word` until stdin closes (used by -floor)")
	rounds := fl.Int("rounds", 1, "with -floor: alternate floor and daemon this many times per client count; ratios are medians")
	timeout := fl.Duration("timeout", 5*time.Second, "per request")
	asJSON := fl.Bool("json", false, "print JSON")
	jsonFile := fl.String("o", "", "also write the JSON report to this `file`")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *serveFloorWord != "" {
		if err := serveFloor(*serveFloorWord, os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "tlsprobe bench: floor: %v\n", err)
			return 1
		}
		return 0
	}
	reqs, err := benchRequests(*domainsFile, fl.Args())
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 2
	}
	cs, err := parseClients(*clients)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "tlsprobe bench: -c: %v\n", err)
		return 2
	case *count < 0, *duration <= 0 && *count == 0, *rounds < 1, *timeout <= 0, *warmup < 0:
		fmt.Fprintln(stderr, "tlsprobe bench: -n, -duration, -rounds, -timeout and -warmup must be positive")
		return 2
	}
	daemon, err := newTarget("daemon", *socket)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 2
	}
	targets := []*target{daemon}
	if *withFloor {
		var path string
		if *floorInProcess {
			f, err := startFloor(*floorWord)
			if err != nil {
				fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
				return 1
			}
			defer f.Close()
			path = f.path
		} else {
			f, err := startFloorProc(*floorWord)
			if err != nil {
				fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
				return 1
			}
			defer f.Close()
			path = f.path
		}
		ft, _ := newTarget("floor", path)
		targets = []*target{ft, daemon}
	} else {
		*rounds = 1
	}

	var rep benchReport
	for _, c := range cs {
		for r := range *rounds {
			for _, t := range targets {
				p := load{target: t, clients: c, reqs: reqs, duration: *duration, count: *count, timeout: *timeout}
				if *warmup > 0 {
					w := p
					w.duration, w.count = *warmup, 0
					w.run()
				}
				ph := p.run()
				ph.Round = r + 1
				rep.Phases = append(rep.Phases, ph)
				if !*asJSON {
					fmt.Fprintf(stderr, "%s: %d clients, round %d: %.0f req/s, p99 %.3f ms, %d errors\n",
						t.name, c, r+1, ph.RPS, ph.P99, ph.Errors)
				}
			}
		}
		if *withFloor {
			rep.Ratios = append(rep.Ratios, ratios(rep.Phases, c))
		}
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if *jsonFile != "" {
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
			return 1
		}
	}
	if *asJSON {
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.print(stdout)
	}
	for _, p := range rep.Phases {
		if p.Errors > 0 {
			return 1
		}
	}
	return 0
}

// benchRequests reads the domains of file (if any) and args.
func benchRequests(file string, args []string) ([][]byte, error) {
	var reqs [][]byte
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read domains: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line != "" {
				reqs = append(reqs, []byte(line))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read domains: %w", err)
		}
	}
	for _, a := range args {
		reqs = append(reqs, []byte(a))
	}
	if len(reqs) == 0 {
		return nil, errors.New("no domains: name some, or give -domains FILE")
	}
	return reqs, nil
}

func parseClients(s string) ([]int, error) {
	var cs []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("%q is not a number of clients (1-10000)", f)
		}
		cs = append(cs, n)
	}
	return cs, nil
}

// target is a server to load: a Unix socket path or inet:HOST:PORT.
type target struct {
	name string
	dial func() (conn, error)
	pid  int // the serving process, for its CPU time; 0 = unknown
}

type conn interface {
	net.Conn
	CloseWrite() error
}

func newTarget(name, addr string) (*target, error) {
	if hp, ok := strings.CutPrefix(addr, "inet:"); ok {
		ta, err := net.ResolveTCPAddr("tcp", hp)
		if err != nil {
			return nil, fmt.Errorf("-socket %s: %w", addr, err)
		}
		return &target{name: name, dial: func() (conn, error) { return net.DialTCP("tcp", nil, ta) }}, nil
	}
	ua := &net.UnixAddr{Name: addr, Net: "unix"}
	t := &target{name: name, dial: func() (conn, error) { return net.DialUnix("unix", nil, ua) }}
	t.pid = peerPID(t)
	return t, nil
}

// load is one phase: clients sending requests in turn until the duration
// or the count is done.
type load struct {
	target   *target
	clients  int
	reqs     [][]byte
	duration time.Duration
	count    int
	timeout  time.Duration
}

// phase is the result of a load.
type phase struct {
	Target   string  `json:"target"`
	Round    int     `json:"round"`
	Clients  int     `json:"clients"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	P999     float64 `json:"p999_ms"`
	Max      float64 `json:"max_ms"`
	// CPU per request, µs: the server process (-1 when its pid is unknown,
	// e.g. over TCP) and this process (the clients).
	ServerCPU float64        `json:"server_cpu_us_per_req"`
	ClientCPU float64        `json:"client_cpu_us_per_req"`
	Answers   map[string]int `json:"answers"`
	Error     string         `json:"first_error,omitempty"`
}

// worker is one client's record.
type worker struct {
	lat     []time.Duration
	answers map[string]*int
	errors  int
	err     error
}

func (l load) run() phase {
	var (
		stop atomic.Bool
		left atomic.Int64
		next atomic.Uint64
		wg   sync.WaitGroup
	)
	left.Store(int64(l.count))
	ws := make([]worker, l.clients)
	pid := l.target.pid
	srv0, cli0 := procCPU(pid), selfCPU()
	start := time.Now()
	if l.count == 0 {
		t := time.AfterFunc(l.duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	for i := range ws {
		w := &ws[i]
		w.answers = map[string]*int{}
		wg.Go(func() {
			buf := make([]byte, 1024)
			for {
				if l.count > 0 {
					if left.Add(-1) < 0 {
						return
					}
				} else if stop.Load() {
					return
				}
				req := l.reqs[next.Add(1)%uint64(len(l.reqs))]
				t0 := time.Now()
				ans, err := exchange(l.target, req, buf, t0.Add(l.timeout))
				w.lat = append(w.lat, time.Since(t0))
				if err != nil {
					w.errors++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				if p, ok := w.answers[string(ans)]; ok {
					*p++
				} else {
					n := 1
					w.answers[string(ans)] = &n
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	srv, cli := procCPU(pid), selfCPU()
	if srv >= 0 && srv0 >= 0 {
		srv -= srv0
	}
	if cli >= 0 && cli0 >= 0 {
		cli -= cli0
	}

	p := phase{Target: l.target.name, Clients: l.clients, Seconds: elapsed.Seconds(), Answers: map[string]int{}}
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		p.Errors += w.errors
		if w.err != nil && p.Error == "" {
			p.Error = w.err.Error()
		}
		for a, n := range w.answers {
			p.Answers[a] += *n
		}
	}
	p.Requests = len(lat)
	p.RPS = float64(p.Requests-p.Errors) / elapsed.Seconds()
	p.ServerCPU, p.ClientCPU = perRequest(srv, p.Requests), perRequest(cli, p.Requests)
	slices.Sort(lat)
	p.P50, p.P99, p.P999 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(percentile(lat, 0.999))
	if len(lat) > 0 {
		p.Max = ms(lat[len(lat)-1])
	}
	return p
}

// exchange is one request as Exim's ${readsocket} makes it; the answer is
// read into buf.
func exchange(t *target, req, buf []byte, deadline time.Time) ([]byte, error) {
	c, err := t.dial()
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if err := c.CloseWrite(); err != nil {
		return nil, fmt.Errorf("half-close: %w", err)
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		switch {
		case errors.Is(err, io.EOF):
			return buf[:n], nil
		case err != nil:
			return nil, fmt.Errorf("read answer: %w", err)
		case n == len(buf):
			return nil, fmt.Errorf("read answer: longer than %d bytes", len(buf))
		}
	}
}

// percentile is the smallest latency at or above fraction q of the sorted
// samples (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// ratio is the daemon against the floor at one client count: medians over
// the rounds, and each round's ratio to show the noise.
type ratio struct {
	Clients     int       `json:"clients"`
	DaemonRPS   float64   `json:"daemon_rps"`
	FloorRPS    float64   `json:"floor_rps"`
	RPSRatio    float64   `json:"rps_ratio"`
	DaemonP99   float64   `json:"daemon_p99_ms"`
	FloorP99    float64   `json:"floor_p99_ms"`
	P99Ratio    float64   `json:"p99_ratio"`
	DaemonCPU   float64   `json:"daemon_cpu_us_per_req"`
	FloorCPU    float64   `json:"floor_cpu_us_per_req"`
	CPURatio    float64   `json:"cpu_ratio"`
	RoundRPS    []float64 `json:"round_rps_ratios"`
	RoundP99    []float64 `json:"round_p99_ratios"`
	DaemonP99Hi float64   `json:"daemon_p99_ms_worst_round"`
}

func ratios(phases []phase, clients int) ratio {
	r := ratio{Clients: clients}
	byRound := map[int]map[string]phase{}
	var drps, frps, dp99, fp99, dcpu, fcpu []float64
	for _, p := range phases {
		if p.Clients != clients {
			continue
		}
		if byRound[p.Round] == nil {
			byRound[p.Round] = map[string]phase{}
		}
		byRound[p.Round][p.Target] = p
		switch p.Target {
		case "daemon":
			drps, dp99, dcpu = append(drps, p.RPS), append(dp99, p.P99), append(dcpu, p.ServerCPU)
			r.DaemonP99Hi = max(r.DaemonP99Hi, p.P99)
		case "floor":
			frps, fp99, fcpu = append(frps, p.RPS), append(fp99, p.P99), append(fcpu, p.ServerCPU)
		}
	}
	for round := 1; round <= len(byRound); round++ {
		d, f := byRound[round]["daemon"], byRound[round]["floor"]
		r.RoundRPS = append(r.RoundRPS, round3(div(d.RPS, f.RPS)))
		r.RoundP99 = append(r.RoundP99, round3(div(d.P99, f.P99)))
	}
	r.DaemonRPS, r.FloorRPS = median(drps), median(frps)
	r.DaemonP99, r.FloorP99 = median(dp99), median(fp99)
	r.RPSRatio, r.P99Ratio = round3(median(r.RoundRPS)), round3(median(r.RoundP99))
	r.DaemonCPU, r.FloorCPU = median(dcpu), median(fcpu)
	if r.DaemonCPU > 0 && r.FloorCPU > 0 {
		r.CPURatio = round3(r.DaemonCPU / r.FloorCPU)
	}
	return r
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchReport is what bench prints.
type benchReport struct {
	Phases []phase `json:"phases"`
	Ratios []ratio `json:"ratios,omitempty"`
}

func (r benchReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tround\tclients\trequests\terrors\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tserver µs/req\tclients µs/req\t")
	cpu := func(f float64) string {
		if f < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", f)
	}
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t\n",
			p.Target, p.Round, p.Clients, p.Requests, p.Errors, p.RPS, p.P50, p.P99, p.P999, p.Max, cpu(p.ServerCPU), cpu(p.ClientCPU))
	}
	tw.Flush()
	for _, p := range r.Phases {
		if p.Error != "" {
			fmt.Fprintf(w, "%s, %d clients, round %d: first error: %s\n", p.Target, p.Clients, p.Round, p.Error)
		}
	}
	for _, x := range r.Ratios {
		fmt.Fprintf(w, "daemon/floor at %d clients: req/s %.3f (%.0f / %.0f), p99 %.3f (%.3f / %.3f ms), server CPU per request %.3f (%s / %s µs); per round: req/s %v, p99 %v\n",
			x.Clients, x.RPSRatio, x.DaemonRPS, x.FloorRPS, x.P99Ratio, x.DaemonP99, x.FloorP99,
			x.CPURatio, cpu(x.DaemonCPU), cpu(x.FloorCPU), x.RoundRPS, x.RoundP99)
	}
	answers := map[string]int{}
	for _, p := range r.Phases {
		if p.Target == "daemon" {
			for a, n := range p.Answers {
				answers[a] += n
			}
		}
	}
	keys := make([]string, 0, len(answers))
	for a := range answers {
		keys = append(keys, a)
	}
	slices.Sort(keys)
	var parts []string
	for _, a := range keys {
		parts = append(parts, fmt.Sprintf("%q %d", a, answers[a]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "daemon answers: %s\n", strings.Join(parts, ", "))
	}
}
