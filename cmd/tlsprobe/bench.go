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
