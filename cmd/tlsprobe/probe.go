package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
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
	var seclevel optionalInt
	fl.Var(&seclevel, "seclevel", "with -client openssl: OpenSSL's security `level` (0-5) of the Exim modelled (default from the config: probe.openssl_seclevel)")
	verbose := fl.Bool("v", false, "log each probe to stderr")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(stderr, "tlsprobe probe: name at least one domain")
		return 2
	}
	cfg, err := probeConfig(*cfgPath, *client, *port, *dnsServer, *noTLS13, seclevel)
	if err != nil {
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
	defer svc.Close(context.Background()) // stops and waits for the loads still running
	decisions := decideAll(svc, &cfg, fl.Args())
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

// probeConfig is the configuration of cfgPath (or the defaults) as
// tlsprobe probe's flags change it: probing now, by hand, with no
// overrides and no rate limit.
func probeConfig(cfgPath, client string, port int, dnsServer string, noTLS13 bool, seclevel optionalInt) (config.Config, error) {
	cfg, err := config.LoadOrDefault(cfgPath)
	if err != nil {
		return cfg, err
	}
	cfg.OverrideLists = config.OverrideLists{}
	cfg.Probe.RatePerAddress = config.RateEvery(0)
	if client != "" {
		cfg.Probe.Client = tlswire.Client(client)
	}
	if port != 0 {
		cfg.Probe.Port = port
	}
	if dnsServer != "" {
		cfg.DNS.Servers = []string{dnsServer}
	}
	if noTLS13 {
		cfg.Probe.TLS13 = false
	}
	if seclevel.set {
		cfg.Probe.OpenSSLSecLevel = seclevel.n
	}
	err = cfg.Validate()
	return cfg, err
}

// decideAll decides every domain at once, each with time enough for the MX
// lookup and a probe of every host in parallel.
func decideAll(svc *lookupd.Service, cfg *config.Config, domains []string) []decision.Decision {
	wait := cfg.Probe.Timeout.Duration + 4*cfg.DNS.Timeout.Duration + 5*time.Second
	decisions := make([]decision.Decision, len(domains))
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			decisions[i] = svc.Decide(ctx, d)
		})
	}
	wg.Wait()
	return decisions
}

// classified reports whether every considered address of the domain got
// a TLS result (or an override decided).
func classified(d decision.Decision) bool {
	switch d.Source {
	case decision.SourceInvalid, decision.SourcePending, decision.SourceDNSError:
		return false
	}
	for _, h := range d.MX {
		switch h.Source {
		case decision.SourceOverride:
			continue
		case decision.SourcePending, decision.SourceDNSError:
			return false
		}
		for _, a := range h.Addrs {
			if a.Source == decision.SourceIgnored {
				continue
			}
			// A server the modelled client cannot negotiate with was
			// probed all the same: that is its result.
			if f := a.Facts; f == nil || f.Outcome == probe.Error && f.Stage != stage.Negotiate {
				return false
			}
		}
	}
	return true
}

// printReport writes the human report of one domain: a line per address
// of each MX host, then why the verdict is what it is.
func printReport(w io.Writer, d decision.Decision) { writeReport(w, d, false) }

// writeReport is printReport; withSource adds where each address's facts
// came from, and their age (for explain).
func writeReport(w io.Writer, d decision.Decision, withSource bool) {
	v := d.Verdict.String()
	if v == "" {
		v = "(empty: route normally)"
	}
	fmt.Fprintf(w, "%s: %s\n", d.Domain, v)
	if withSource {
		fmt.Fprintf(w, "  source: %s%s\n", d.Source, overrideText(d.Pattern))
	}
	if d.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", d.Note)
	}
	if d.HELO != "" {
		fmt.Fprintf(w, "  probes say: EHLO %s\n", d.HELO)
	}
	var why []string
	if len(d.MX) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		src := func(source, age string) string {
			if !withSource {
				return ""
			}
			return source + "\t" + age + "\t"
		}
		fmt.Fprintf(tw, "  MX host\tpref\taddress\t%sverdict\tTLS\tkey\tDH\ttime\tcipher\n", src("source", "age"))
		for _, h := range d.MX {
			if h.Source == decision.SourceOverride {
				// No address was looked up: the override answers for the host.
				fmt.Fprintf(tw, "  %s\t%d\t-\t%s%s\t-\t-\t-\t-\t-\n", h.Name, h.Pref, src("override", "-"), dash(h.Verdict.String()))
				if d.Verdict == 0 || h.Verdict == d.Verdict {
					why = append(why, fmt.Sprintf("%s is named by the [overrides] item %q: no DNS, no probe", h.Name, h.Pattern))
				}
				continue
			}
			if len(h.Addrs) == 0 {
				fmt.Fprintf(tw, "  %s\t%d\t(%s)\t%s-\t\t\t\t\t\n", h.Name, h.Pref, dash(h.Note), src(string(h.Source), "-"))
				continue
			}
			for i, a := range h.Addrs {
				name, pref := h.Name, fmt.Sprint(h.Pref)
				if i > 0 {
					name, pref = "", ""
				}
				f := a.Facts
				if f == nil {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s-\t\t\t\t\t\n", name, pref, a.Addr, src(string(a.Source), "-"))
					continue
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s%s\t%s\t%s\t%s\t%s\t%s\n", name, pref, a.Addr, src(string(a.Source), dash(a.Age)),
					verdictText(f, a.Verdict, a.NoTLS), dash(f.TLSVersion), keyText(f.KeyType, f.KeyBits), bitsText(f.DHBits),
					f.Duration.Round(time.Millisecond), dash(f.Cipher))
				if d.Verdict == 0 || a.Verdict == d.Verdict {
					why = append(why, a.Reason)
				}
			}
		}
		tw.Flush()
	}
	for _, h := range d.MX {
		for _, a := range h.Addrs {
			if a.Facts != nil && a.Facts.Note != "" {
				fmt.Fprintf(w, "  note %s: %s\n", a.Addr, a.Facts.Note)
			}
		}
	}
	if d.Verdict != 0 && len(why) > 1 {
		why = why[:1]
	}
	for _, s := range why {
		fmt.Fprintf(w, "  why: %s\n", s)
	}
}

// verdictText is an address's verdict, or its outcome when that says
// more (notls, error), or "no-tls" where no transport gets TLS from the
// modelled client.
func verdictText(f *probe.Facts, v verdict.Verdict, noTLS bool) string {
	if noTLS {
		return "no-tls"
	}
	if v != verdict.None || f.Outcome == probe.OK {
		return dash(v.String())
	}
	return string(f.Outcome)
}

func overrideText(pattern string) string {
	if pattern == "" {
		return ""
	}
	return fmt.Sprintf(" (override %q)", pattern)
}

func keyText(typ string, bits int) string {
	if bits == 0 {
		return "-"
	}
	return fmt.Sprintf("%s-%d", typ, bits)
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

// optionalInt is an integer flag that may be absent: unlike an int flag
// with a sentinel default, -help shows no "(default -1)" beside the
// default the usage names.
type optionalInt struct {
	n   int
	set bool
}

func (o *optionalInt) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.Itoa(o.n)
}

func (o *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want an integer")
	}
	o.n, o.set = n, true
	return nil
}
