package lab

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// MXHost is one MX host of an MXLab: a name and the server behind it,
// either the OpenSSL fixture or Exim (set exactly one of the two).
type MXHost struct {
	Name    string
	OpenSSL *OpenSSLOptions
	Exim    *EximOptions
}

// MXLab is a set of real SMTP servers, each on its own loopback address
// (127.0.0.2, 127.0.0.3, ...) and all on one port, as MX hosts on port 25
// are, and a DNS server with an A record for each host name.
type MXLab struct {
	Port  int               // the SMTP port of every host (probe.port)
	DNS   string            // "127.0.0.1:port" of the DNS server
	Addrs map[string]string // host name -> its address
}

// StartMXLab starts the servers of hosts and a DNS server that serves
// their A records and the extra zone lines (MX records of the test
// domains, say). Everything is stopped by t.Cleanup.
func StartMXLab(t testing.TB, hosts []MXHost, zone ...string) *MXLab {
	t.Helper()
	if len(hosts) > 250 {
		t.Fatalf("lab: %d hosts, at most 250", len(hosts))
	}
	ln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("lab: pick a port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	l := &MXLab{Port: port, Addrs: map[string]string{}}
	for i, h := range hosts {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 2)})
		listen := netip.AddrPortFrom(ip, uint16(port)).String()
		switch {
		case h.OpenSSL != nil && h.Exim == nil:
			o := *h.OpenSSL
			o.Listen = listen
			StartOpenSSL(t, o)
		case h.Exim != nil && h.OpenSSL == nil:
			o := *h.Exim
			o.Listen = listen
			StartExim(t, o)
		default:
			t.Fatalf("lab: host %s: set exactly one of OpenSSL and Exim", h.Name)
		}
		l.Addrs[h.Name] = ip.String()
		zone = append(zone, fmt.Sprintf("%s. 60 IN A %s", h.Name, ip))
	}
	l.DNS = StartDNS(t, zone...)
	return l
}
