package probe

import (
	"context"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// BenchmarkProbeClient is the time of one probe of a real OpenSSL server
// (DHE with a 768-bit prime, TLS 1.2 only) for each modelled client. The
// gnutls client makes two connections (the TLS 1.2 hello, then the TLS 1.3
// check a DHE server without the downgrade marker gets); the openssl client
// makes a third, the hello without DHE suites.
func BenchmarkProbeClient(b *testing.B) {
	lab.Require(b, "gcc")
	servers := map[string]lab.OpenSSLOptions{
		"dhe768-only":         {DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"},
		"dhe768-prefer-ecdhe": {DH: "dh768", Ciphers: "kDHE:kECDHE", ServerPreference: true, MaxTLS: "1.2"},
	}
	for name, o := range servers {
		s := lab.StartOpenSSL(quietTB{b}, o)
		for _, client := range tlswire.Clients {
			b.Run(name+"/"+string(client), func(b *testing.B) {
				opts := Options{Client: client, HELO: "probe.test", Timeout: 20 * time.Second}
				for b.Loop() {
					if f := Addr(context.Background(), s.Addr, opts); f.Outcome != OK {
						b.Fatalf("probe: %+v", f)
					}
				}
			})
		}
	}
}
