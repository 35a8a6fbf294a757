package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Rate is an event rate, stored as the interval between events. In TOML it is either
// a string "N/DURATION" ("1/10s" = one per 10 seconds, "6/1m" or "6/m" = six a minute)
// or a number of events per second (0.1 = one per 10 seconds). 0 (number or string)
// means unlimited. It marshals back as "1/INTERVAL" (or "0").
type Rate struct {
	every time.Duration // 0 = unlimited
}

// RateEvery returns the rate of one event per d (d <= 0: unlimited).
func RateEvery(d time.Duration) Rate { return Rate{every: max(d, 0)} }

// Every is the interval between events; 0 means unlimited.
func (r Rate) Every() time.Duration { return r.every }

// Limit is r for golang.org/x/time/rate: rate.Inf when unlimited.
func (r Rate) Limit() rate.Limit {
	if r.every == 0 {
		return rate.Inf
	}
	return rate.Every(r.every)
}

// PerSecond is the rate in events per second; 0 means unlimited.
func (r Rate) PerSecond() float64 {
	if r.every == 0 {
		return 0
	}
	return float64(time.Second) / float64(r.every)
}

// String formats r as "1/INTERVAL", or "0" when unlimited.
func (r Rate) String() string {
	if r.every == 0 {
		return "0"
	}
	return "1/" + formatDuration(r.every)
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It also receives the raw text of
// TOML numbers, so rate_per_address = 0.1 works.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := parseRate(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("parse rate %q: %w", b, err)
	}
	*r = v
	return nil
}

// maxRateEvery bounds the interval so that N * DURATION arithmetic cannot overflow.
const maxRateEvery = 1000 * time.Hour

func parseRate(s string) (Rate, error) {
	num, per, slash := strings.Cut(s, "/")
	if !slash {
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return Rate{}, fmt.Errorf("want \"N/DURATION\" (e.g. \"1/10s\") or events per second (e.g. 0.1)")
		}
		if f == 0 {
			return Rate{}, nil
		}
		every := float64(time.Second) / f
		if every < 1 || every > float64(maxRateEvery) {
			return Rate{}, fmt.Errorf("rate out of range")
		}
		return Rate{every: time.Duration(every)}, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > 1_000_000 {
		return Rate{}, fmt.Errorf("want a whole number of events from 1 to 1000000 before \"/\"")
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '.' {
		per = "1" + per // "6/m" = "6/1m"
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 || d > maxRateEvery {
		return Rate{}, fmt.Errorf("want a positive duration up to %v after \"/\", e.g. \"10s\"", formatDuration(maxRateEvery))
	}
	every := d / time.Duration(n)
	if every <= 0 {
		return Rate{}, fmt.Errorf("rate out of range")
	}
	return Rate{every: every}, nil
}
