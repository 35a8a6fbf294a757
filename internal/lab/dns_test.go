package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var labZone = []string{
	"; a comment and an empty line are ignored",
	"",
	"example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 7 3600 600 86400 120",
	"example.test. 600 IN MX 10 mx1.example.test.",
	"example.test. 600 IN MX 20 mx2.example.test.",
	"mx1.example.test. 60 IN A 127.0.0.1",
	"mx1.example.test. 60 IN AAAA ::1",
	"Mixed.Example.Test. IN A 127.0.0.2",
	"mx2.example.test. 60 IN CNAME real.example.test.",
	"real.example.test. 60 IN A 127.0.0.3",
	"dangling.example.test. 60 IN CNAME nowhere.example.test.",
	"null.test. 60 IN MX 0 .",
	"deep.sub.other.test. 60 IN A 127.0.0.4",
	"SERVFAIL broken.test",
	"TIMEOUT slow.test",
	"via.test. 60 IN CNAME slow.test.",
}

func query(t *testing.T, addr, network, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: timeout}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func rrStrings(rrs []dns.RR) []string {
	var s []string
	for _, rr := range rrs {
		s = append(s, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return s
}

func TestStartDNS(t *testing.T) {
	addr := StartDNS(t, labZone...)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q", addr)
	}
	soa := "example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 7 3600 600 86400 120"
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string // authority section; nil = want none
	}{
		{"example.test", dns.TypeMX, dns.RcodeSuccess, []string{
			"example.test. 600 IN MX 10 mx1.example.test.", "example.test. 600 IN MX 20 mx2.example.test."}, nil},
		{"MX1.example.test", dns.TypeA, dns.RcodeSuccess, []string{"mx1.example.test. 60 IN A 127.0.0.1"}, nil},
		{"mx1.example.test", dns.TypeAAAA, dns.RcodeSuccess, []string{"mx1.example.test. 60 IN AAAA ::1"}, nil},
		{"mixed.example.test", dns.TypeA, dns.RcodeSuccess, []string{"Mixed.Example.Test. 3600 IN A 127.0.0.2"}, nil},
		{"mx2.example.test", dns.TypeA, dns.RcodeSuccess, []string{
			"mx2.example.test. 60 IN CNAME real.example.test.", "real.example.test. 60 IN A 127.0.0.3"}, nil},
		{"mx2.example.test", dns.TypeCNAME, dns.RcodeSuccess, []string{"mx2.example.test. 60 IN CNAME real.example.test."}, nil},
		{"dangling.example.test", dns.TypeA, dns.RcodeNameError, []string{
			"dangling.example.test. 60 IN CNAME nowhere.example.test."}, []string{soa}},
		{"mx1.example.test", dns.TypeMX, dns.RcodeSuccess, nil, []string{soa}},       // NODATA
		{"nothere.example.test", dns.TypeMX, dns.RcodeNameError, nil, []string{soa}}, // NXDOMAIN
		{"sub.other.test", dns.TypeA, dns.RcodeSuccess, nil, []string{ // empty non-terminal, synthesized SOA
			"test. 300 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 300"}},
		{"nothere.invalid", dns.TypeA, dns.RcodeNameError, nil, []string{
			"invalid. 300 IN SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 300"}},
		{"null.test", dns.TypeMX, dns.RcodeSuccess, []string{"null.test. 60 IN MX 0 ."}, nil},
		{"broken.test", dns.TypeMX, dns.RcodeServerFailure, nil, nil},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(fmt.Sprintf("%s/%s/%s", network, tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
				r, err := query(t, addr, network, tc.name, tc.qtype, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tc.rcode || !r.Authoritative {
					t.Errorf("rcode %s aa=%v, want %s aa=true", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.rcode])
				}
				if got := rrStrings(r.Answer); !slices.Equal(got, tc.answer) {
					t.Errorf("answer %q, want %q", got, tc.answer)
				}
				if got := rrStrings(r.Ns); !slices.Equal(got, tc.ns) {
					t.Errorf("authority %q, want %q", got, tc.ns)
				}
			})
		}
	}
	for _, name := range []string{"slow.test", "via.test"} {
		for _, network := range []string{"udp", "tcp"} {
			if r, err := query(t, addr, network, name, dns.TypeA, 300*time.Millisecond); err == nil {
				t.Errorf("%s %s: answered %v, want no reply", network, name, r)
			}
		}
	}
}

