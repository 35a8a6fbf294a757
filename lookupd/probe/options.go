package probe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// Options control a probe. The zero value of every field is a documented
// default, so Options{} probes like Debian's Exim with its default settings.
type Options struct {
	// Port is the SMTP port. Zero means 25.
	Port int
	// HELO is the name sent in EHLO. Empty means the host name of this machine.
	HELO string
	// Timeout bounds the whole probe of one host, every address and
	// connection included. Zero means 30 seconds.
	Timeout time.Duration
	// Client is the TLS client to model: "gnutls" (Debian's Exim; the
	// default when empty) or "openssl".
	Client string
	// DisableTLS13 makes the modelled client offer TLS 1.2 at most, so a
	// server that would send a weak prime to TLS 1.2 clients is flagged even
	// when it also speaks TLS 1.3.
	DisableTLS13 bool
	// KeyMinBits is the RSA or DSA key size below which a certificate is
	// "smallkey". Zero means 2048.
	KeyMinBits int
	// DHMinBits is Exim's tls_dh_min_bits: a DHE prime shorter than this
	// makes the host "tlsexport". Zero means 1024.
	DHMinBits int
	// Ignore lists networks the probe never connects to.
	Ignore []netip.Prefix
	// SourceAddr is the local address to connect from; the zero Addr lets
	// the kernel choose.
	SourceAddr netip.Addr
	// Admit, when set, is called once before an address is probed (a probe
	// makes one to three connections to it); an error skips the address.
	// The daemon uses it to rate-limit probes per address.
	Admit func(ctx context.Context, addr netip.Addr) error
}

func (o Options) port() int {
	if o.Port == 0 {
		return 25
	}
	return o.Port
}

func (o Options) helo() string {
	if o.HELO != "" {
		return o.HELO
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
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

func (o Options) keyMinBits() int {
	if o.KeyMinBits <= 0 {
		return 2048
	}
	return o.KeyMinBits
}

func (o Options) dhMinBits() int {
	if o.DHMinBits <= 0 {
		return 1024
	}
	return o.DHMinBits
}

func (o Options) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if o.SourceAddr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: o.SourceAddr.AsSlice(), Zone: o.SourceAddr.Zone()}
	}
	return d.DialContext(ctx, network, addr)
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
