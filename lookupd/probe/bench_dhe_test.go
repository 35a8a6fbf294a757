package probe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// BenchmarkProbeDHE is the client CPU of one probe, one at a time, of a
// TLS 1.2 DHE-only server (the OpenSSL fixture, with a 768- and a
// 2048-bit prime): crypto/tls's refused hello, then the modelled hello,
// whose handshake the probe completes (ClientKeyExchange, Finished, EHLO
// and QUIT inside TLS). "ordered" is the probe given the order its earlier
// facts choose (Options.Order): the modelled hello alone. Reported:
// cpu-ms/op (user+sys of this process, getrusage) and wall-ms/op.
func BenchmarkProbeDHE(b *testing.B) {
	lab.Require(b, "gcc")
	q := quietTB{b}
	for _, s := range []struct {
		name string
		dh   string
	}{{"dhe768", "dh768"}, {"dhe2048", "dh2048"}} {
		addr := lab.StartOpenSSL(q, lab.OpenSSLOptions{DH: s.dh, Ciphers: "kDHE", MaxTLS: "1.2"}).Addr
		for _, v := range []struct {
			name string
			o    Options
		}{
			{"ordinary", Options{HELO: "bench.test", Timeout: 20 * time.Second}},
			{"ordered", Options{HELO: "bench.test", Timeout: 20 * time.Second, Order: OrderModelledDHE}}, // ORDERED
		} {
			b.Run(s.name+"-"+v.name, func(b *testing.B) { probeCost(b, addr, v.o) })
		}
	}
}

func probeCost(b *testing.B, addr netip.AddrPort, o Options) {
	c0, t0 := selfCPU(), time.Now()
	for range b.N {
		if f := Addr(context.Background(), addr, o); f.Outcome != OK || f.DHBits == 0 {
			b.Fatalf("facts %+v", f)
		}
	}
	cpu := selfCPU().sub(c0).total()
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/float64(b.N), "wall-ms/op")
}
