package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		text string
	}{
		{"2s", 2 * time.Second, "2s"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"24h", 24 * time.Hour, "24h"},
		{" 15m ", 15 * time.Minute, "15m"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"1h0m30s", time.Hour + 30*time.Second, "1h0m30s"},
		{"0", 0, "0s"},
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tc.in, err)
			continue
		}
		if d.Duration != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tc.in, d.Duration, tc.want)
		}
		b, _ := d.MarshalText()
		if string(b) != tc.text {
			t.Errorf("MarshalText(%v) = %q, want %q", tc.want, b, tc.text)
		}
	}
	for _, in := range []string{"", "30", "2 s", "1d", "s", "--1s"} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want error", in, d)
		}
	}
}

// A bare TOML number is not a duration: a unit is required.
func TestDurationNeedsUnit(t *testing.T) {
	for _, doc := range []string{"[answer]\nwait = 2\n", "[answer]\nwait = 2.5\n"} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), "unit") {
			t.Errorf("Parse(%q) = %v, want an error asking for a unit", doc, err)
		}
	}
}
