package probe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Options control a probe. The zero value of every field is a documented
// default, so Options{} probes like Debian's Exim with its default settings.
type Options struct {
	// HELO is the name sent in EHLO. Empty means the fully qualified host
	// name, as Exim's default primary_hostname.
	HELO string
	// Timeout bounds the whole probe of one address, every connection
	// included. Zero means 30 seconds.
	Timeout time.Duration
	// Client is the TLS client to model: "gnutls" (Debian's Exim; the
	// default when empty) or "openssl".
	Client string
	// Ignore lists networks the probe never connects to.
	Ignore []netip.Prefix
	// SourceAddr is the local address to connect from; the zero Addr lets
	// the kernel choose, and so does an address of the other family than
	// the one probed (an IPv4 source for an IPv6 MX host, say).
	SourceAddr netip.Addr
}

func (o Options) helo() string {
	if o.HELO != "" {
		return o.HELO
	}
	return defaultHELO()
}

// defaultHELO is the name Exim itself would use, its default
// primary_hostname: the host name, and when that has no dot the canonical
// name the resolver gives for it (/etc/hosts first, then DNS with the search
// domains), as Exim's gethostbyname() does. Looked up once per process; a
// failed lookup keeps the short name.
var defaultHELO = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return qualifyHostname(ctx, net.DefaultResolver, h)
})

// qualifyHostname returns h when it has a dot, otherwise its canonical name
// from r without the trailing dot, or h when there is none.
func qualifyHostname(ctx context.Context, r *net.Resolver, h string) string {
	if strings.Contains(h, ".") {
		return h
	}
	c, err := r.LookupCNAME(ctx, h)
	c = strings.TrimSuffix(c, ".")
	if err != nil || !strings.Contains(c, ".") {
		return h
	}
	return c
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 30 * time.Second
	}
	return o.Timeout
}

func (o Options) client() string {
	if o.Client == "" {
		return tlswire.ClientGnuTLS
	}
	return o.Client
}

func (o Options) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if o.SourceAddr.IsValid() && sameFamily(o.SourceAddr, addr) {
		d.LocalAddr = &net.TCPAddr{IP: o.SourceAddr.AsSlice(), Zone: o.SourceAddr.Zone()}
	}
	return d.DialContext(ctx, network, addr)
}

// sameFamily reports whether a and the address of hostport ("ip:port")
// are both IPv4 or both IPv6.
func sameFamily(a netip.Addr, hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	return err == nil && a.Unmap().Is4() == ap.Addr().Unmap().Is4()
}

// ignored reports whether a is inside one of the ignored networks.
func (o Options) ignored(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range o.Ignore {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
