package config

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestRateText(t *testing.T) {
	for _, tc := range []struct {
		in    string
		every time.Duration
		text  string
	}{
		{"1/10s", 10 * time.Second, "1/10s"},
		{"6/1m", 10 * time.Second, "1/10s"},
		{"6/m", 10 * time.Second, "1/10s"},
		{" 2 / 1s ", 500 * time.Millisecond, "1/500ms"},
		{"0.1", 10 * time.Second, "1/10s"},
		{"2", 500 * time.Millisecond, "1/500ms"},
		{"1_000", time.Millisecond, "1/1ms"},
		{"0", 0, "0"},
		{"0.0", 0, "0"},
		{"1/1h30m", 90 * time.Minute, "1/1h30m"},
	} {
		var r Rate
		if err := r.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
			continue
		}
		if r.Every() != tc.every {
			t.Errorf("UnmarshalText(%q).Every() = %v, want %v", tc.in, r.Every(), tc.every)
		}
		if b, _ := r.MarshalText(); string(b) != tc.text {
			t.Errorf("MarshalText(%q) = %q, want %q", tc.in, b, tc.text)
		}
		var back Rate
		if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
			t.Errorf("round trip of %q: %v, %v", tc.in, back, err)
		}
	}
	for _, in := range []string{"", "x", "-1", "0/10s", "1/0s", "1/-5s", "1/", "/10s", "nan", "inf", "-inf", "1/10", "1e-30", "1/2000h", "a/10s"} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want error", in, r)
		}
	}
}

func TestRateLimit(t *testing.T) {
	if got := RateEvery(0).Limit(); got != rate.Inf {
		t.Errorf("unlimited Limit = %v, want Inf", got)
	}
	if got := RateEvery(10 * time.Second).Limit(); got != rate.Every(10*time.Second) {
		t.Errorf("Limit = %v, want 0.1", got)
	}
	if got := RateEvery(10 * time.Second).PerSecond(); got != 0.1 {
		t.Errorf("PerSecond = %v, want 0.1", got)
	}
	if got := RateEvery(-time.Second).Every(); got != 0 {
		t.Errorf("RateEvery(-1s).Every() = %v, want 0", got)
	}
}

func TestRateFromTOMLNumbers(t *testing.T) {
	for doc, want := range map[string]time.Duration{
		"[probe]\nrate_per_address = 0.5\n":     2 * time.Second,
		"[probe]\nrate_per_address = 1\n":       time.Second,
		"[probe]\nrate_per_address = 0\n":       0,
		"[probe]\nrate_per_address = \"3/m\"\n": 20 * time.Second,
	} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if got := c.Probe.RatePerAddress.Every(); got != want {
			t.Errorf("Parse(%q): every %v, want %v", doc, got, want)
		}
	}
}
