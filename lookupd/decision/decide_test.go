package decision

import (
	"context"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestDecide: over a store with its own loaders (no origin, no service),
// the verdict is the largest over every considered address of every MX
// host; overrides decide without DNS or probe; ignored networks are shown
// and never loaded; max_addresses bounds what is considered; the same
// facts give another verdict under other settings, with no load.
func TestDecide(t *testing.T) {
	w := &world{
		mx: map[string][]string{
			"modern.test": {"mx.modern.test"}, "mixed.test": {"mx.modern.test", "mx.weak.test"},
			"both.test": {"mx.weak.test", "mx.small.test"}, "never.test": {"mx.never.test"},
			"ignored.test": {"mx.ignored.test"}, "third.test": {"mx.third.test"}, "weak13.test": {"mx.weak13.test"},
			"listed.test": {"mx.weak.test"},
		},
		addrs: map[string][]string{
			"mx.modern.test": {"192.0.2.4"}, "mx.weak.test": {"192.0.2.2"}, "mx.small.test": {"192.0.2.3"},
			"mx.never.test": {"192.0.2.2"}, "mx.ignored.test": {"10.1.1.1", "192.0.2.4"},
			"mx.third.test": {"192.0.2.4", "192.0.2.5", "192.0.2.2"}, "mx.weak13.test": {"192.0.2.7"},
		},
		facts: map[string]probe.Facts{"192.0.2.2": weakDH, "192.0.2.3": smallRS, "192.0.2.7": weak13},
	}
	d, st := newDecider(t, w, func(c *config.Config) { c.Probe.MaxAddresses = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		domain string
		want   verdict.Verdict
		source Source
	}{
		{"modern.test", verdict.None, SourceMX},
		{"mixed.test", verdict.TLSExport, SourceMX}, // any MX host counts
		{"both.test", verdict.SmallKey, SourceMX},   // smallkey beats tlsexport
		{"never.test", verdict.None, SourceMX},      // the host is in [overrides] none
		{"ignored.test", verdict.None, SourceMX},    // 10.1.1.1 is ignored
		{"third.test", verdict.None, SourceMX},      // the weak address is the third; max_addresses 2
		{"weak13.test", verdict.None, SourceMX},     // TLS 1.3 spoken: not tlsexport
		{"listed.test", verdict.SmallKey, SourceOverride},
		{"nxdomain.test", verdict.None, SourceDNS},
		{"bad..domain", verdict.None, SourceInvalid},
	} {
		got := d.Decide(ctx, st, tc.domain, true)
		if got.Verdict != tc.want || got.Source != tc.source || got.Pending() {
			t.Errorf("%s: %q from %s (pending %v), want %q from %s (%+v)", tc.domain, got.Verdict, got.Source, got.Pending(), tc.want, tc.source, got)
		}
	}
	if got := d.Decide(ctx, st, "ignored.test", true); len(got.MX) != 1 || len(got.MX[0].Addrs) != 2 || got.MX[0].Addrs[0].Source != SourceIgnored {
		t.Errorf("ignored.test: %+v, want 10.1.1.1 shown as ignored", got.MX)
	}
	for a, want := range map[string]int{"192.0.2.2": 1, "192.0.2.4": 1, "10.1.1.1": 0, "192.0.2.5": 1, "192.0.2.7": 1} {
		if n := w.loadsOf(a); n != want {
			t.Errorf("%s loaded %d times, want %d", a, n, want)
		}
	}
	if got := d.Decide(ctx, st, "listed.test", false); !got.Overridden() {
		t.Error("listed.test: not marked overridden")
	}

	// The same facts under other settings: other verdicts, no load.
	cfg := *st.Config
	cfg.Probe.TLS13 = false
	cfg.Probe.KeyMinBits = 1024
	other := settingsOf(t, &cfg)
	loads := w.loadsOf("192.0.2.7") + w.loadsOf("192.0.2.3")
	for domain, want := range map[string]verdict.Verdict{"weak13.test": verdict.TLSExport, "both.test": verdict.TLSExport, "modern.test": verdict.None} {
		if got := d.Decide(ctx, other, domain, false); got.Verdict != want {
			t.Errorf("under other settings: %s: %q, want %q", domain, got.Verdict, want)
		}
	}
	if n := w.loadsOf("192.0.2.7") + w.loadsOf("192.0.2.3"); n != loads {
		t.Errorf("other settings loaded facts again: %d loads, want %d", n, loads)
	}
}
