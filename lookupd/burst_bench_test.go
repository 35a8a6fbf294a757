package lookupd

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket/sockettest"
)

// tlsServer is a minimal SMTP server with STARTTLS and real TLS (Go's
// crypto/tls: TLS 1.2 with ECDHE for the probe's capped hello), for load
// figures with many addresses; it counts connections.
type tlsServer struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
}

func startTLSServer(tb testing.TB, addr string, cert tls.Certificate) (*tlsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &tlsServer{ln: ln}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(c)
				io.WriteString(c, "220 burst.test ESMTP\r\n")
				r.ReadString('\n')
				io.WriteString(c, "250-burst.test\r\n250 STARTTLS\r\n")
				r.ReadString('\n')
				io.WriteString(c, "220 2.0.0 go ahead\r\n")
				tls.Server(c, cfg).Handshake() // the probe leaves after the server's flight
			})
		}
	})
	tb.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s, nil
}

// burstLab is BenchmarkColdBurst's set-up: addrs TLS servers on
// 127.0.1.1-addrs (one in ten with an RSA-1024 certificate), domains
// domains each with its own MX name on them, a DNS server, and a config
// aimed at them.
type burstLab struct {
	servers     []*tlsServer
	names, want []string
	cfg         config.Config
}

func startBurstLab(tb testing.TB, domains, addrs int) *burstLab {
	lab.Require(tb)
	strong, err := tls.LoadX509KeyPair(lab.Testdata(tb, "certs/rsa2048.crt"), lab.Testdata(tb, "certs/rsa2048.key"))
	if err != nil {
		tb.Fatal(err)
	}
	small, err := tls.LoadX509KeyPair(lab.Testdata(tb, "certs/rsa1024.crt"), lab.Testdata(tb, "certs/rsa1024.key"))
	if err != nil {
		tb.Fatal(err)
	}
	var servers []*tlsServer
	var port int
	for try := 0; len(servers) < addrs; try++ {
		if try == 20 {
			tb.Fatal("no port free on 127.0.1.1-100")
		}
		for _, s := range servers {
			s.ln.Close()
		}
		servers = servers[:0]
		port = lab.FreePort(tb)
		for i := range addrs {
			cert := strong
			if i%10 == 0 {
				cert = small
			}
			s, err := startTLSServer(tb, fmt.Sprintf("127.0.1.%d:%d", i+1, port), cert)
			if err != nil {
				break
			}
			servers = append(servers, s)
		}
	}
	zone := make([]string, 0, 2*domains)
	want := make([]string, domains)
	names := make([]string, domains)
	for i := range domains {
		a := i % addrs
		zone = append(zone, fmt.Sprintf("c%d.burst.test. 3600 IN MX 10 mx%d.burst.test.", i, i),
			fmt.Sprintf("mx%d.burst.test. 3600 IN A 127.0.1.%d", i, a+1))
		names[i] = fmt.Sprintf("c%d.burst.test", i)
		if a%10 == 0 {
			want[i] = "smallkey"
		}
	}
	dns := lab.StartDNS(tb, zone...)
	cfg := config.Default()
	cfg.DNS.Servers = []string{dns}
	cfg.DNS.Timeout = config.Duration{Duration: 5 * time.Second}
	cfg.Probe.Port = port
	cfg.Probe.HELO = "relay.test"
	cfg.Probe.IgnoreNetworks = []string{"10.0.0.0/8"}
	cfg.Cache.Hosts, cfg.Cache.Domains = 2*domains, 2*domains
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return &burstLab{servers: servers, names: names, want: want, cfg: cfg}
}

// conns is the connections the servers have seen.
func (bl *burstLab) conns() int64 {
	n := int64(0)
	for _, s := range bl.servers {
		n += s.conns.Load()
	}
	return n
}

// BenchmarkColdBurst: 10,000 domains, each with its own MX name, over 100
// addresses (one in ten with an RSA-1024 certificate: smallkey), asked cold
// by 64 clients at once over the socket with answer.wait 2s; then the
// domains not yet answered right are asked again until all are. Reported:
// probes per burst (goal: exactly 100), the share answered right on the
// first ask, and the time until every domain answers right.
func BenchmarkColdBurst(b *testing.B) {
	const domains, addrs, clients = 10000, 100, 64
	bl := startBurstLab(b, domains, addrs)
	names, want, cfg := bl.names, bl.want, bl.cfg
	var probes, conns, firstRight int64
	var total time.Duration
	b.ResetTimer()
	for b.Loop() {
		before := bl.conns()
		s, err := NewService(&cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		path := sockettest.Start(b, &socket.Server{Handler: s, MaxConns: 2 * clients, Logger: slog.New(slog.DiscardHandler)})
		addr := &net.UnixAddr{Name: path, Net: "unix"}
		start := time.Now()
		pending := make([]int, domains)
		for i := range pending {
			pending[i] = i
		}
		first := true
		for len(pending) > 0 && time.Since(start) < 2*time.Minute {
			var mu sync.Mutex
			var wrong []int
			fanOut(clients, len(pending), func(j int, buf []byte) {
				i := pending[j]
				got, err := benchQuery(addr, []byte(names[i]), buf)
				if err != nil || string(got) != want[i] {
					mu.Lock()
					wrong = append(wrong, i)
					mu.Unlock()
				}
			})
			if first {
				firstRight += int64(domains - len(wrong))
				first = false
			}
			pending = wrong
		}
		total += time.Since(start)
		if len(pending) > 0 {
			b.Fatalf("%d domains still answered wrong after 2 minutes", len(pending))
		}
		s.Close(context.Background())
		probes += int64(s.Stats().Probes)
		conns += bl.conns() - before
	}
	n := float64(b.N)
	b.ReportMetric(float64(probes)/n, "probes/burst")
	b.ReportMetric(float64(conns)/n, "connections/burst")
	b.ReportMetric(float64(firstRight)/n/domains, "right-first-ask")
	b.ReportMetric(float64(total.Milliseconds())/n, "ms-until-all-right")
	b.ReportMetric(0, "ns/op")
}
