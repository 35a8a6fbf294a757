package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string ("2s",
// "1h30m"); use its Duration field. A bare TOML number is rejected (a unit is
// required).
type Duration struct {
	time.Duration
}

// String formats d like time.Duration, without zero trailing units ("24h", "1h30m", "15m").
func (d Duration) String() string { return formatDuration(d.Duration) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	t := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(t)
	if err != nil {
		if n, ok := strings.CutSuffix(t, "d"); ok {
			if days, err := strconv.Atoi(n); err == nil && days > 0 {
				return fmt.Errorf("parse duration %q: days are not a unit; write hours, e.g. \"%dh\"", b, 24*days)
			}
			return fmt.Errorf("parse duration %q: days are not a unit; write hours, e.g. \"24h\"", b)
		}
		return fmt.Errorf("parse duration %q: want a number with a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1h30m\"", b)
	}
	d.Duration = v
	return nil
}

// formatDuration is time.Duration.String without the zero "0s" and "0m" tails.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
