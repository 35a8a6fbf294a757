package lab

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// StartDNS starts an authoritative DNS server on 127.0.0.1 (UDP and TCP on
// the same port) and returns "127.0.0.1:port". It serves records given in
// zone-file syntax, one per string, with absolute names ("mx.test. 300 IN A
// 127.0.0.1"; a name without a trailing dot is taken as absolute too):
//   - records of the asked type are answered; a CNAME is answered and followed
//     within the served data (up to 8 steps);
//   - a name with records of other types only, or an empty non-terminal
//     (an ancestor of a served name), gets NOERROR/NODATA;
//   - other names get NXDOMAIN;
//   - negative answers carry an SOA in the authority section: the served SOA
//     with the longest matching owner, else "<last label>. 300 IN SOA
//     ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 300";
//   - directive "SERVFAIL name" answers SERVFAIL for name, "TIMEOUT name"
//     never answers for it (also when reached through a CNAME).
//
// UDP answers larger than 512 bytes (or the client's EDNS0 size) are
// truncated (TC set), so clients must retry over TCP. Empty strings and
// comments (";") are ignored; a bad record fails the test.
func StartDNS(t testing.TB, records ...string) string {
	t.Helper()
	return StartDNSServer(t, records...).Addr
}

// DNSMode is how a DNSServer answers every query.
type DNSMode int32

const (
	DNSAnswer   DNSMode = iota // from its records, as StartDNS describes
	DNSServfail                // SERVFAIL to every query
	DNSSilent                  // no reply at all (a timeout)
)

// String returns "answer", "servfail" or "silent".
func (m DNSMode) String() string {
	switch m {
	case DNSAnswer:
		return "answer"
	case DNSServfail:
		return "servfail"
	case DNSSilent:
		return "silent"
	}
	return fmt.Sprintf("DNSMode(%d)", int32(m))
}

// DNSServer is a running StartDNSServer: its address, and switches for
// tests of a flapping or changing DNS.
type DNSServer struct {
	Addr string // "127.0.0.1:port", UDP and TCP
	h    *dnsHandler
}

// SetMode switches how the server answers from the next query on.
func (s *DNSServer) SetMode(m DNSMode) { s.h.mode.Store(int32(m)) }

// SetRecords replaces the served records (the syntax of StartDNS) from the
// next query on; a bad record fails the test and changes nothing.
func (s *DNSServer) SetRecords(t testing.TB, records ...string) {
	t.Helper()
	z, err := newZone(records)
	if err != nil {
		t.Fatalf("set dns records: %v", err)
	}
	s.h.zone.Store(z)
}

// dnsHandler serves the current zone in the current mode.
type dnsHandler struct {
	zone atomic.Pointer[zone]
	mode atomic.Int32
}

func (h *dnsHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	switch DNSMode(h.mode.Load()) {
	case DNSSilent:
		return
	case DNSServfail:
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	h.zone.Load().ServeDNS(w, r)
}

// StartDNSServer is StartDNS returning the server, whose answers a test
// can then switch (SetMode) or change (SetRecords).
func StartDNSServer(t testing.TB, records ...string) *DNSServer {
	t.Helper()
	z, err := newZone(records)
	if err != nil {
		t.Fatalf("start dns: %v", err)
	}
	h := &dnsHandler{}
	h.zone.Store(z)
	pc, ln, err := listenUDPTCP()
	if err != nil {
		t.Fatalf("start dns: %v", err)
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h},
		{Listener: ln, Handler: h},
	}
	for _, s := range servers {
		started := make(chan struct{})
		failed := make(chan error, 1)
		s.NotifyStartedFunc = func() { close(started) }
		go func() { failed <- s.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-failed:
			t.Fatalf("start dns: %v", err)
		}
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return &DNSServer{Addr: pc.LocalAddr().String(), h: h}
}

// listenUDPTCP binds UDP on 127.0.0.1:0 and TCP on the same port.
func listenUDPTCP() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		var ln net.Listener
		ln, err = net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", err)
}

// zone is the served data; it is read-only once built.
type zone struct {
	names    map[string][]dns.RR // owner (canonical) -> records
	exists   map[string]bool     // owners and their ancestors
	soas     []*dns.SOA
	servfail map[string]bool
	timeout  map[string]bool
}

func newZone(lines []string) (*zone, error) {
	z := &zone{
		names: map[string][]dns.RR{}, exists: map[string]bool{},
		servfail: map[string]bool{}, timeout: map[string]bool{},
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "SERVFAIL" || f[0] == "TIMEOUT") {
			name := dns.CanonicalName(f[1])
			if f[0] == "SERVFAIL" {
				z.servfail[name] = true
			} else {
				z.timeout[name] = true
			}
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			return nil, fmt.Errorf("parse record %q: %w", line, err)
		}
		if rr == nil { // blank or comment
			continue
		}
		name := dns.CanonicalName(rr.Header().Name)
		z.names[name] = append(z.names[name], rr)
		for i, end := 0, false; !end; i, end = dns.NextLabel(name, i) {
			z.exists[name[i:]] = true
		}
		if soa, ok := rr.(*dns.SOA); ok {
			z.soas = append(z.soas, soa)
		}
	}
	return z, nil
}

// maxChase bounds CNAME following.
const maxChase = 8

func (z *zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	if len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	q := r.Question[0]
	name := dns.CanonicalName(q.Name)
	for step := 0; ; step++ {
		if z.timeout[name] {
			return // no reply at all
		}
		if z.servfail[name] {
			m.Answer = nil
			m.Rcode = dns.RcodeServerFailure
			break
		}
		rrs := z.names[name]
		var match []dns.RR
		var cname *dns.CNAME
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				match = append(match, dns.Copy(rr))
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if len(match) > 0 {
			m.Answer = append(m.Answer, match...)
			break
		}
		if cname != nil && step < maxChase {
			m.Answer = append(m.Answer, dns.Copy(cname))
			name = dns.CanonicalName(cname.Target)
			continue
		}
		if !z.exists[name] {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = []dns.RR{z.soaFor(name)}
		break
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(1232, false)
	}
	if w.LocalAddr().Network() == "udp" {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// soaFor returns the SOA for a negative answer about name.
func (z *zone) soaFor(name string) dns.RR {
	var best *dns.SOA
	for _, s := range z.soas {
		owner := dns.CanonicalName(s.Hdr.Name)
		if dns.IsSubDomain(owner, name) && (best == nil || dns.CountLabel(owner) > dns.CountLabel(best.Hdr.Name)) {
			best = s
		}
	}
	if best != nil {
		return dns.Copy(best)
	}
	labels := dns.SplitDomainName(name)
	owner := "."
	if len(labels) > 0 {
		owner = labels[len(labels)-1] + "."
	}
	rr, _ := dns.NewRR(owner + " 300 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 300")
	return rr
}
