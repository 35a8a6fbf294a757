package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Limits of the list-valued keys.
const (
	maxDNSServers     = 16
	maxIgnoreNetworks = 10000
	maxOverrides      = 100000 // all three lists together
	maxSocketPath     = 107    // sun_path is 108 bytes with the NUL
	minCacheTTL       = time.Minute
)

// Validate checks every field, naming the key in each error ("answer.wait: must be
// between 10ms and 1m (got 5m)"), and compiles the parsed forms behind the accessors
// (socket mode, TCP and metrics addresses, resolver addresses, networks, source
// address, override patterns). All problems are reported, joined. On error the
// previously compiled values are left as they were.
func (c *Config) Validate() error {
	v := &checker{}
	mode, tcp := c.Listen.check(v)
	addrs := c.DNS.check(v)
	networks, source := c.Probe.check(v)
	v.duration("answer.wait", c.Answer.Wait, 10*time.Millisecond, time.Minute)
	c.Cache.check(v)
	ov := c.OverrideLists.check(v)
	metrics := c.Metrics.check(v)
	c.Redis.check(v, c.Answer.Wait.Duration)
	if len(v.errs) > 0 {
		return errors.Join(v.errs...)
	}
	c.Listen.mode, c.Listen.tcp = mode, tcp
	c.DNS.addrs = addrs
	c.Probe.networks, c.Probe.source = networks, source
	c.overrides = ov
	c.Metrics.addr = metrics
	return nil
}

// check checks [listen] and returns the socket's mode and the TCP address.
func (l *ListenConfig) check(v *checker) (fs.FileMode, netip.AddrPort) {
	switch {
	case l.Socket == "":
		v.add("listen.socket", "must be set")
	case !filepath.IsAbs(l.Socket):
		v.add("listen.socket", "must be an absolute path (got %q)", l.Socket)
	case len(l.Socket) > maxSocketPath:
		v.add("listen.socket", "longer than %d bytes, the limit of a Unix socket path", maxSocketPath)
	}
	mode, err := parseMode(l.Mode)
	if err != nil {
		v.add("listen.mode", "%v", err)
	}
	if l.Group != "" && !validGroup(l.Group) {
		v.add("listen.group", "not a group name or numeric gid: %q", l.Group)
	}
	var tcp netip.AddrPort
	if l.TCP != "" {
		tcp, err = netip.ParseAddrPort(l.TCP)
		switch {
		case err != nil:
			v.add("listen.tcp", "want a loopback \"ip:port\" such as \"127.0.0.1:8125\" (got %q)", l.TCP)
		case !tcp.Addr().IsLoopback():
			v.add("listen.tcp", "must be a loopback address (127.0.0.0/8 or ::1), got %v", tcp.Addr())
		case tcp.Port() == 0:
			v.add("listen.tcp", "port must not be 0")
		}
	}
	return mode, tcp
}

// check checks [dns] and returns the resolvers' addresses.
func (d *DNSConfig) check(v *checker) []string {
	addrs := make([]string, 0, len(d.Servers))
	if len(d.Servers) > maxDNSServers {
		v.add("dns.servers", "more than %d servers", maxDNSServers)
	}
	for i, s := range d.Servers {
		ap, err := parseServer(s)
		if err != nil {
			v.add(fmt.Sprintf("dns.servers[%d]", i), "%v", err)
			continue
		}
		addrs = append(addrs, ap.String())
	}
	v.duration("dns.timeout", d.Timeout, 100*time.Millisecond, time.Minute)
	return addrs
}

// check checks [probe] and returns the networks never probed and the
// source address.
func (p *ProbeConfig) check(v *checker) ([]netip.Prefix, netip.Addr) {
	v.intRange("probe.port", p.Port, 1, 65535)
	if p.HELO != "" && !validHELO(p.HELO) {
		v.add("probe.helo", "not a host name or address literal: %q", p.HELO)
	}
	v.duration("probe.timeout", p.Timeout, time.Second, 10*time.Minute)
	v.intRange("probe.concurrency", p.Concurrency, 1, 1024)
	v.intRange("probe.max_mx", p.MaxMX, 1, 100)
	v.intRange("probe.max_addresses", p.MaxAddresses, 1, 32)
	var source netip.Addr
	if p.SourceAddress != "" {
		var err error
		if source, err = netip.ParseAddr(p.SourceAddress); err != nil {
			v.add("probe.source_address", "not an IP address: %q", p.SourceAddress)
		}
	}
	if _, err := tlswire.ParseClient(string(p.Client)); err != nil {
		v.add("probe.client", "must be %q or %q (got %q)", tlswire.ClientGnuTLS, tlswire.ClientOpenSSL, p.Client)
	}
	v.intRange("probe.key_min_bits", p.KeyMinBits, 512, 16384)
	v.intRange("probe.dh_min_bits", p.DHMinBits, 512, 16384)
	v.intRange("probe.openssl_seclevel", p.OpenSSLSecLevel, 0, 5)
	networks := make([]netip.Prefix, 0, len(p.IgnoreNetworks))
	if len(p.IgnoreNetworks) > maxIgnoreNetworks {
		v.add("probe.ignore_networks", "more than %d entries", maxIgnoreNetworks)
	}
	for i, s := range p.IgnoreNetworks {
		pfx, err := parseNetwork(s)
		if err != nil {
			v.add(fmt.Sprintf("probe.ignore_networks[%d]", i), "%v", err)
			continue
		}
		networks = append(networks, pfx)
	}
	if e := p.RatePerAddress.Every(); e != 0 && (e < time.Millisecond || e > 24*time.Hour) {
		v.add("probe.rate_per_address", "must be 0 (unlimited) or between 1/24h and 1000/1s (got %v)", p.RatePerAddress)
	}
	v.intRange("probe.rate_burst", p.RateBurst, 1, 1000)
	return networks, source
}

