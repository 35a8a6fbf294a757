package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// runProbe probes each domain's MX hosts now, ignoring overrides, and
// prints a report per domain. Exit status 1 when some host could not be
// classified.
func runProbe(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobe probe", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", config.DefaultPath, "configuration `file` for the probe settings; an absent default file means built-in defaults")
	asJSON := fl.Bool("json", false, "print one JSON object per domain per line")
	client := fl.String("client", "", "TLS client to model: gnutls or openssl (default from the config)")
	port := fl.Int("port", 0, "SMTP port (default from the config)")
	dnsServer := fl.String("dns", "", "DNS server `ip[:port]` (default from the config or /etc/resolv.conf)")
	noTLS13 := fl.Bool("no-tls13", false, "model a client that offers TLS 1.2 at most")
	verbose := fl.Bool("v", false, "log each probe to stderr")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(stderr, "tlsprobe probe: name at least one domain")
		return 2
	}
	cfg, err := config.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe probe: %v\n", err)
		return 2
	}
	// Probing now, by hand: no overrides, no rate limit.
	cfg.OverrideLists = config.OverrideLists{}
	cfg.Probe.RatePerAddress = config.RateEvery(0)
	if *client != "" {
		cfg.Probe.Client = *client
	}
	if *port != 0 {
		cfg.Probe.Port = *port
	}
	if *dnsServer != "" {
		cfg.DNS.Servers = []string{*dnsServer}
	}
	if *noTLS13 {
		cfg.Probe.TLS13 = false
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tlsprobe probe: %v\n", err)
		return 2
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	svc, err := lookupd.NewService(&cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe probe: %v\n", err)
		return 2
	}
	// Time enough for the MX lookup and a probe of every host in parallel.
	wait := cfg.Probe.Timeout.Duration + 4*cfg.DNS.Timeout.Duration + 5*time.Second
	decisions := make([]lookupd.Decision, fl.NArg())
	var wg sync.WaitGroup
	for i, d := range fl.Args() {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			decisions[i] = svc.Decide(ctx, d)
		})
	}
	wg.Wait()
	status := 0
	for _, d := range decisions {
		if !classified(d) {
			status = 1
		}
		if *asJSON {
			b, _ := json.Marshal(d)
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		printReport(stdout, d)
	}
	return status
}

// classified reports whether every host of the domain got a TLS result.
func classified(d lookupd.Decision) bool {
	switch d.Source {
	case "invalid", "pending", "dns-error":
		return false
	}
	for _, h := range d.MX {
		if h.Result == nil || h.Outcome == probe.Error {
			return false
		}
	}
	return true
}

// printReport writes the human report of one domain: a line per MX host,
// then why the verdict is what it is.
func printReport(w io.Writer, d lookupd.Decision) { writeReport(w, d, false) }

// writeReport is printReport; withSource adds where the verdict and each
// host's outcome came from, and its age (for explain).
func writeReport(w io.Writer, d lookupd.Decision, withSource bool) {
	verdict := d.Verdict
	if verdict == "" {
		verdict = "(empty: route normally)"
	}
	fmt.Fprintf(w, "%s: %s\n", d.Domain, verdict)
	if withSource {
		fmt.Fprintf(w, "  source: %s%s\n", d.Source, overrideText(d.Pattern))
	}
	if d.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", d.Note)
	}
	src := func(source, age string) string {
		if !withSource {
			return ""
		}
		return fmt.Sprintf("%-8s %-8s ", source, age)
	}
	if len(d.MX) > 0 {
		fmt.Fprintf(w, "  %-24s %-4s %s%-22s %-6s %-9s %-9s %-5s %-7s %s\n", "MX host", "pref", src("source", "age"), "address", "TLS", "outcome", "key", "DH", "time", "cipher")
	}
	var why []string
	for _, h := range d.MX {
		r := h.Result
		if r == nil {
			if withSource {
				fmt.Fprintf(w, "  %-24s %-4d %s%s%s\n", h.Name, h.Pref, src(h.Source, "-"), dash(string(h.Outcome)), overrideText(h.Pattern))
			} else {
				fmt.Fprintf(w, "  %-24s %-4d %s\n", h.Name, h.Pref, h.Source)
			}
			why = append(why, h.Name+": "+h.Source+overrideText(h.Pattern))
			continue
		}
		fmt.Fprintf(w, "  %-24s %-4d %s%-22s %-6s %-9s %-9s %-5s %-7s %s\n",
			h.Name, h.Pref, src(h.Source, dash(h.Age)), dash(r.Addr), dash(r.TLSVersion), r.Outcome, keyText(r), bitsText(r.DHBits),
			r.Duration.Round(time.Millisecond), dash(r.Cipher))
		if r.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", r.Note)
		}
		if d.Verdict == "" || string(r.Outcome) == d.Verdict {
			why = append(why, r.Reason())
		}
	}
	if d.Verdict != "" && len(why) > 1 {
		why = why[:1]
	}
	for _, s := range why {
		fmt.Fprintf(w, "  why: %s\n", s)
	}
}

func overrideText(pattern string) string {
	if pattern == "" {
		return ""
	}
	return fmt.Sprintf(" (override %q)", pattern)
}

func keyText(r *probe.Result) string {
	if r.KeyBits == 0 {
		return "-"
	}
	return fmt.Sprintf("%s-%d", r.KeyType, r.KeyBits)
}

func bitsText(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
