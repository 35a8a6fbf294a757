package probe_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// balancer is a round-robin lab.Proxy on 127.0.0.1 in front of servers
// (each connection of a probe goes to the next one), closed by t.Cleanup.
func balancer(t *testing.T, servers ...*lab.Server) (netip.AddrPort, *lab.Proxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var backends []string
	for _, s := range servers {
		backends = append(backends, s.Addr.String())
	}
	p, err := lab.StartProxy(context.Background(), ln, lab.ProxyOptions{Backends: backends})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("balancer: %v", err)
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String()), p
}

// TestBalancerViews: a probe whose connections land on different servers
// behind one address (a round-robin balancer) keeps what each showed apart
// (Also): never one connection's key with another's key exchange, never
// the openssl client's hello without DHE answered by another server than
// the one whose prime it asks about.
func TestBalancerViews(t *testing.T) {
	lab.Require(t, "gcc")
	modern := lab.StartOpenSSL(t, lab.OpenSSLOptions{Cert: "rsa2048"})
	old := lab.StartOpenSSL(t, lab.OpenSSLOptions{Cert: "rsa1024", MaxTLS: "1.2"})
	weak := lab.StartOpenSSL(t, lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"})
	level2 := verdict.Policy{Client: verdict.ClientOpenSSL, SecLevel: 2}

	t.Run("key", func(t *testing.T) {
		// The clean session on the RSA-1024 server (TLS 1.2), the modelled
		// hello on the modern one (TLS 1.3 signalled).
		ap, p := balancer(t, old, modern)
		f := probe.Addr(context.Background(), ap, probe.Options{Client: tlswire.ClientGnuTLS})
		t.Logf("facts %s; connections %v", verdictView(f), p.Counts())
		if f.Outcome != probe.OK || !f.TLS13 || f.KeyBits != 2048 || len(f.Also) != 1 || f.Also[0].KeyBits != 1024 {
			t.Fatalf("want the modern view with the RSA-1024 one in Also, got %+v", f)
		}
		if got := (verdict.Policy{}).Of(&f); got != verdict.SmallKey {
			t.Errorf("verdict %q, want smallkey (the RSA-1024 view)", got)
		}
	})

	t.Run("nodhe", func(t *testing.T) {
		// crypto/tls refused by the DHE-768 server, the mixed hello on
		// it again (its prime), the hello without DHE on the modern one.
		ap, p := balancer(t, weak, weak, modern)
		f := probe.Addr(context.Background(), ap, probe.Options{Client: tlswire.ClientOpenSSL})
		t.Logf("facts %s; connections %v", verdictView(f), p.Counts())
		if f.DHBits != 768 || f.TLS13 {
			t.Fatalf("want the DHE-768 server's view first, got %+v", f)
		}
		if f.NoDHE == probe.NoDHEOK {
			t.Errorf("NoDHE %q (%s): the modern server's answer blended into the DHE-768 server's view", f.NoDHE, f.NoDHECipher)
		}
		if len(f.Also) != 1 || !f.Also[0].TLS13 {
			t.Errorf("want the modern server's view in Also, got %+v", f.Also)
		}
		// No transport gets TLS at the DHE-768 server (OpenSSL refuses the
		// prime at every level, it has no other suite): nothing claims one.
		if j := level2.Judge(&f); j.Works.Has(verdict.ViaNoDHE) && j.Verdict == verdict.NoDHE {
			t.Errorf("verdict nodhe (%s): the hello without DHE never reached the DHE-768 server", level2.Reason(&f))
		}
	})
}