// check checks [cache].
func (cc *CacheConfig) check(v *checker) {
	v.intRange("cache.hosts", cc.Hosts, 1, 10_000_000)
	v.intRange("cache.domains", cc.Domains, 1, 10_000_000)
	// The 1m floor (docs/design.md section 5): every expiry re-probes the
	// address, and the remote postmaster sees each probe in the logs.
	if cc.TTL.Duration < minCacheTTL {
		v.add("cache.ttl", "must be at least %s (got %s): each expiry re-probes the MX address, a connection its postmaster sees; for a shorter life of failed probes set cache.error_ttl (from 1s)", formatDuration(minCacheTTL), cc.TTL)
	} else {
		v.duration("cache.ttl", cc.TTL, minCacheTTL, 30*24*time.Hour)
	}
	v.duration("cache.error_ttl", cc.ErrorTTL, time.Second, 30*24*time.Hour)
	if cc.File != "" && !filepath.IsAbs(cc.File) {
		v.add("cache.file", "must be an absolute path (got %q)", cc.File)
	}
}

// check checks [overrides] and returns the compiled lists.
func (o OverrideLists) check(v *checker) *Overrides {
	if d := o.Directory; d != "" && !filepath.IsAbs(d) {
		v.add("overrides.directory", "must be an absolute path (got %q)", d)
	}
	ov, errs := compileOverrides(o)
	v.errs = append(v.errs, errs...)
	return ov
}

// check checks [metrics] and returns its address.
func (m *MetricsConfig) check(v *checker) netip.AddrPort {
	if m.Listen == "" {
		return netip.AddrPort{}
	}
	addr, err := netip.ParseAddrPort(m.Listen)
	if err != nil || addr.Port() == 0 {
		v.add("metrics.listen", "want \"ip:port\" with a non-zero port (got %q)", m.Listen)
	}
	return addr
}

// checker collects validation errors.
type checker struct{ errs []error }

func (v *checker) add(key, format string, args ...any) {
	v.errs = append(v.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *checker) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "must be between %d and %d (got %d)", lo, hi, n)
	}
}

func (v *checker) duration(key string, d Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		v.add(key, "must be between %s and %s (got %s)", formatDuration(lo), formatDuration(hi), d)
	}
}

// parseMode parses an octal permission string such as "0660" (also "660", "0o660").
func parseMode(s string) (fs.FileMode, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	n, err := strconv.ParseUint(t, 8, 32)
	if err != nil || t == "" || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("want octal permission bits such as \"0660\" (got %q)", s)
	}
	if n > 0o777 {
		return 0, fmt.Errorf("only permission bits (at most 0777) are allowed (got %q)", s)
	}
	return fs.FileMode(n), nil
}

// parseServer parses a resolver address: "ip", "ip:port" or "[ipv6]:port"; the
// default port is 53.
func parseServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("port must not be 0 (got %q)", s)
		}
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("want \"ip\" or \"ip:port\" (got %q)", s)
	}
	return netip.AddrPortFrom(a, 53), nil
}

// parseNetwork parses a CIDR ("10.0.0.0/8") or a bare IP (a /32 or /128), masked.
func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a network in CIDR notation: %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR network: %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// validGroup accepts a numeric gid or a POSIX-ish group name ("Debian-exim").
func validGroup(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_':
		case (ch == '-' || ch == '.') && i > 0:
		case ch == '$' && i == len(s)-1 && i > 0:
		default:
			return false
		}
	}
	return true
}

// validHELO accepts what EHLO takes (RFC 5321 4.1.1.1): a host name, or an address
// literal "[192.0.2.1]" / "[IPv6:2001:db8::1]".
func validHELO(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		lit := s[1 : len(s)-1]
		if v6, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			a, err := netip.ParseAddr(v6)
			return err == nil && a.Is6() && a.Zone() == ""
		}
		a, err := netip.ParseAddr(lit)
		return err == nil && a.Is4()
	}
	return validHostname(strings.TrimSuffix(s, "."))
}

// validHostname reports whether s is a syntactically valid DNS host name of
// letters, digits, hyphens and underscores (RFC 1123 labels).
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}
