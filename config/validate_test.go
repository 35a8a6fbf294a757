package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string // exact message of the single error
	}{
		{"socket empty", func(c *Config) { c.Listen.Socket = "" }, "listen.socket: must be set"},
		{"socket relative", func(c *Config) { c.Listen.Socket = "run/x.sock" }, `listen.socket: must be an absolute path (got "run/x.sock")`},
		{"socket long", func(c *Config) { c.Listen.Socket = "/" + strings.Repeat("s", 107) }, "listen.socket: longer than 107 bytes, the limit of a Unix socket path"},
		{"mode not octal", func(c *Config) { c.Listen.Mode = "0689" }, `listen.mode: want octal permission bits such as "0660" (got "0689")`},
		{"mode empty", func(c *Config) { c.Listen.Mode = "" }, `listen.mode: want octal permission bits such as "0660" (got "")`},
		{"mode signed", func(c *Config) { c.Listen.Mode = "+660" }, `listen.mode: want octal permission bits such as "0660" (got "+660")`},
		{"mode setuid", func(c *Config) { c.Listen.Mode = "4755" }, `listen.mode: only permission bits (at most 0777) are allowed (got "4755")`},
		{"group", func(c *Config) { c.Listen.Group = "exim mail" }, `listen.group: not a group name or numeric gid: "exim mail"`},
		{"tcp not loopback", func(c *Config) { c.Listen.TCP = "192.0.2.1:8125" }, "listen.tcp: must be a loopback address (127.0.0.0/8 or ::1), got 192.0.2.1"},
		{"tcp hostname", func(c *Config) { c.Listen.TCP = "localhost:8125" }, `listen.tcp: want a loopback "ip:port" such as "127.0.0.1:8125" (got "localhost:8125")`},
		{"tcp port 0", func(c *Config) { c.Listen.TCP = "127.0.0.1:0" }, "listen.tcp: port must not be 0"},
		{"dns server", func(c *Config) { c.DNS.Servers = []string{"127.0.0.1", "ns.example.com"} }, `dns.servers[1]: want "ip" or "ip:port" (got "ns.example.com")`},
		{"dns server port 0", func(c *Config) { c.DNS.Servers = []string{"127.0.0.1:0"} }, `dns.servers[0]: port must not be 0 (got "127.0.0.1:0")`},
		{"dns servers many", func(c *Config) { c.DNS.Servers = strings.Split(strings.Repeat("127.0.0.1,", 17)[:17*10-1], ",") }, "dns.servers: more than 16 servers"},
		{"dns timeout", func(c *Config) { c.DNS.Timeout = Duration{time.Millisecond} }, "dns.timeout: must be between 100ms and 1m (got 1ms)"},
		{"port", func(c *Config) { c.Probe.Port = 65536 }, "probe.port: must be between 1 and 65535 (got 65536)"},
		{"helo", func(c *Config) { c.Probe.HELO = "mail example" }, `probe.helo: not a host name or address literal: "mail example"`},
		{"helo label", func(c *Config) { c.Probe.HELO = "-mail.example" }, `probe.helo: not a host name or address literal: "-mail.example"`},
		{"helo literal", func(c *Config) { c.Probe.HELO = "[300.1.1.1]" }, `probe.helo: not a host name or address literal: "[300.1.1.1]"`},
		{"probe timeout", func(c *Config) { c.Probe.Timeout = Duration{11 * time.Minute} }, "probe.timeout: must be between 1s and 10m (got 11m)"},
		{"probe timeout negative", func(c *Config) { c.Probe.Timeout = Duration{-time.Second} }, "probe.timeout: must be between 1s and 10m (got -1s)"},
		{"concurrency", func(c *Config) { c.Probe.Concurrency = 0 }, "probe.concurrency: must be between 1 and 1024 (got 0)"},
		{"max_mx", func(c *Config) { c.Probe.MaxMX = 101 }, "probe.max_mx: must be between 1 and 100 (got 101)"},
		{"max_addresses", func(c *Config) { c.Probe.MaxAddresses = 33 }, "probe.max_addresses: must be between 1 and 32 (got 33)"},
		{"source", func(c *Config) { c.Probe.SourceAddress = "192.0.2.300" }, `probe.source_address: not an IP address: "192.0.2.300"`},
		{"client", func(c *Config) { c.Probe.Client = "nss" }, `probe.client: must be "gnutls" or "openssl" (got "nss")`},
		{"client empty", func(c *Config) { c.Probe.Client = "" }, `probe.client: must be "gnutls" or "openssl" (got "")`},
		{"key bits", func(c *Config) { c.Probe.KeyMinBits = 256 }, "probe.key_min_bits: must be between 512 and 16384 (got 256)"},
		{"dh bits", func(c *Config) { c.Probe.DHMinBits = 20000 }, "probe.dh_min_bits: must be between 512 and 16384 (got 20000)"},
		{"seclevel", func(c *Config) { c.Probe.OpenSSLSecLevel = 6 }, "probe.openssl_seclevel: must be between 0 and 5 (got 6)"},
		{"seclevel negative", func(c *Config) { c.Probe.OpenSSLSecLevel = -1 }, "probe.openssl_seclevel: must be between 0 and 5 (got -1)"},
		{"network", func(c *Config) { c.Probe.IgnoreNetworks = []string{"10.0.0.0/8", "10.0.0.0/33"} }, `probe.ignore_networks[1]: not a network in CIDR notation: "10.0.0.0/33"`},
		{"network name", func(c *Config) { c.Probe.IgnoreNetworks = []string{"localhost"} }, `probe.ignore_networks[0]: not an IP address or CIDR network: "localhost"`},
		{"network zone", func(c *Config) { c.Probe.IgnoreNetworks = []string{"fe80::1%eth0"} }, `probe.ignore_networks[0]: not an IP address or CIDR network: "fe80::1%eth0"`},
		{"rate", func(c *Config) { c.Probe.RatePerAddress = RateEvery(48 * time.Hour) }, "probe.rate_per_address: must be 0 (unlimited) or between 1/24h and 1000/1s (got 1/48h)"},
		{"rate fast", func(c *Config) { c.Probe.RatePerAddress = RateEvery(time.Microsecond) }, "probe.rate_per_address: must be 0 (unlimited) or between 1/24h and 1000/1s (got 1/1µs)"},
		{"burst", func(c *Config) { c.Probe.RateBurst = 0 }, "probe.rate_burst: must be between 1 and 1000 (got 0)"},
		{"wait", func(c *Config) { c.Answer.Wait = Duration{5 * time.Minute} }, "answer.wait: must be between 10ms and 1m (got 5m)"},
		{"wait zero", func(c *Config) { c.Answer.Wait = Duration{} }, "answer.wait: must be between 10ms and 1m (got 0s)"},
		{"hosts", func(c *Config) { c.Cache.Hosts = 0 }, "cache.hosts: must be between 1 and 10000000 (got 0)"},
		{"domains", func(c *Config) { c.Cache.Domains = -1 }, "cache.domains: must be between 1 and 10000000 (got -1)"},
		{"ttl", func(c *Config) { c.Cache.TTL = Duration{30 * time.Second} }, "cache.ttl: must be at least 1m (got 30s): each expiry re-probes the MX address, a connection its postmaster sees; for a shorter life of failed probes set cache.error_ttl (from 1s)"},
		{"ttl max", func(c *Config) { c.Cache.TTL = Duration{31 * 24 * time.Hour} }, "cache.ttl: must be between 1m and 720h (got 744h)"},
		{"error ttl", func(c *Config) { c.Cache.ErrorTTL = Duration{} }, "cache.error_ttl: must be between 1s and 720h (got 0s)"},
		{"file", func(c *Config) { c.Cache.File = "cache.json" }, `cache.file: must be an absolute path (got "cache.json")`},
		{"metrics", func(c *Config) { c.Metrics.Listen = ":9100" }, `metrics.listen: want "ip:port" with a non-zero port (got ":9100")`},
		{"override", func(c *Config) { c.OverrideLists.None = []string{"ok.example", "^("} }, "overrides.none[1]: bad regular expression \"^(\": error parsing regexp: missing closing ): `(?i)^(`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v\nwant %v", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(tc.want, ce.Key+": ") {
				t.Fatalf("errors.As: %+v", ce)
			}
		})
	}
}

