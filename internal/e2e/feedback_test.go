package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// turns is a server that turns weak: the OpenSSL fixture, TLS 1.2 only,
// DHE only, first with a 2048-bit prime, then restarted on the same
// address with a 768-bit one.
var turns = mxDomain{domain: "turns.test", addr: "192.0.2.20"}

const reportTransport = "remote_smtp_tlsprobed"

// TestEximReportsTLSFailures proves the report verb end to end (contrib/exim,
// "Learning from Exim's failures"): Debian's Exim with the split
// configuration and TLSPROBED_REPORT, the real daemon on its real socket
// (cache.ttl 1h). A server cached as fine turns weak; Exim's next delivery
// goes in clear and reports the DH failure from its transport's
// event_action; the daemon counts a prediction miss and probes the address
// again at once; the delivery after that goes over TLS through
// remote_smtp_tls_smallprime, within seconds, not cache.ttl. Failures the
// daemon predicted count as confirmed (the split configuration and the
// single-file fragment, with the event_action the README tells admins to
// add to their remote_smtp). With the daemon stopped or hanging, delivery
// is unaffected: nothing defers, nothing waits longer than the readsocket
// timeouts.
func TestEximReportsTLSFailures(t *testing.T) {
	requireE2E(t)
	start := time.Now()
	defer func() { t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond)) }()

	ns := newNetns(t, dnsAddr, senderAddr, turns.addr, dnsAddr, probeAddr)
	bin := buildDaemon(t, ns.dir)
	startDNS(t, ns, dnsAddr, turns)
	fixture := lab.FixtureBinary(t)
	ln := ns.listenTCP(t, turns.addr+":25")
	strong := fixtureOptions{Cert: "rsa2048", DH: "dh2048", Ciphers: "kDHE", Max: "1.2"}
	srv := startFixtureOn(t, ns, fixture, turns, strong, ln)

	d := newDaemon(t, ns, bin, "the report test", `# The defaults: 2 probes at once per address, then one per 10s.
rate_per_address = "1/10s"
rate_burst = 2`, fmt.Sprintf(`
[answer]
wait = "1s"

[cache]
ttl = "1h"
file = %q
`, filepath.Join(ns.dir, "tlsprobed-cache.json")))
	d.start(t)
	stats := func() lookupd.Stats { t.Helper(); return d.stats(t) }

	split := newSender(t, ns, "exim-report", true, "TLSPROBED_REPORT = yes\n")
	opts := sendOptions{socket: d.socket}

	// 1. The server with a 2048-bit prime: TLS through
	// remote_smtp_tlsprobed; the daemon probes it (fine) and caches that.
	l := split.send(t, "fine", opts, rcpt(turns))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != reportTransport || !tlsMatches(got.tls, "TLS1.2:DHE_") {
		t.Fatalf("fine: want T=%s X=TLS1.2:DHE_..., got %s", reportTransport, got.line)
	} else {
		t.Logf("README: %s", got.line)
	}
	d.p.waitFor(t, "the facts of "+turns.addr+" cached", 30*time.Second, func() bool {
		return strings.Contains(d.explain(turns.domain), `"dh_bits":2048`)
	})
	if st := stats(); st.Reports != (lookupd.ReportStats{}) || st.Probes != 1 {
		t.Fatalf("after the fine delivery: reports %+v, probes %d; want none, 1", st.Reports, st.Probes)
	}

	// 2. The same address, a 768-bit prime now. The daemon still holds
	// "fine" for an hour.
	srv.stop(t)
	startFixtureOn(t, ns, fixture, turns, fixtureOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", Max: "1.2"}, ln)
	if a, err := query(d.socket, turns.domain, 5*time.Second); err != nil || a != "" {
		t.Fatalf("the cached answer: %q, %v; want empty", a, err)
	}

	// 3. Exim's next delivery: the DH error, in clear, and a report.
	sent := time.Now()
	l = split.send(t, "turned", opts, rcpt(turns))
	l.noDefers(t)
	if line := l.line(dhError); line == "" {
		t.Errorf("turned: no %q line", dhError)
	} else {
		t.Logf("README: %s", line)
	}
	if got := l.delivered(t, rcpt(turns)); got.transport != reportTransport || got.tls != "" {
		t.Errorf("turned: want T=%s in clear, got %s", reportTransport, got.line)
	} else {
		t.Logf("README: %s", got.line)
	}
	d.waitAnswer(t, turns.domain, "tlsexport", 30*time.Second)
	learnt := time.Since(sent)
	if st := stats(); st.Reports.Miss != 1 || st.Reports.Reprobes != 1 || st.Probes != 2 {
		t.Errorf("after the report: reports %+v, probes %d; want 1 miss, 1 re-probe, 2 probes", st.Reports, st.Probes)
	}
	logText, _ := os.ReadFile(d.p.log)
	var missLines int
	for _, line := range strings.Split(string(logText), "\n") {
		switch {
		case strings.Contains(line, "prediction miss"):
			missLines++
			t.Logf("README: %s", line)
			if !strings.Contains(line, "addr="+turns.addr+":25") || !strings.Contains(line, dhError) {
				t.Errorf("the miss line does not name the address and Exim's text: %s", line)
			}
		case strings.Contains(line, "msg=probe ") && strings.Contains(line, turns.addr):
			t.Logf("README: %s", line)
		}
	}
	if missLines != 1 {
		t.Errorf("%d prediction miss lines in the daemon's log, want 1", missLines)
	}

	// 4. The delivery after that: over TLS with the 768-bit prime.
	l = split.send(t, "relearnt", opts, rcpt(turns))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:DHE_CUSTOM768") {
		t.Errorf("relearnt: want T=%s X=TLS1.2:DHE_CUSTOM768..., got %s\nexplain: %s", smallTransport, got.line, d.explain(turns.domain))
	} else {
		t.Logf("README: %s", got.line)
	}
	t.Logf("figure: the answer was tlsexport %v after the delivery in clear began (Exim run, report, re-probe; cache.ttl 1h)", learnt.Round(time.Millisecond))

	// 5. Failures the daemon predicted: confirmed, no probe. An admin who
	// keeps tlsexport domains on the ordinary transport (TLSPROBED_ANSWERS
	// = smallkey) gets the DH error there, and the report.
	keep := sendOptions{socket: d.socket, lines: []string{"TLSPROBED_ANSWERS = smallkey"}}
	l = split.send(t, "predicted", keep, rcpt(turns))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != reportTransport || got.tls != "" {
		t.Errorf("predicted: want T=%s in clear, got %s", reportTransport, got.line)
	}
	// The single-file fragment, with the event_action the README tells
	// admins to add to their own remote_smtp.
	frag := newFragmentSender(t, ns)
	writeFile(t, frag.config, withEventAction(t, frag.config), 0o644)
	l = frag.send(t, "fragment", opts, rcpt(turns))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != smallTransport || !tlsMatches(got.tls, "TLS1.2:DHE_CUSTOM768") {
		t.Errorf("fragment: want T=%s X=TLS1.2:DHE_CUSTOM768..., got %s", smallTransport, got.line)
	}
	l = frag.send(t, "fragment-predicted", keep, rcpt(turns))
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != plainTransport || got.tls != "" {
		t.Errorf("fragment-predicted: want T=%s in clear, got %s", plainTransport, got.line)
	}
	st := stats()
	if st.Reports.Miss != 1 || st.Reports.Confirmed != 2 || st.Reports.Reprobes != 1 || st.Probes != 2 {
		t.Errorf("at the end: reports %+v, probes %d; want 1 miss (the planted one), 2 confirmed, 1 re-probe, 2 probes", st.Reports, st.Probes)
	}
	t.Logf("figure: stats reports %+v, probes %d", st.Reports, st.Probes)
	if a, err := query(d.socket, "stats", 5*time.Second); err == nil {
		t.Logf("README: stats: %s", strings.TrimSpace(a))
	}

	// 6. The daemon hanging, then stopped, the event_action in place: the
	// DH failure's report goes nowhere; delivery goes on in clear, nothing
	// defers, nothing waits beyond the readsocket timeouts (3s routing,
	// 1s for the report).
	slow, hits := hangingSocket(t, filepath.Join(ns.dir, "hang"))
	began := time.Now()
	l = split.send(t, "hanging", sendOptions{socket: slow}, rcpt(turns))
	took := time.Since(began)
	l.noDefers(t)
	if got := l.delivered(t, rcpt(turns)); got.transport != reportTransport || got.tls != "" {
		t.Errorf("hanging: want T=%s in clear, got %s", reportTransport, got.line)
	}
	if n := hits.Load(); n < 2 || took > 3*time.Second+time.Second+5*time.Second {
		t.Errorf("hanging: %d connections to the socket (want the router's and the report's), delivery took %v", n, took)
	}
	t.Logf("hanging: %d connections to the hanging socket", hits.Load())
	t.Logf("figure: with a daemon that never answers the delivery took %v (TLSPROBED_TIMEOUT 3s + TLSPROBED_EVENT_TIMEOUT 1s)", took.Round(time.Millisecond))

	d.stop(t)
	began = time.Now()
	l = split.send(t, "stopped", opts, rcpt(turns))
	took = time.Since(began)
	l.noDefers(t)
	if line := l.line(dhError); line == "" {
		t.Errorf("stopped: no %q line", dhError)
	}
	if got := l.delivered(t, rcpt(turns)); got.transport != reportTransport || got.tls != "" {
		t.Errorf("stopped: want T=%s in clear, got %s", reportTransport, got.line)
	} else {
		t.Logf("README: %s", got.line)
	}
	t.Logf("figure: with the daemon stopped the delivery took %v", took.Round(time.Millisecond))
}

// withEventAction is the single-file configuration in file with the
// reports turned on as contrib/exim/README.md tells admins: TLSPROBED_REPORT
// and the event_action line in their own remote_smtp.
func withEventAction(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const plainSMTP = "\nremote_smtp:\n  driver = smtp\n"
	if strings.Count(string(b), plainSMTP) != 1 {
		t.Fatalf("%s has no one %q", file, plainSMTP)
	}
	return "TLSPROBED_REPORT = yes\n" + strings.Replace(string(b), plainSMTP, plainSMTP+"  event_action = TLSPROBED_EVENT_ACTION\n", 1)
}

// stats asks the daemon for its counters.
func (d *daemon) stats(t *testing.T) lookupd.Stats {
	t.Helper()
	a, err := query(d.socket, "stats", 5*time.Second)
	var st lookupd.Stats
	if err == nil {
		err = json.Unmarshal([]byte(a), &st)
	}
	if err != nil {
		t.Fatalf("stats: %v (%q)", err, a)
	}
	return st
}
