package mx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// soa: negative answers under example. live min(3600, 300) = 300 s.
const soa = "example. 3600 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 300"

func resolver(servers ...*dnsServer) *Resolver {
	r := &Resolver{Timeout: 2 * time.Second}
	for _, s := range servers {
		r.Servers = append(r.Servers, s.addr)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func lookupMX(t *testing.T, r *Resolver, domain string) Set {
	t.Helper()
	set, err := r.LookupMX(ctx(t), domain)
	if err != nil {
		t.Fatalf("LookupMX(%q): %v", domain, err)
	}
	return set
}

func TestLookupMXSorted(t *testing.T) {
	s := startDNS(t, soa,
		"example. 600 IN MX 20 mx2.example.",
		"example. 900 IN MX 10 MX1.Example.",
		"example. 900 IN MX 10 mx0.example.",
		"example. 900 IN MX 30 mx1.example.", // same host again, worse preference
		"other.example. 60 IN MX 1 not-asked.example.",
	)
	set := lookupMX(t, resolver(s), "Example.")
	want := Set{Domain: "example", TTL: 10 * time.Minute, Hosts: []Host{
		{"mx0.example", 10}, {"mx1.example", 10}, {"mx2.example", 20},
	}}
	if !reflect.DeepEqual(set, want) {
		t.Fatalf("got %+v\nwant %+v", set, want)
	}
	q := s.queries()
	if len(q) != 1 || q[0] != (dnsQuery{"udp", "example.", dns.TypeMX, true, EDNSBufferSize}) {
		t.Errorf("queries %+v: want one UDP MX query with RD and EDNS0 %d", q, EDNSBufferSize)
	}
}

func TestLookupMXImplicit(t *testing.T) {
	s := startDNS(t, soa,
		"v4.example. 900 IN A 192.0.2.1",
		"v6.example. 900 IN AAAA 2001:db8::1",
		"none.example. 900 IN TXT \"no address here\"",
	)
	for _, d := range []string{"v4.example", "v6.example"} {
		set := lookupMX(t, resolver(s), d)
		// TTL: the MX NODATA (300 s) is the shortest part of the answer.
		want := Set{Domain: d, Implicit: true, Hosts: []Host{{d, 0}}, TTL: 5 * time.Minute}
		if !reflect.DeepEqual(set, want) {
			t.Errorf("%s: got %+v, want %+v", d, set, want)
		}
	}
	set := lookupMX(t, resolver(s), "none.example")
	if want := (Set{Domain: "none.example", TTL: 5 * time.Minute}); !reflect.DeepEqual(set, want) {
		t.Errorf("no address: got %+v, want %+v", set, want)
	}
}

func TestLookupMXNull(t *testing.T) {
	s := startDNS(t, soa,
		"null.example. 900 IN MX 0 .",
		"mixed.example. 900 IN MX 0 .",
		"mixed.example. 900 IN MX 10 mx.mixed.example.",
	)
	set := lookupMX(t, resolver(s), "null.example")
	if want := (Set{Domain: "null.example", Null: true, TTL: 15 * time.Minute}); !reflect.DeepEqual(set, want) {
		t.Errorf("null MX: got %+v, want %+v", set, want)
	}
	set = lookupMX(t, resolver(s), "mixed.example")
	if set.Null || !reflect.DeepEqual(set.Hosts, []Host{{"mx.mixed.example", 10}}) {
		t.Errorf("null MX beside a real one: got %+v", set)
	}
}

func TestLookupMXNXDomain(t *testing.T) {
	s := startDNS(t, soa, "example. 900 IN MX 10 mx.example.")
	set := lookupMX(t, resolver(s), "nothing.example")
	if want := (Set{Domain: "nothing.example", NXDomain: true, TTL: 5 * time.Minute}); !reflect.DeepEqual(set, want) {
		t.Errorf("got %+v, want %+v", set, want)
	}
	// Without a SOA the negative answer gets the shortest TTL.
	bare := startDNS(t)
	set = lookupMX(t, resolver(bare), "nothing.example")
	if !set.NXDomain || set.TTL != DefaultMinTTL {
		t.Errorf("without SOA: got %+v", set)
	}
}

func TestLookupMXFailover(t *testing.T) {
	good := startDNS(t, soa, "example. 900 IN MX 10 mx.example.")
	want := []Host{{"mx.example", 10}}
	for _, mode := range []string{modeServFail, modeRefused, modeSilent, modeWrongName} {
		t.Run(mode, func(t *testing.T) {
			bad := startDNS(t)
			bad.setMode(0, mode)
			r := resolver(bad, good)
			r.Timeout = 300 * time.Millisecond
			set := lookupMX(t, r, "example")
			if !reflect.DeepEqual(set.Hosts, want) {
				t.Errorf("got %+v", set)
			}
			if len(bad.queries()) != 1 {
				t.Errorf("first server asked %d times, want 1", len(bad.queries()))
			}
		})
	}
}

func TestLookupMXServFail(t *testing.T) {
	a, b := startDNS(t), startDNS(t)
	a.setMode(0, modeServFail)
	b.setMode(0, modeSilent)
	r := resolver(a, b)
	r.Timeout = 200 * time.Millisecond
	_, err := r.LookupMX(ctx(t), "example")
	if !errors.Is(err, ErrServFail) {
		t.Fatalf("err = %v, want ErrServFail", err)
	}
	if want := "look up MX for example: server failure"; err.Error()[:len(want)] != want {
		t.Errorf("message %q", err)
	}
}

func TestLookupMXTimeout(t *testing.T) {
	a, b := startDNS(t), startDNS(t)
	a.setMode(0, modeSilent)
	b.setMode(0, modeSilent)
	r := resolver(a, b)
	r.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, err := r.LookupMX(ctx(t), "example")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 2*r.Timeout+2*time.Second {
		t.Errorf("took %v", el)
	}

	// The caller's deadline bounds the lookup too, below the per-query timeout.
	r.Timeout = time.Minute
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = r.LookupMX(c, "example")
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx deadline: err = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 200*time.Millisecond+2*time.Second {
		t.Errorf("ctx deadline: took %v", el)
	}

	// Cancelling stops at once and says so.
	c, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = r.LookupMX(c, "example")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: err = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cancel: took %v", el)
	}
}

func TestLookupMXCNAME(t *testing.T) {
	zone := []string{soa,
		"alias.example. 120 IN CNAME alias2.example.",
		"alias2.example. 900 IN CNAME real.example.",
		"real.example. 900 IN MX 10 mx.real.example.",
		"dangling.example. 900 IN CNAME gone.example.",
		"loop1.example. 900 IN CNAME loop2.example.",
		"loop2.example. 900 IN CNAME loop1.example.",
		"implicit.example. 900 IN CNAME host.example.",
		"host.example. 900 IN A 192.0.2.7",
	}
	for _, mode := range []string{"", modeNoChase} {
		t.Run("mode="+mode, func(t *testing.T) {
			s := startDNS(t, zone...)
			s.setMode(0, mode)
			r := resolver(s)
			set := lookupMX(t, r, "alias.example")
			want := Set{Domain: "alias.example", Hosts: []Host{{"mx.real.example", 10}}, TTL: 2 * time.Minute}
			if !reflect.DeepEqual(set, want) {
				t.Errorf("got %+v, want %+v", set, want)
			}
			if n := len(s.queries()); mode == modeNoChase && n != 3 || mode == "" && n != 1 {
				t.Errorf("%d queries: %v", n, s.queries())
			}

			set = lookupMX(t, r, "dangling.example")
			if !set.NXDomain {
				t.Errorf("CNAME to nowhere: got %+v", set)
			}
			set = lookupMX(t, r, "implicit.example")
			if !set.Implicit || !reflect.DeepEqual(set.Hosts, []Host{{"implicit.example", 0}}) {
				t.Errorf("CNAME'd implicit MX: got %+v", set)
			}
			if _, err := r.LookupMX(ctx(t), "loop1.example"); err == nil {
				t.Error("CNAME loop: no error")
			}
		})
	}
}

func TestLookupMXTruncatedGoesTCP(t *testing.T) {
	zone := []string{soa}
	for i := range 100 { // about 3 kB: more than the 1232-octet EDNS0 buffer
		zone = append(zone, fmt.Sprintf("big.example. 900 IN MX %d mx%03d.some-long-provider-name.example.", i, i))
	}
	for i := range 40 { // about 1 kB: more than 512, less than 1232
		zone = append(zone, fmt.Sprintf("mid.example. 900 IN MX %d mx%02d.provider.example.", i, i))
	}
	s := startDNS(t, zone...)
	r := resolver(s)
	if set := lookupMX(t, r, "big.example"); len(set.Hosts) != 100 || set.Hosts[99].Name != "mx099.some-long-provider-name.example" {
		t.Fatalf("got %d hosts", len(set.Hosts))
	}
	q := s.queries()
	if len(q) != 2 || q[0].Net != "udp" || q[1].Net != "tcp" {
		t.Errorf("queries %v: want UDP then TCP", q)
	}
	if set := lookupMX(t, r, "mid.example"); len(set.Hosts) != 40 {
		t.Fatalf("mid: got %d hosts", len(set.Hosts))
	}
	if q := s.queries()[2:]; len(q) != 1 || q[0].Net != "udp" {
		t.Errorf("mid queries %v: EDNS0 should make UDP enough", q)
	}

	// A server that truncates everything over UDP.
	tr := startDNS(t, soa, "example. 900 IN MX 10 mx.example.")
	tr.setMode(0, modeTruncate)
	if set := lookupMX(t, resolver(tr), "example"); len(set.Hosts) != 1 {
		t.Errorf("truncate mode: got %+v", set)
	}
}

func TestLookupMXTTLClamp(t *testing.T) {
	s := startDNS(t, soa,
		"short.example. 5 IN MX 10 mx.example.",
		"long.example. 86400 IN MX 10 mx.example.",
	)
	r := resolver(s)
	if set := lookupMX(t, r, "short.example"); set.TTL != DefaultMinTTL {
		t.Errorf("short: TTL %v, want %v", set.TTL, DefaultMinTTL)
	}
	if set := lookupMX(t, r, "long.example"); set.TTL != DefaultMaxTTL {
		t.Errorf("long: TTL %v, want %v", set.TTL, DefaultMaxTTL)
	}
	r.MinTTL, r.MaxTTL = time.Second, 2*time.Hour
	if set := lookupMX(t, r, "short.example"); set.TTL != 5*time.Second {
		t.Errorf("short, MinTTL 1s: TTL %v", set.TTL)
	}
	if set := lookupMX(t, r, "long.example"); set.TTL != 2*time.Hour {
		t.Errorf("long, MaxTTL 2h: TTL %v", set.TTL)
	}
}

func TestLookupMXIDN(t *testing.T) {
	s := startDNS(t, soa, "xn--bcher-kva.example. 900 IN MX 10 mx.xn--bcher-kva.example.")
	set := lookupMX(t, resolver(s), "postmaster@Bücher.Example.")
	want := Set{Domain: "xn--bcher-kva.example", Hosts: []Host{{"mx.xn--bcher-kva.example", 10}}, TTL: 15 * time.Minute}
	if !reflect.DeepEqual(set, want) {
		t.Errorf("got %+v, want %+v", set, want)
	}
}

func TestLookupMXBadDomain(t *testing.T) {
	s := startDNS(t)
	_, err := resolver(s).LookupMX(ctx(t), "a..b")
	if !errors.Is(err, ErrBadDomain) {
		t.Errorf("err = %v, want ErrBadDomain", err)
	}
	if len(s.queries()) != 0 {
		t.Errorf("bad domain was asked: %v", s.queries())
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestLookupAddrs(t *testing.T) {
	zone := []string{soa,
		"mx.example. 300 IN CNAME host.example.",
		"host.example. 900 IN AAAA 2001:db8::1",
		"host.example. 900 IN A 192.0.2.1",
		"host.example. 900 IN A 192.0.2.2",
		"mapped.example. 900 IN A 192.0.2.9",
		"mapped.example. 900 IN AAAA ::ffff:192.0.2.9",
		"mapped.example. 900 IN AAAA ::ffff:127.0.0.1",
		"v6only.example. 900 IN AAAA 2001:db8::6",
	}
	for _, mode := range []string{"", modeNoChase} {
		t.Run("mode="+mode, func(t *testing.T) {
			s := startDNS(t, zone...)
			s.setMode(0, mode)
			r := resolver(s)
			got, ttl, err := r.LookupAddrs(ctx(t), "MX.example.")
			if err != nil {
				t.Fatal(err)
			}
			// IPv6 first, as Exim tries them.
			if want := addrs("2001:db8::1", "192.0.2.1", "192.0.2.2"); !reflect.DeepEqual(got, want) || ttl != 5*time.Minute {
				t.Errorf("got %v, %v; want %v, 5m", got, ttl, want)
			}
			var types []uint16
			for _, q := range s.queries() {
				types = append(types, q.Type)
			}
			if !slices.Contains(types, dns.TypeA) || !slices.Contains(types, dns.TypeAAAA) {
				t.Errorf("queries %v: want A and AAAA", s.queries())
			}

			got, _, err = r.LookupAddrs(ctx(t), "mapped.example")
			if want := addrs("192.0.2.9", "127.0.0.1"); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("mapped: got %v, %v; want %v", got, err, want)
			}
			got, _, err = r.LookupAddrs(ctx(t), "v6only.example")
			if want := addrs("2001:db8::6"); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("v6 only: got %v, %v; want %v", got, err, want)
			}
			got, ttl, err = r.LookupAddrs(ctx(t), "nothing.example")
			if err != nil || len(got) != 0 || ttl != 5*time.Minute {
				t.Errorf("NXDOMAIN: got %v, %v, %v; want none, 5m, nil", got, ttl, err)
			}
		})
	}
}

func TestLookupAddrsPartialFailure(t *testing.T) {
	s := startDNS(t, soa, "host.example. 900 IN A 192.0.2.1", "host.example. 900 IN AAAA 2001:db8::1")
	s.setMode(dns.TypeAAAA, modeServFail)
	r := resolver(s)
	got, ttl, err := r.LookupAddrs(ctx(t), "host.example")
	if want := addrs("192.0.2.1"); err != nil || !reflect.DeepEqual(got, want) || ttl != DefaultMinTTL {
		t.Errorf("AAAA failing: got %v, %v, %v; want %v, %v, nil", got, ttl, err, want, DefaultMinTTL)
	}
	s.setMode(dns.TypeA, modeServFail)
	if got, _, err := r.LookupAddrs(ctx(t), "host.example"); !errors.Is(err, ErrServFail) || got != nil {
		t.Errorf("both failing: got %v, %v; want ErrServFail", got, err)
	}
	// One side fails, the other has nothing: the failure counts.
	v4 := startDNS(t, soa, "host.example. 900 IN AAAA 2001:db8::1")
	v4.setMode(dns.TypeAAAA, modeServFail)
	if _, _, err := resolver(v4).LookupAddrs(ctx(t), "host.example"); !errors.Is(err, ErrServFail) {
		t.Errorf("A empty, AAAA failing: err = %v, want ErrServFail", err)
	}
}
