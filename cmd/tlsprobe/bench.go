package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
)

// runBench drives a running tlsprobed the way Exim does (one request per
// connection: connect, write, half-close, read to EOF) with N concurrent
// clients and reports requests per second and latency percentiles; with
// -floor it measures the floor (floor.go) in the same run, alternating with
// the daemon, and reports the daemon's figures as ratios of the floor's.
func runBench(args []string, stdout, stderr io.Writer) int {
	fl, o := benchFlags(stderr)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if o.serveFloorWord != "" {
		if err := serveFloor(o.serveFloorWord, os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "tlsprobe bench: floor: %v\n", err)
			return 1
		}
		return 0
	}
	reqs, cs, err := o.check(fl.Args())
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 2
	}
	daemon, err := newTarget("daemon", o.socket)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 2
	}
	targets, stopFloor, err := o.targets(daemon)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 1
	}
	defer stopFloor()
	rep := o.phases(targets, cs, reqs, stderr)
	if err := o.report(rep, stdout); err != nil {
		fmt.Fprintf(stderr, "tlsprobe bench: %v\n", err)
		return 1
	}
	for _, p := range rep.Phases {
		if p.Errors > 0 {
			return 1
		}
	}
	return 0
}

// benchOptions are tlsprobe bench's flags.
type benchOptions struct {
	socket, clients, domainsFile        string
	duration, warmup, timeout           time.Duration
	count, rounds                       int
	withFloor, floorInProcess, asJSON   bool
	floorWord, serveFloorWord, jsonFile string
}

func benchFlags(stderr io.Writer) (*flag.FlagSet, *benchOptions) {
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
	o := &benchOptions{}
	fl.StringVar(&o.socket, "socket", config.Default().Listen.Socket, "the daemon's socket `path`, or inet:HOST:PORT")
	fl.StringVar(&o.clients, "c", "4", "concurrent clients: a `list` such as 4,64 runs one phase per number")
	fl.DurationVar(&o.duration, "duration", 5*time.Second, "length of a phase")
	fl.IntVar(&o.count, "n", 0, "requests per phase instead of a -duration")
	fl.DurationVar(&o.warmup, "warmup", 200*time.Millisecond, "unrecorded load before each phase")
	fl.StringVar(&o.domainsFile, "domains", "", "`file` of domains, one per line (# starts a comment)")
	fl.BoolVar(&o.withFloor, "floor", false, "also measure the floor, a minimal Unix-socket server in a process of its own, and print daemon/floor ratios")
	fl.StringVar(&o.floorWord, "floor-word", "smallkey", "the floor's answer")
	fl.BoolVar(&o.floorInProcess, "floor-in-process", false, "with -floor: serve the floor from this process (it then shares the clients' scheduler)")
	fl.StringVar(&o.serveFloorWord, "serve-floor", "", "be the floor process: serve this `word` until stdin closes (used by -floor)")
	fl.IntVar(&o.rounds, "rounds", 1, "with -floor: alternate floor and daemon this many times per client count; ratios are medians")
	fl.DurationVar(&o.timeout, "timeout", 5*time.Second, "per request")
	fl.BoolVar(&o.asJSON, "json", false, "print JSON")
	fl.StringVar(&o.jsonFile, "o", "", "also write the JSON report to this `file`")
	return fl, o
}

// check returns the requests (the domains of -domains and args) and the
// client counts, or what is wrong with the flags.
func (o *benchOptions) check(args []string) ([][]byte, []int, error) {
	reqs, err := benchRequests(o.domainsFile, args)
	if err != nil {
		return nil, nil, err
	}
	cs, err := parseClients(o.clients)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("-c: %w", err)
	case o.count < 0, o.duration <= 0 && o.count == 0, o.rounds < 1, o.timeout <= 0, o.warmup < 0:
		return nil, nil, errors.New("-n, -duration, -rounds, -timeout and -warmup must be positive")
	}
	return reqs, cs, nil
}

// targets returns what a round measures: the daemon, after the floor with
// -floor (started here; stop ends it).
func (o *benchOptions) targets(daemon *target) (ts []*target, stop func(), err error) {
	if !o.withFloor {
		o.rounds = 1
		return []*target{daemon}, func() {}, nil
	}
	var f interface{ Close() error }
	var path string
	if o.floorInProcess {
		fp, err := startFloor(o.floorWord)
		if err != nil {
			return nil, nil, err
		}
		f, path = fp, fp.path
	} else {
		fp, err := startFloorProc(o.floorWord)
		if err != nil {
			return nil, nil, err
		}
		f, path = fp, fp.path
	}
	ft, _ := newTarget("floor", path)
	return []*target{ft, daemon}, func() { f.Close() }, nil
}

// phases runs a phase per client count, round and target, each after its
// warm-up, and logs each one's figures to stderr unless -json.
func (o *benchOptions) phases(targets []*target, cs []int, reqs [][]byte, stderr io.Writer) benchReport {
	var rep benchReport
	for _, c := range cs {
		for r := range o.rounds {
			for _, t := range targets {
				p := load{target: t, clients: c, reqs: reqs, duration: o.duration, count: o.count, timeout: o.timeout}
				if o.warmup > 0 {
					w := p
					w.duration, w.count = o.warmup, 0
					w.run()
				}
				ph := p.run()
				ph.Round = r + 1
				rep.Phases = append(rep.Phases, ph)
				if !o.asJSON {
					fmt.Fprintf(stderr, "%s: %d clients, round %d: %.0f req/s, p99 %.3f ms, %d errors\n",
						t.name, c, r+1, ph.RPS, ph.P99, ph.Errors)
				}
			}
		}
		if o.withFloor {
			rep.Ratios = append(rep.Ratios, ratios(rep.Phases, c))
		}
	}
	return rep
}

// report writes rep to -o's file if set, and to stdout as JSON or text.
func (o *benchOptions) report(rep benchReport, stdout io.Writer) error {
	b, _ := json.MarshalIndent(rep, "", "  ")
	if o.jsonFile != "" {
		if err := os.WriteFile(o.jsonFile, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.asJSON {
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.print(stdout)
	}
	return nil
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
