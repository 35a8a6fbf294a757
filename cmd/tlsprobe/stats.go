package main

import (
	"fmt"
	"io"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// printReports writes the stats line about Exim's reports of failed
// deliveries (the report verb) into the stats table.
func printReports(w io.Writer, r lookupd.ReportStats) {
	fmt.Fprintf(w, "reports\t%d\t(%d prediction misses, %d re-probes; %d confirmed, %d unrelated, %d malformed)\n",
		r.Miss+r.Confirmed+r.Unrelated+r.Malformed, r.Miss, r.Reprobes, r.Confirmed, r.Unrelated, r.Malformed)
}
