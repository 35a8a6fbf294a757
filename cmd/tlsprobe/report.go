package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

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
