package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// TestPrintReports: tlsprobe stats shows the report counters in its table.
func TestPrintReports(t *testing.T) {
	var b bytes.Buffer
	printStats(&b, lookupd.Stats{Uptime: "1m0s", Reports: lookupd.ReportStats{Miss: 1, Confirmed: 4, Unrelated: 2, Malformed: 3, Reprobes: 1}})
	t.Logf("stats:\n%s", b.String())
	if re := regexp.MustCompile(`(?m)^reports +10 +\(1 prediction misses, 1 re-probes; 4 confirmed, 2 unrelated, 3 malformed\)$`); !re.MatchString(b.String()) {
		t.Errorf("stats text does not match %s", re)
	}
	if re := regexp.MustCompile(`(?m)^invalid +0 +\(not a domain\)$`); !re.MatchString(b.String()) {
		t.Errorf("the reports line broke the table: no match for %s", re)
	}
}
