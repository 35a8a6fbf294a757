package mx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/internal/deadline"
	"github.com/miekg/dns"
)

// Defaults of the zero Resolver.
const (
	DefaultTimeout = 3 * time.Second
	DefaultMinTTL  = time.Minute
	DefaultMaxTTL  = time.Hour
	// EDNSBufferSize is the UDP payload size announced in EDNS0 (RFC 6891),
	// the size recommended by DNS Flag Day 2020 to avoid fragmentation.
	EDNSBufferSize = 1232
)

var (
	// ErrServFail: every server failed and at least one answered SERVFAIL.
	ErrServFail = errors.New("server failure")
	// ErrTimeout: no server answered in time.
	ErrTimeout = errors.New("dns timeout")
)

// resolvConf is where the servers come from when Resolver.Servers is empty.
var resolvConf = "/etc/resolv.conf"

// Resolver asks DNS servers for MX and address records. The zero value uses
// the servers of /etc/resolv.conf and the defaults above. It is safe for
// concurrent use and keeps no state between lookups.
type Resolver struct {
	Servers        []string      // "host:port" (port 53 if absent); empty = from /etc/resolv.conf
	Timeout        time.Duration // per query and server; 0 = DefaultTimeout
	MinTTL, MaxTTL time.Duration // clamp for returned TTLs; 0 = DefaultMinTTL / DefaultMaxTTL
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// clamp turns a TTL in seconds into a duration within [MinTTL, MaxTTL].
func (r *Resolver) clamp(ttl uint32) time.Duration {
	lo, hi := r.MinTTL, r.MaxTTL
	if lo <= 0 {
		lo = DefaultMinTTL
	}
	if hi <= 0 {
		hi = DefaultMaxTTL
	}
	return min(max(time.Duration(ttl)*time.Second, lo), max(hi, lo))
}

// servers returns the "host:port" list to ask, read afresh from resolv.conf
// when none is configured (so that edits to it take effect).
func (r *Resolver) servers() ([]string, error) {
	if len(r.Servers) > 0 {
		out := make([]string, len(r.Servers))
		for i, s := range r.Servers {
			out[i] = withPort(s, "53")
		}
		return out, nil
	}
	cfg, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("read dns servers: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("read dns servers: no nameserver in %s", resolvConf)
	}
	out := make([]string, len(cfg.Servers))
	for i, s := range cfg.Servers {
		out[i] = net.JoinHostPort(s, cfg.Port)
	}
	return out, nil
}

func withPort(s, port string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), port)
}

// query asks the servers in order for name (a normalized name without the
// final dot) and qtype, and returns the first answer that is NOERROR or
// NXDOMAIN. A server that times out, fails or answers another rcode is
// skipped.
func (r *Resolver) query(ctx context.Context, servers []string, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(EDNSBufferSize, false)

	var servfail, timeout bool
	var last error
	for _, srv := range servers {
		if err := context.Cause(ctx); err != nil {
			break
		}
		resp, err := r.exchange(ctx, srv, m)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				timeout = true
			}
			last = fmt.Errorf("%s: %w", srv, err)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return resp, nil
		case dns.RcodeServerFailure:
			servfail = true
		}
		last = fmt.Errorf("%s: answered %s", srv, dns.RcodeToString[resp.Rcode])
	}
	switch {
	case servfail:
		return nil, fmt.Errorf("%w (%w)", ErrServFail, last)
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%w: %w", ErrTimeout, context.Cause(ctx))
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case timeout:
		return nil, fmt.Errorf("%w (%w)", ErrTimeout, last)
	default:
		return nil, last
	}
}

// exchange sends m to one server over UDP, and again over TCP if the answer
// is truncated, and checks that the answer is to m's question.
func (r *Resolver) exchange(ctx context.Context, server string, m *dns.Msg) (*dns.Msg, error) {
	resp, err := r.exchangeNet(ctx, "udp", server, m)
	if err == nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, "tcp", server, m)
	}
	if err != nil {
		return nil, err
	}
	if !resp.Response || len(resp.Question) != 1 || resp.Question[0].Qtype != m.Question[0].Qtype ||
		!strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) {
		return nil, errors.New("answer does not match the question")
	}
	return resp, nil
}

// exchangeNet is one exchange, bounded by the Resolver's timeout and ctx's
// deadline, and cut short when ctx is cancelled.
func (r *Resolver) exchangeNet(ctx context.Context, network, server string, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	c := &dns.Client{Net: network, UDPSize: EDNSBufferSize, Timeout: r.timeout()}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop, err := deadline.Guard(ctx, conn, r.timeout())
	if err != nil {
		return nil, err
	}
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", network, err)
	}
	return resp, nil
}
