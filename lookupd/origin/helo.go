package origin

import (
	"context"
	"net"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// heloTimeout bounds the look-up of the host's own name when [dns] has no
// timeout.
const heloTimeout = 5 * time.Second

// HELOName is the EHLO name the probes of a daemon with cfg use: probe.helo
// when set, else Exim's primary_hostname (probe.PrimaryHostname) looked up
// with the daemon's own resolver ([dns] servers, else /etc/hosts and
// /etc/resolv.conf) within [dns] timeout. The daemon resolves it once at
// start and on each reload, never inside a probe.
func HELOName(ctx context.Context, cfg *config.Config) string {
	if cfg.Probe.HELO != "" {
		return cfg.Probe.HELO
	}
	d := cfg.DNS.Timeout.Duration
	if d <= 0 {
		d = heloTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return probe.PrimaryHostname(ctx, netResolver(cfg.DNS.ServerAddrs()))
}

// netResolver asks the [dns] servers (in turn, on failure) when there are
// any, and the system's resolver otherwise.
func netResolver(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		var err error
		for _, s := range servers {
			var c net.Conn
			if c, err = d.DialContext(ctx, network, s); err == nil {
				return c, nil
			}
		}
		return nil, err
	}}
}
