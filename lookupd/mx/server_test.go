package mx

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// dnsServer is a small authoritative-and-recursive-looking DNS server on
// 127.0.0.1 (UDP and TCP on one port) for the tests: it answers from the
// records it was given, follows CNAMEs inside its data like a recursive
// resolver would, truncates UDP answers to the client's EDNS0 size (512
// without EDNS0), and has knobs to misbehave.
type dnsServer struct {
	addr string

	mu    sync.Mutex
	rrs   []dns.RR
	modes map[uint16]string // by qtype, 0 = every type: see the mode constants
	log   []dnsQuery
}

// Modes of misbehaviour.
const (
	modeServFail  = "servfail"  // answer SERVFAIL
	modeRefused   = "refused"   // answer REFUSED
	modeSilent    = "silent"    // never answer
	modeTruncate  = "truncate"  // UDP answers are empty with TC set
	modeNoChase   = "nochase"   // answers stop at the first CNAME (do not follow)
	modeWrongName = "wrongname" // the answer's question names another name
)

type dnsQuery struct {
	Net  string // "udp" or "tcp"
	Name string
	Type uint16
	RD   bool
	EDNS uint16 // announced UDP size, 0 without EDNS0
}

// startDNS starts a server with records in zone-file syntax (one RR a string).
func startDNS(t *testing.T, zone ...string) *dnsServer {
	t.Helper()
	s := &dnsServer{modes: map[uint16]string{}}
	for _, z := range zone {
		rr, err := dns.NewRR(z)
		if err != nil {
			t.Fatalf("record %q: %v", z, err)
		}
		s.rrs = append(s.rrs, rr)
	}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatal(err)
		}
	}
	s.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

func (s *dnsServer) setMode(qtype uint16, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[qtype] = mode
}

func (s *dnsServer) queries() []dnsQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dnsQuery(nil), s.log...)
}

func (s *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	size := uint16(dns.MinMsgSize)
	var edns uint16
	if opt := req.IsEdns0(); opt != nil {
		edns = opt.UDPSize()
		size = max(size, edns)
	}
	s.mu.Lock()
	s.log = append(s.log, dnsQuery{network, strings.ToLower(q.Name), q.Qtype, req.RecursionDesired, edns})
	mode := s.modes[q.Qtype]
	if mode == "" {
		mode = s.modes[0]
	}
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if edns != 0 {
		m.SetEdns0(size, false)
	}
	switch {
	case mode == modeSilent:
		return
	case mode == modeServFail:
		m.Rcode = dns.RcodeServerFailure
	case mode == modeRefused:
		m.Rcode = dns.RcodeRefused
	case mode == modeTruncate && network == "udp":
		m.Truncated = true
	case mode == modeWrongName:
		m.Question[0].Name = "other.example."
	default:
		s.answer(m, q, mode != modeNoChase)
	}
	if network == "udp" {
		m.Truncate(int(size))
	}
	w.WriteMsg(m)
}

// answer fills m from the records: the chain of CNAMEs from q.Name (all of
// it when chase, else the first link), then the records asked for, or
// NXDOMAIN/NODATA with the closest SOA.
func (s *dnsServer) answer(m *dns.Msg, q dns.Question, chase bool) {
	name := q.Name
	for range 16 {
		if rrs := s.find(name, q.Qtype); len(rrs) > 0 {
			m.Answer = append(m.Answer, rrs...)
			return
		}
		cn := s.find(name, dns.TypeCNAME)
		if len(cn) == 0 || q.Qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, cn[0])
		name = cn[0].(*dns.CNAME).Target
		if !chase {
			return
		}
	}
	if !s.exists(name) {
		m.Rcode = dns.RcodeNameError
	}
	if soa := s.soa(name); soa != nil {
		m.Ns = append(m.Ns, soa)
	}
}

func (s *dnsServer) find(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range s.rrs {
		if rr.Header().Rrtype == t && strings.EqualFold(rr.Header().Name, name) {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

func (s *dnsServer) exists(name string) bool {
	for _, rr := range s.rrs {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// soa returns the SOA whose owner is the longest suffix of name.
func (s *dnsServer) soa(name string) dns.RR {
	var best dns.RR
	for _, rr := range s.rrs {
		if rr.Header().Rrtype == dns.TypeSOA && dns.IsSubDomain(rr.Header().Name, name) &&
			(best == nil || dns.CountLabel(rr.Header().Name) > dns.CountLabel(best.Header().Name)) {
			best = rr
		}
	}
	if best == nil {
		return nil
	}
	return dns.Copy(best)
}

func (q dnsQuery) String() string {
	return fmt.Sprintf("%s %s %s", q.Net, q.Name, dns.TypeToString[q.Type])
}