// TestStartDNSTruncation: a big answer is truncated over plain UDP, whole
// over UDP with a large EDNS0 size and over TCP.
func TestStartDNSTruncation(t *testing.T) {
	var records []string
	for i := range 40 {
		records = append(records, fmt.Sprintf("big.test. 60 IN MX %d mx%02d.a-rather-long-name-for-the-mail-exchanger.test.", i, i))
	}
	addr := StartDNS(t, records...)
	ednsQuery := new(dns.Msg)
	ednsQuery.SetQuestion("big.test.", dns.TypeMX)
	ednsQuery.SetEdns0(4096, false)
	for _, tc := range []struct {
		name      string
		query     *dns.Msg
		network   string
		truncated bool
	}{
		{"udp", nil, "udp", true},
		{"udp edns0 4096", ednsQuery, "udp", false},
		{"tcp", nil, "tcp", false},
	} {
		q := tc.query
		if q == nil {
			q = new(dns.Msg)
			q.SetQuestion("big.test.", dns.TypeMX)
		}
		r, _, err := (&dns.Client{Net: tc.network, Timeout: 5 * time.Second}).Exchange(q, addr)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r.Truncated != tc.truncated || (len(r.Answer) == 40) == tc.truncated {
			t.Errorf("%s: truncated=%v with %d answers, want truncated=%v", tc.name, r.Truncated, len(r.Answer), tc.truncated)
		}
		if (tc.query != nil) != (r.IsEdns0() != nil) {
			t.Errorf("%s: OPT record in reply = %v", tc.name, r.IsEdns0() != nil)
		}
	}
}

// TestStartDNSGoResolver checks the server with an independent client: Go's resolver.
func TestStartDNSGoResolver(t *testing.T) {
	addr := StartDNS(t, labZone...)
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mxs, err := res.LookupMX(ctx, "example.test")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.example.test." || mxs[1].Pref != 20 {
		t.Errorf("LookupMX = %v, %v", mxs, err)
	}
	if _, err := res.LookupMX(ctx, "nothere.example.test"); !isNotFound(err) {
		t.Errorf("LookupMX(nothere) error %v, want not found", err)
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return err != nil && errors.As(err, &de) && de.IsNotFound
}

func TestStartDNSBadRecord(t *testing.T) {
	if _, err := newZone([]string{"example.test. IN MX nonsense"}); err == nil {
		t.Error("newZone accepted a bad record")
	}
}

// TestDNSServerModesAndRecords: a running server switches between
// answering, SERVFAIL and silence, over UDP and TCP, and takes new records.
func TestDNSServerModesAndRecords(t *testing.T) {
	s := StartDNSServer(t, "flap.test. 60 IN A 127.0.0.7")
	for _, network := range []string{"udp", "tcp"} {
		ask := func() (*dns.Msg, error) {
			return query(t, s.Addr, network, "flap.test", dns.TypeA, 300*time.Millisecond)
		}
		s.SetMode(DNSAnswer)
		if r, err := ask(); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s answer mode: %v, %v", network, r, err)
		}
		s.SetMode(DNSServfail)
		if r, err := ask(); err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s servfail mode: %v, %v", network, r, err)
		}
		s.SetMode(DNSSilent)
		if r, err := ask(); err == nil {
			t.Fatalf("%s silent mode answered %v", network, r)
		}
		s.SetMode(DNSAnswer)
		s.SetRecords(t, "flap.test. 60 IN A 127.0.0.8")
		r, err := ask()
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.8" {
			t.Fatalf("%s after SetRecords: %v, %v", network, r, err)
		}
		s.SetRecords(t, "flap.test. 60 IN A 127.0.0.7")
	}
	if got := fmt.Sprint(DNSAnswer, DNSServfail, DNSSilent); got != "answer servfail silent" {
		t.Errorf("modes print as %q", got)
	}
}
