package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/decision"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/fleet"
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
		var d decision.Decision
		if err := json.Unmarshal(answer, &d); err != nil {
			return fmt.Errorf("decode explain: %w", err)
		}
		writeReport(w, d, true)
	case "list":
		var l decision.Listed
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
	fmt.Fprintf(tw, "ehlo name\t%s\n", st.HELO)
	if a.NoDHE+a.SecLevel1+a.SecLevel0 == 0 {
		fmt.Fprintf(tw, "answers\t%d\t(%d smallkey, %d tlsexport, %d empty)\n", a.SmallKey+a.TLSExport+a.Empty, a.SmallKey, a.TLSExport, a.Empty)
	} else {
		fmt.Fprintf(tw, "answers\t%d\t(%d smallkey, %d tlsexport, %d nodhe, %d seclevel1, %d seclevel0, %d empty)\n",
			a.SmallKey+a.TLSExport+a.NoDHE+a.SecLevel1+a.SecLevel0+a.Empty, a.SmallKey, a.TLSExport, a.NoDHE, a.SecLevel1, a.SecLevel0, a.Empty)
	}
	fmt.Fprintf(tw, "from overrides\t%d\t(an override of the domain or of an MX host matched)\n", st.Overrides)
	fmt.Fprintf(tw, "probes\t%d\t(one per address at a time, however many names lead to it)\n", st.Probes)
	fmt.Fprintf(tw, "pending\t%d\t(answered before DNS or a probe finished)\n", st.Pending)
	fmt.Fprintf(tw, "invalid\t%d\t(not a domain)\n", st.Invalid)
	printReports(tw, st.Reports)
	if f := st.Fleet; f != nil {
		fmt.Fprintf(tw, "fleet\tredis %s\t(%d calls, %d failed, %d skipped while down; %d values rejected; locks %d won, %d lost)\n",
			fleetState(f.Redis), sum(f.Redis.Calls), sum(f.Redis.Errors), f.Redis.Skipped, sum(f.Rejected), f.Locks["won"], f.Locks["lost"])
		for _, c := range []string{"domains", "names", "addresses"} {
			l := f.Loads[c]
			fmt.Fprintf(tw, "  %s misses\t%d\t(from redis %d, a peer's %d, own and shared %d, alone %d)\n",
				c, sum(l), l["redis"], l["peer"], l["self"], l["alone"])
		}
	}
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
	}{{"domains", st.Domains}, {"names", st.Names}, {"addresses", st.Addrs}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.name, c.s.Len, c.s.Hits, c.s.Stale, c.s.Misses, c.s.Loads, c.s.LoadErrors, c.s.InFlight)
	}
	tw.Flush()
}

func printList(w io.Writer, l decision.Listed) {
	fmt.Fprintf(w, "servers flagged: %d\n", len(l.Addrs))
	for _, a := range l.Addrs {
		age := a.Age
		if a.Stale {
			age += ", stale"
		}
		fmt.Fprintf(w, "  %s  %s  key %s  DH %s  probed %s ago\n", a.Addr, a.Verdict, keyText(a.KeyType, a.KeyBits), bitsText(a.DHBits), age)
		fmt.Fprintf(w, "    why: %s\n", a.Reason)
		fmt.Fprintf(w, "    names: %s\n", dash(strings.Join(a.Names, ", ")))
		fmt.Fprintf(w, "    domains: %s\n", dash(strings.Join(a.Domains, ", ")))
		if a.More > 0 {
			fmt.Fprintf(w, "    (and %d more names and domains)\n", a.More)
		}
	}
	fmt.Fprintf(w, "domains flagged: %d\n", len(l.Domains))
	if len(l.Domains) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  domain\tverdict\tvia")
		for _, d := range l.Domains {
			via := strings.Join(d.Hosts, ", ")
			switch {
			case d.Source == decision.SourceOverride && len(d.Hosts) == 0:
				via = "the domain" + overrideText(d.Pattern)
			case d.Source == decision.SourceOverride:
				via += overrideText(d.Pattern)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Domain, d.Verdict, via)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "override items flagging: %d\n", len(l.Overrides))
	for _, o := range l.Overrides {
		fmt.Fprintf(w, "  %s  %s\n", o.Item, o.Verdict)
	}
	if l.Truncated {
		fmt.Fprintln(w, "(truncated: more entries than one answer holds; use \"list smallkey\" or \"list tlsexport\")")
	}
}

// fleetState is the Redis state as the stats line shows it.
func fleetState(r fleet.Stats) string {
	if r.Full {
		return r.State + ", full"
	}
	return r.State
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
