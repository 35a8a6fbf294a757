package mx

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// MaxCNAME bounds the CNAME links followed for one name.
const MaxCNAME = 8

// Host is one mail exchanger.
//
// The JSON names are written out: cache files and the fleet's Redis values
// hold them, and the fleet's Lua script reads Hosts and Name
// (lookupd/redislevel.go's chainScript; TestChainScriptFields).
type Host struct {
	Name string `json:"Name"` // lowercase, no trailing dot
	Pref uint16 `json:"Pref"`
}

// Set is the answer to "where does mail for Domain go".
type Set struct {
	Domain   string        `json:"Domain,omitempty"` // normalized
	Hosts    []Host        `json:"Hosts"`            // by preference, then name; each name once (at its lowest preference)
	Implicit bool          `json:"Implicit"`         // no MX records: Hosts is the domain itself, which has A or AAAA (RFC 5321 5.1)
	Null     bool          `json:"Null"`             // null MX, "MX 0 ." (RFC 7505): the domain takes no mail; Hosts is empty
	NXDomain bool          `json:"NXDomain"`         // the domain does not exist; Hosts is empty
	TTL      time.Duration `json:"TTL"`              // how long the answer holds, clamped to the Resolver's MinTTL/MaxTTL
}

// LookupMX returns the mail exchangers of domain (normalized first, see
// Normalize). A domain without MX records gets its implicit MX when it has an
// address, and an empty Set (Implicit false) when it has none. A null MX gives
// Set{Null: true}, a non-existent domain Set{NXDomain: true}; neither is an
// error. A null MX listed next to real MX records is ignored. Errors wrap
// ErrBadDomain, ErrServFail, ErrTimeout, or name what else went wrong.
func (r *Resolver) LookupMX(ctx context.Context, domain string) (Set, error) {
	name, err := Normalize(domain)
	if err != nil {
		return Set{}, fmt.Errorf("look up MX: %w", err)
	}
	set, err := r.lookupMX(ctx, name)
	if err != nil {
		return Set{}, fmt.Errorf("look up MX for %s: %w", name, err)
	}
	return set, nil
}

func (r *Resolver) lookupMX(ctx context.Context, name string) (Set, error) {
	servers, err := r.servers()
	if err != nil {
		return Set{}, err
	}
	ans, err := r.resolve(ctx, servers, name, dns.TypeMX)
	if err != nil {
		return Set{}, err
	}
	set := Set{Domain: name}
	switch {
	case ans.nxdomain:
		set.NXDomain = true
	case len(ans.rrs) == 0:
		addrs, ttl, err := r.lookupAddrs(ctx, servers, name)
		if err != nil {
			return Set{}, fmt.Errorf("implicit MX: %w", err)
		}
		ans.ttl = min(ans.ttl, ttl)
		if len(addrs) > 0 {
			set.Implicit = true
			set.Hosts = []Host{{Name: name}}
		}
	default:
		set.Hosts, set.Null = hosts(ans.rrs)
	}
	set.TTL = r.clamp(ans.ttl)
	return set, nil
}

// hosts turns MX records into sorted, deduplicated hosts, and tells a null MX
// (only "." targets) apart.
func hosts(rrs []dns.RR) (hs []Host, null bool) {
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		name := strings.TrimSuffix(strings.ToLower(mx.Mx), ".")
		if name == "" {
			null = true // "." takes no mail; alone it is RFC 7505's null MX
			continue
		}
		hs = append(hs, Host{Name: name, Pref: mx.Preference})
	}
	if len(hs) == 0 {
		return nil, null
	}
	slices.SortFunc(hs, func(a, b Host) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), strings.Compare(a.Name, b.Name))
	})
	seen := make(map[string]bool, len(hs))
	return slices.DeleteFunc(hs, func(h Host) bool {
		dup := seen[h.Name]
		seen[h.Name] = true
		return dup
	}), false
}

