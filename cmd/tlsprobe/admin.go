package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// printAdmin writes the daemon's JSON answer to stats, explain or list as
// aligned text.
func printAdmin(w io.Writer, verb string, answer []byte) error {
	switch verb {
	case "stats":
		var st lookupd.Stats
		if err := json.Unmarshal(answer, &st); err != nil {
			return fmt.Errorf("decode stats: %w", err)
		}
		printStats(w, st)
	case "explain":
		var d lookupd.Decision
		if err := json.Unmarshal(answer, &d); err != nil {
			return fmt.Errorf("decode explain: %w", err)
		}
		writeReport(w, d, true)
	case "list":
		var l lookupd.Listed
		if err := json.Unmarshal(answer, &l); err != nil {
			return fmt.Errorf("decode list: %w", err)
		}
		printList(w, l)
	default:
		_, err := w.Write(answer)
		return err
	}
	return nil
}

func printStats(w io.Writer, st lookupd.Stats) {
	a := st.Answers
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "uptime\t%s\n", st.Uptime)
	fmt.Fprintf(tw, "answers\t%d\t(%d smallkey, %d tlsexport, %d empty)\n", a.SmallKey+a.TLSExport+a.Empty, a.SmallKey, a.TLSExport, a.Empty)
	fmt.Fprintf(tw, "from overrides\t%d\n", st.Overrides)
	fmt.Fprintf(tw, "pending\t%d\t(answered before DNS or a probe finished)\n", st.Pending)
	fmt.Fprintf(tw, "invalid\t%d\t(not a domain)\n", st.Invalid)
	if c := st.Conns; c != nil {
		fmt.Fprintf(tw, "connections\t%d\t(%d refused over the cap, %d malformed requests)\n", c.Accepted, c.Refused, c.Malformed)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cache\tentries\thits\tstale\tmisses\tloads\terrors\tin flight\t")
	for _, c := range []struct {
		name string
		s    cache.Stats
	}{{"hosts", st.Hosts}, {"domains", st.Domains}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.name, c.s.Len, c.s.Hits, c.s.Stale, c.s.Misses, c.s.Loads, c.s.LoadErrors, c.s.InFlight)
	}
	tw.Flush()
}

func printList(w io.Writer, l lookupd.Listed) {
	fmt.Fprintf(w, "MX hosts flagged: %d\n", len(l.Hosts))
	if len(l.Hosts) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  host\toutcome\tage\tkey\tDH\taddress")
		for _, h := range l.Hosts {
			age := h.Age
			if h.Stale {
				age += " (stale)"
			}
			r := probe.Result{KeyType: h.KeyType, KeyBits: h.KeyBits}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Outcome, age, keyText(&r), bitsText(h.DHBits), dash(h.Addr))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "domains flagged: %d\n", len(l.Domains))
	if len(l.Domains) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  domain\tverdict\tage\tvia")
		for _, d := range l.Domains {
			via := strings.Join(d.Hosts, ", ")
			switch {
			case d.Source == "override" && len(d.Hosts) == 0:
				via = "the domain" + overrideText(d.Pattern)
			case d.Source == "override":
				via += overrideText(d.Pattern)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Domain, d.Verdict, dash(d.Age), via)
		}
		tw.Flush()
	}
	if l.Truncated {
		fmt.Fprintln(w, "(truncated: more entries than one answer holds; use \"list smallkey\" or \"list tlsexport\")")
	}
}
