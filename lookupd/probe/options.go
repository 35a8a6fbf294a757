package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// DefaultTimeout bounds the probe of one address when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options control a probe. The zero value of every field is a documented
// default, so Options{} probes like Debian's Exim with its default settings.
type Options struct {
	// HELO is the name sent in EHLO. Empty means the fully qualified host
	// name, as Exim's default primary_hostname.
	HELO string
	// Timeout bounds the whole probe of one address, every connection
	// included. Zero means DefaultTimeout (30 seconds).
	Timeout time.Duration
	// Client is the TLS client to model: "gnutls" (Debian's Exim; the
	// default when empty) or "openssl".
	Client tlswire.Client
	// NoTLS13 models a client that offers TLS 1.2 at most (tlsprobed's
	// probe.tls13 = false): the probe then skips the clean TLS 1.3 session
	// and reads what a TLS 1.2 hello gets (a DHE prime) at every server.
	NoTLS13 bool
	// Order is what earlier facts of the same address say about the order
	// of this probe's connections (OrderFor); the zero value is the
	// ordinary order, crypto/tls's clean session first.
	Order Order
	// Ignore lists networks the probe never connects to.
	Ignore []netip.Prefix
	// SourceAddr is the local address to connect from; the zero Addr lets
	// the kernel choose, and so does an address of the other family than
	// the one probed (an IPv4 source for an IPv6 MX host, say).
	SourceAddr netip.Addr
}

// helo is the EHLO name: o.HELO, or, when a caller left it empty, the
// host name as the kernel has it (no lookup: a probe never waits for DNS
// for its own name; tlsprobed always sets HELO, see PrimaryHostname).
func (o Options) helo() string {
	if o.HELO != "" {
		return o.HELO
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// PrimaryHostname is the name Exim itself would say EHLO with, its default
// primary_hostname: the host name, and when that has no dot the canonical
// name r gives for it (r's host files first, then DNS), as Exim's
// gethostbyname() does; a failed lookup keeps the short name. It waits
// for r within ctx: callers resolve it once, at start and on reload, and put
// it in Options.HELO.
func PrimaryHostname(ctx context.Context, r *net.Resolver) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return QualifyHostname(ctx, r, h)
}

// HELOProblem says what is wrong with name as an EHLO name, "" when
// nothing: servers that check the greeting (Exim ACLs, Postfix's
// reject_non_fqdn_helo_hostname) want a fully qualified name, and
// "localhost" is nobody's.
func HELOProblem(name string) string {
	switch n := strings.TrimSuffix(strings.ToLower(name), "."); {
	case n == "localhost" || strings.HasPrefix(n, "localhost."):
		return fmt.Sprintf("EHLO name %q is localhost: set probe.helo to this host's fully qualified name", name)
	case !strings.Contains(n, "."):
		return fmt.Sprintf("EHLO name %q is not fully qualified: set probe.helo, or give the host name a domain (/etc/hosts or DNS)", name)
	}
	return ""
}

// QualifyHostname returns h when it has a dot, otherwise its canonical name
// from r without the trailing dot, or h when there is none.
func QualifyHostname(ctx context.Context, r *net.Resolver, h string) string {
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
		return DefaultTimeout
	}
	return o.Timeout
}

func (o Options) client() tlswire.Client {
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

// Order is the order of a probe's connections, chosen from what an earlier
// probe of the same address showed (OrderFor). A wrong guess (the server
// changed) costs one connection, once: the probe then goes on in the
// ordinary order, and its facts set the next probe's order.
type Order uint8

// The orders of a probe's connections.
const (
	// OrderDefault: crypto/tls's clean session first (docs/probe.md).
	OrderDefault Order = iota
	// OrderModelledDHE: the modelled client got TLS 1.2 with a DHE key
	// exchange; its hello goes first and, completed by tlswire, is the
	// one clean session a DHE-only server sees.
	OrderModelledDHE
	// OrderNoCipher: no hello got a handshake; one hello with the
	// modelled client's offer, every other suite and TLS 1.3 goes first,
	// and its refusal is the probe's one connection.
	OrderNoCipher
	// OrderEverySuite: the modelled client got no handshake, a hello with
	// every suite got one (a DSA-only server). The modelled client's own
	// hello (TLS 1.3 offered, as Exim sends it) goes first and is refused,
	// as Exim's handshake is; then the every-suite hello reads the
	// certificate in a session tlswire completes: two connections, one
	// failed handshake, as one Exim delivery (a failed handshake, then a
	// session in clear).
	OrderEverySuite
)

// OrderFor is the order for a probe of an address whose earlier facts
// are earlier (nil: none). Only a probe's own view counts, not a report's.
func OrderFor(earlier *Facts) Order {
	switch {
	case earlier == nil || earlier.Reported != ReportedNone:
		return OrderDefault
	case earlier.Outcome == OK && earlier.DHBits > 0 && !earlier.TLS13 && !earlier.KXUnobserved:
		return OrderModelledDHE
	case earlier.Outcome == Error && earlier.Stage == stage.Negotiate && earlier.KeyType == "":
		return OrderNoCipher
	case earlier.Outcome == Error && earlier.Stage == stage.Negotiate && !earlier.TLS13 && len(earlier.Also) == 0:
		return OrderEverySuite
	}
	return OrderDefault
}