// LookupAddrs returns the IPv6 then IPv4 addresses of host (normalized
// first), in the order Exim tries them (it tries IPv6 first), asking for A and AAAA at once and following CNAMEs, with the TTL of
// the answers. IPv4-mapped IPv6 addresses are unmapped (so that an address
// filter sees them as the IPv4 addresses they are) and duplicates dropped. A
// host that does not exist or has no address gives no addresses and no error.
// If one of the two queries fails but the other gives addresses, those are
// returned without error and with the minimum TTL.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	name, err := Normalize(host)
	if err != nil {
		return nil, 0, fmt.Errorf("look up addresses: %w", err)
	}
	servers, err := r.servers()
	if err != nil {
		return nil, 0, fmt.Errorf("look up addresses for %s: %w", name, err)
	}
	addrs, ttl, err := r.lookupAddrs(ctx, servers, name)
	if err != nil {
		return nil, 0, fmt.Errorf("look up addresses for %s: %w", name, err)
	}
	return addrs, r.clamp(ttl), nil
}

func (r *Resolver) lookupAddrs(ctx context.Context, servers []string, name string) ([]netip.Addr, uint32, error) {
	type result struct {
		ans answer
		err error
	}
	aaaa := make(chan result, 1)
	go func() {
		ans, err := r.resolve(ctx, servers, name, dns.TypeAAAA)
		aaaa <- result{ans, err}
	}()
	ans4, err4 := r.resolve(ctx, servers, name, dns.TypeA)
	res6 := <-aaaa
	ans6, err6 := res6.ans, res6.err

	var addrs []netip.Addr
	for _, rr := range append(ans6.rrs, ans4.rrs...) {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		}
		if a = a.Unmap(); a.IsValid() && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if err4 != nil || err6 != nil {
		if len(addrs) > 0 {
			return addrs, 0, nil // partial: the shortest caching
		}
		switch {
		case err6 == nil:
			//lint:ignore ST1005 A is a record type
			return nil, 0, fmt.Errorf("A: %w", err4)
		case err4 == nil:
			return nil, 0, fmt.Errorf("AAAA: %w", err6)
		default:
			//lint:ignore ST1005 A is a record type
			return nil, 0, fmt.Errorf("A: %w; AAAA: %w", err4, err6)
		}
	}
	return addrs, min(ans4.ttl, ans6.ttl), nil
}

// answer is what resolve found for one name and type.
type answer struct {
	rrs      []dns.RR // records of the type, owned by the end of the CNAME chain
	nxdomain bool
	ttl      uint32 // minimum TTL over the chain and records, or the negative TTL
}

// resolve asks for name/qtype and follows CNAMEs, both those the answer
// already resolves and those it leaves to the asker, at most MaxCNAME links.
func (r *Resolver) resolve(ctx context.Context, servers []string, name string, qtype uint16) (answer, error) {
	ans := answer{ttl: math.MaxUint32}
	links := 0
	for {
		asked := name
		resp, err := r.query(ctx, servers, asked, qtype)
		if err != nil {
			return answer{}, err
		}
		for {
			if rrs := owned(resp.Answer, name, qtype); len(rrs) > 0 {
				ans.rrs = rrs
				for _, rr := range rrs {
					ans.ttl = min(ans.ttl, rr.Header().Ttl)
				}
				return ans, nil
			}
			cn := owned(resp.Answer, name, dns.TypeCNAME)
			if len(cn) == 0 {
				break
			}
			if links++; links > MaxCNAME {
				return answer{}, fmt.Errorf("more than %d CNAME links from %s", MaxCNAME, name)
			}
			ans.ttl = min(ans.ttl, cn[0].Header().Ttl)
			name = strings.TrimSuffix(strings.ToLower(cn[0].(*dns.CNAME).Target), ".")
		}
		if resp.Rcode == dns.RcodeNameError || name == asked {
			// The end of the chain has no such records (NXDOMAIN or
			// NODATA): the SOA says for how long (RFC 2308 section 5).
			ans.nxdomain = resp.Rcode == dns.RcodeNameError
			ans.ttl = min(ans.ttl, negativeTTL(resp))
			return ans, nil
		}
		// The answer stops at a CNAME target it does not resolve: ask for it.
	}
}

// owned returns the records of type t owned by name (no trailing dot).
func owned(rrs []dns.RR, name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == t && h.Class == dns.ClassINET && strings.EqualFold(strings.TrimSuffix(h.Name, "."), name) {
			out = append(out, rr)
		}
	}
	return out
}

// negativeTTL is min(SOA TTL, SOA MINIMUM) of the authority section (RFC 2308
// section 5), or 0 (the shortest caching) when there is no SOA.
func negativeTTL(resp *dns.Msg) uint32 {
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}
