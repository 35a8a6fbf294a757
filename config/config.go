package config

import (
	"io/fs"
	"net/netip"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// DefaultPath is where tlsprobed looks for its configuration when -config is not
// given. A missing file there means built-in defaults (see LoadDefault).
const DefaultPath = "/etc/tlsprobed/config.toml"

// Config is the whole configuration file. Its zero value is not useful: start from
// Default, Parse or Load. After changing exported fields by hand, call Validate again
// so that the accessors reflect the change.
type Config struct {
	Listen        ListenConfig  `toml:"listen"`
	DNS           DNSConfig     `toml:"dns"`
	Probe         ProbeConfig   `toml:"probe"`
	Answer        AnswerConfig  `toml:"answer"`
	Cache         CacheConfig   `toml:"cache"`
	OverrideLists OverrideLists `toml:"overrides"`
	Metrics       MetricsConfig `toml:"metrics"`
	Redis         RedisConfig   `toml:"redis"`

	overrides *Overrides // compiled by Validate
}

// ListenConfig is the [listen] section: where the daemon answers.
type ListenConfig struct {
	Socket string `toml:"socket"` // Unix socket path
	Mode   string `toml:"mode"`   // octal permission bits of the socket, e.g. "0660"
	Group  string `toml:"group"`  // group name or numeric gid of the socket; "" = the process group
	TCP    string `toml:"tcp"`    // loopback "ip:port" for Exim's inet: readsocket; "" = off

	mode fs.FileMode
	tcp  netip.AddrPort
}

// FileMode is listen.mode parsed (permission bits only).
func (l ListenConfig) FileMode() fs.FileMode { return l.mode }

// TCPAddr is listen.tcp parsed; the zero AddrPort (IsValid false) when off.
func (l ListenConfig) TCPAddr() netip.AddrPort { return l.tcp }

// DNSConfig is the [dns] section: the resolvers used for MX and address lookups.
type DNSConfig struct {
	Servers []string `toml:"servers"` // "ip" or "ip:port" ("[v6]:port"); empty = /etc/resolv.conf
	Timeout Duration `toml:"timeout"` // per query

	addrs []string
}

// ServerAddrs is dns.servers normalized to "ip:port" (port 53 when none was given),
// ready for net.Dial and lookupd/mx.Resolver.Servers. Empty means: use
// /etc/resolv.conf. The slice is shared: do not modify it.
func (d DNSConfig) ServerAddrs() []string { return d.addrs }

// ProbeConfig is the [probe] section: how one MX host is probed.
type ProbeConfig struct {
	Port          int            `toml:"port"`           // SMTP port
	HELO          string         `toml:"helo"`           // EHLO name; "" = the host name (resolved by the caller)
	Timeout       Duration       `toml:"timeout"`        // whole probe of one host
	Concurrency   int            `toml:"concurrency"`    // probes at once
	MaxMX         int            `toml:"max_mx"`         // MX hosts looked at per domain
	MaxAddresses  int            `toml:"max_addresses"`  // addresses looked at per MX host (IPv6 first)
	SourceAddress string         `toml:"source_address"` // local IP to connect from; "" = chosen by the kernel
	Client        tlswire.Client `toml:"client"`         // tlswire.ClientGnuTLS or tlswire.ClientOpenSSL
	TLS13         bool           `toml:"tls13"`          // a host that speaks TLS 1.3 is fine for the client (not tlsexport)
	KeyMinBits    int            `toml:"key_min_bits"`   // RSA/DSA keys shorter than this: smallkey
	DHMinBits     int            `toml:"dh_min_bits"`    // DHE primes shorter than this: tlsexport (gnutls client: Exim's tls_dh_min_bits)
	// OpenSSLSecLevel is the security level of an OpenSSL Exim's default
	// transport (client "openssl"; 0-5): it sets the shortest DH prime that
	// Exim accepts (1024 bits at levels 0-1, 2048 at 2, ...); dh_min_bits
	// does not apply to that client, as Exim ignores tls_dh_min_bits there.
	OpenSSLSecLevel int      `toml:"openssl_seclevel"`
	IgnoreNetworks  []string `toml:"ignore_networks"`  // CIDRs (or bare IPs) never probed
	RatePerAddress  Rate     `toml:"rate_per_address"` // probes per address: "1/10s", or a number per second; 0 = unlimited
	RateBurst       int      `toml:"rate_burst"`       // probes per address allowed at once above the rate

	networks []netip.Prefix
	source   netip.Addr
}

// Networks is probe.ignore_networks parsed and masked (bare IPs become /32 or /128).
// The slice is shared: do not modify it.
func (p ProbeConfig) Networks() []netip.Prefix { return p.networks }

// SourceAddr is probe.source_address parsed; the zero Addr when unset.
func (p ProbeConfig) SourceAddr() netip.Addr { return p.source }

// AnswerConfig is the [answer] section.
type AnswerConfig struct {
	Wait Duration `toml:"wait"` // longest wait for a domain request before answering empty
}

// CacheConfig is the [cache] section.
type CacheConfig struct {
	Hosts    int      `toml:"hosts"`     // addresses whose facts are kept (LRU); also the host name cache size
	Domains  int      `toml:"domains"`   // domain MX sets kept (LRU)
	TTL      Duration `toml:"ttl"`       // life of a host verdict
	ErrorTTL Duration `toml:"error_ttl"` // life of a host error outcome
	File     string   `toml:"file"`      // absolute path the cache is saved to and restored from; "" = none
}

// OverrideLists is the [overrides] section: Exim domain-list items (names, "*suffix",
// "^regex") of MX host names or recipient domains with a fixed answer. Compiled by
// Validate into [Overrides].
type OverrideLists struct {
	SmallKey  []string `toml:"smallkey"`
	TLSExport []string `toml:"tlsexport"`
	None      []string `toml:"none"`
	// Directory holds more override files ("*.toml", each an [overrides]
	// table with these three lists, such as tlsprobe import writes), read
	// in name order by Load and on each reload; "" = none.
	Directory string `toml:"directory"`

	origins map[string][]origin // file and index of each item, when merged from several files
}

// MetricsConfig is the [metrics] section: the Prometheus endpoint of tlsprobed.
type MetricsConfig struct {
	Listen string `toml:"listen"` // "ip:port" of a metrics listener; "" = off

	addr netip.AddrPort
}

// Addr is metrics.listen parsed; the zero AddrPort when off.
func (m MetricsConfig) Addr() netip.AddrPort { return m.addr }

// DefaultIgnoreNetworks is Debian's ROUTER_DNSLOOKUP_IGNORE_TARGET_HOSTS, the
// default of probe.ignore_networks, in the order Debian lists it.
var DefaultIgnoreNetworks = []string{
	"0.0.0.0", "127.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8",
	"169.254.0.0/16", "255.255.255.255",
	"::/128", "::1/128", "fc00::/7", "fe80::/10", "100::/64",
}

// Default returns the built-in configuration, validated (its accessors work). Every
// call returns fresh slices.
func Default() Config {
	c := Config{
		Listen: ListenConfig{
			Socket: "/run/tlsprobed/tlsprobed.sock",
			Mode:   "0660",
		},
		DNS: DNSConfig{
			Servers: []string{},
			Timeout: Duration{mx.DefaultTimeout},
		},
		Probe: ProbeConfig{
			Port:            25,
			Timeout:         Duration{probe.DefaultTimeout},
			Concurrency:     16,
			MaxMX:           5,
			MaxAddresses:    8,
			Client:          tlswire.ClientGnuTLS,
			TLS13:           true,
			KeyMinBits:      verdict.DefaultKeyMinBits,
			DHMinBits:       verdict.DefaultDHMinBits,
			OpenSSLSecLevel: 2,
			IgnoreNetworks:  append([]string{}, DefaultIgnoreNetworks...),
			RatePerAddress:  RateEvery(10 * time.Second),
			RateBurst:       2,
		},
		Answer: AnswerConfig{Wait: Duration{2 * time.Second}},
		Cache: CacheConfig{
			Hosts:    10000,
			Domains:  10000,
			TTL:      Duration{24 * time.Hour},
			ErrorTTL: Duration{15 * time.Minute},
		},
		OverrideLists: OverrideLists{SmallKey: []string{}, TLSExport: []string{}, None: []string{}},
		Redis:         RedisConfig{Prefix: "tlsprobed:", Timeout: Duration{100 * time.Millisecond}},
	}
	if err := c.Validate(); err != nil {
		// The defaults are constants of this package; a test holds them valid.
		panic("config: invalid built-in defaults: " + err.Error())
	}
	return c
}