func TestValidateReportsAllAndKeepsCompiled(t *testing.T) {
	c := Default()
	c.Probe.Port = 0
	c.Listen.Mode = "x"
	c.Probe.IgnoreNetworks = []string{"bad"}
	err := c.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("Validate() = %v, want three errors", err)
	}
	// The values compiled by the last successful Validate stay.
	if c.Listen.FileMode() != 0o660 || len(c.Probe.Networks()) != len(DefaultIgnoreNetworks) {
		t.Fatalf("compiled values changed by a failed Validate: %o %v", c.Listen.FileMode(), c.Probe.Networks())
	}
}

func TestValidateAccepts(t *testing.T) {
	c := Default()
	c.Listen.Mode = "600"
	c.Listen.Group = "Debian-exim"
	c.Listen.TCP = "[::1]:8125"
	c.DNS.Servers = []string{"192.0.2.53", "192.0.2.54:5353", "2001:db8::53", "[2001:db8::54]:5353", "[2001:db8::55]"}
	c.Probe.HELO = "mail.example.org."
	c.Probe.SourceAddress = "2001:db8::25"
	c.Probe.IgnoreNetworks = []string{"10.1.2.3/8", "192.0.2.7", "2001:db8::/32"}
	c.Probe.RatePerAddress = Rate{}
	c.Cache.File = "/var/lib/tlsprobed/cache.json"
	c.Metrics.Listen = "0.0.0.0:9100"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen.FileMode() != fs.FileMode(0o600) {
		t.Errorf("FileMode = %o", c.Listen.FileMode())
	}
	if got := c.Listen.TCPAddr(); got != netip.MustParseAddrPort("[::1]:8125") {
		t.Errorf("TCPAddr = %v", got)
	}
	wantDNS := []string{"192.0.2.53:53", "192.0.2.54:5353", "[2001:db8::53]:53", "[2001:db8::54]:5353", "[2001:db8::55]:53"}
	if got := c.DNS.ServerAddrs(); !reflect.DeepEqual(got, wantDNS) {
		t.Errorf("ServerAddrs = %v, want %v", got, wantDNS)
	}
	if got := c.Probe.SourceAddr(); got != netip.MustParseAddr("2001:db8::25") {
		t.Errorf("SourceAddr = %v", got)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if got := c.Probe.Networks(); !reflect.DeepEqual(got, wantNets) {
		t.Errorf("Networks = %v, want %v", got, wantNets)
	}
	if got := c.Metrics.Addr(); got != netip.MustParseAddrPort("0.0.0.0:9100") {
		t.Errorf("metrics Addr = %v", got)
	}
	for _, mode := range []string{"0o640", "0777", "0"} {
		c.Listen.Mode = mode
		if err := c.Validate(); err != nil {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
	for _, helo := range []string{"[192.0.2.1]", "[IPv6:2001:db8::1]", "localhost", "a_b.example"} {
		c.Probe.HELO = helo
		if err := c.Validate(); err != nil {
			t.Errorf("helo %q: %v", helo, err)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	c := Default()
	c.Probe.IgnoreNetworks = make([]string, maxIgnoreNetworks+1)
	for i := range c.Probe.IgnoreNetworks {
		c.Probe.IgnoreNetworks[i] = "10.0.0.0/8"
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "probe.ignore_networks: more than 10000 entries") {
		t.Fatalf("Validate = %v", err)
	}
	c = Default()
	c.OverrideLists.None = make([]string, maxOverrides+1)
	if err := c.Validate(); err == nil || err.Error() != "overrides: more than 100000 items in all (got 100001)" {
		t.Fatalf("Validate = %v", err)
	}
}
