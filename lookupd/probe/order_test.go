package probe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// verdictView is what of the facts the verdict reads (lookupd/verdict),
// for comparing two probes of one server.
func verdictView(f probe.Facts) string {
	return fmt.Sprintf("%s/%s %s %s %s-%d dh%d tls13=%v nodhe=%s:%s sig=%s unobserved=%v also=%d",
		f.Outcome, f.Stage, f.TLSVersion, f.Cipher, f.KeyType, f.KeyBits, f.DHBits, f.TLS13,
		f.NoDHE, f.NoDHECipher, f.SigHash, f.KXUnobserved, len(f.Also))
}

// TestOrder: each kind of OpenSSL server is probed in the ordinary order,
// then in the order its facts choose (probe.OrderFor): the connections and
// the handshakes the server saw fail, per probe, and facts the verdict
// reads identically. A stale order (the server speaks TLS 1.3 now) costs
// one connection and gives the ordinary facts.
func TestOrder(t *testing.T) {
	lab.Require(t, "gcc")
	dhe768 := lab.OpenSSLOptions{Cert: "rsa2048", DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"}
	for _, tc := range []struct {
		name   string
		server lab.OpenSSLOptions
		client tlswire.Client
		order  probe.Order  // what OrderFor must choose from the first probe's facts
		force  *probe.Order // an order given regardless (a stale one)
		// connections and failed handshakes of the probe in the ordinary order, and of the one in the chosen order
		first, ordered [2]int
		outcome        probe.Outcome
		stage          stage.Stage
	}{
		// DHE-only: crypto/tls refused, then the modelled hello completed;
		// ordered: the modelled hello alone, one clean session.
		{"dhe768-only", dhe768, "", probe.OrderModelledDHE, nil, [2]int{2, 1}, [2]int{1, 0}, probe.OK, ""},
		// The openssl client also asks with a hello without DHE (refused).
		{"dhe768-only-openssl", dhe768, "openssl", probe.OrderModelledDHE, nil, [2]int{3, 2}, [2]int{2, 1}, probe.OK, ""},
		// No suite shared with any hello: crypto/tls's and the one mixed
		// hello (the modelled offer and every other suite), both refused;
		// ordered: the mixed hello (with TLS 1.3) alone.
		{"no-shared-cipher", lab.OpenSSLOptions{Cert: "rsa2048", Ciphers: "aNULL", MaxTLS: "1.2"}, "", probe.OrderNoCipher, nil, [2]int{2, 2}, [2]int{1, 1}, probe.Error, stage.Negotiate},
		// DSA only: crypto/tls refused; the mixed hello gets DHE-DSS (an
		// extra suite, so the handshake is completed but says nothing of the
		// modelled client); the modelled hello alone is refused. Ordered:
		// the modelled client's own hello (refused), then the mixed hello,
		// completed.
		{"dsa-only", lab.OpenSSLOptions{Cert: "dsa1024", MaxTLS: "1.2"}, "", probe.OrderEverySuite, nil, [2]int{3, 2}, [2]int{2, 1}, probe.Error, stage.Negotiate},
		{"dsa-only-serverpref", lab.OpenSSLOptions{Cert: "dsa1024", MaxTLS: "1.2", ServerPreference: true}, "", probe.OrderEverySuite, nil, [2]int{3, 2}, [2]int{2, 1}, probe.Error, stage.Negotiate},
		{"dsa-only-openssl", lab.OpenSSLOptions{Cert: "dsa1024", MaxTLS: "1.2"}, "openssl", probe.OrderEverySuite, nil, [2]int{3, 2}, [2]int{2, 1}, probe.Error, stage.Negotiate},
		// A stale OrderEverySuite at a TLS 1.3 server: the modelled
		// client's hello gets TLS 1.3 and is closed without a record
		// (failed at the server), then crypto/tls's session.
		{"tls13-stale-everysuite", lab.OpenSSLOptions{Cert: "rsa2048"}, "", probe.OrderDefault, ptr(probe.OrderEverySuite), [2]int{1, 0}, [2]int{2, 1}, probe.OK, ""},
		// Stale orders at a TLS 1.3 server: one connection more, once.
		{"tls13-stale-dhe", lab.OpenSSLOptions{Cert: "rsa2048"}, "", probe.OrderDefault, ptr(probe.OrderModelledDHE), [2]int{1, 0}, [2]int{2, 0}, probe.OK, ""},
		{"tls13-stale-nocipher", lab.OpenSSLOptions{Cert: "rsa2048"}, "", probe.OrderDefault, ptr(probe.OrderNoCipher), [2]int{1, 0}, [2]int{2, 1}, probe.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lt := &logTB{TB: t}
			s := lab.StartOpenSSL(lt, tc.server)
			var facts [2]probe.Facts
			for i := range 2 {
				o := probe.Options{HELO: "probe.test", Timeout: 20 * time.Second, Client: tc.client}
				if i == 1 {
					o.Order = probe.OrderFor(&facts[0])
					if o.Order != tc.order {
						t.Errorf("OrderFor(%s) = %d, want %d", verdictView(facts[0]), o.Order, tc.order)
					}
					if tc.force != nil {
						o.Order = *tc.force
					}
				}
				doneBefore, failedBefore := lt.count("handshake done"), lt.count("handshake failed")
				tp := startTap(t, s.Addr)
				facts[i] = probe.Addr(context.Background(), tp.addr(), o)
				sent := tp.wait()
				lab.WaitFor(t, "a handshake line per connection", func() bool {
					return lt.count("handshake")-doneBefore-failedBefore >= len(sent)
				})
				failed := lt.count("handshake failed") - failedBefore
				t.Logf("probe %d (order %d): %d connections, %d failed handshakes; %s; %s", i, o.Order, len(sent), failed, verdictView(facts[i]), facts[i].Error)
				want := [2][2]int{tc.first, tc.ordered}[i]
				if len(sent) != want[0] || failed != want[1] {
					t.Errorf("probe %d: %d connections, %d failed handshakes; want %d, %d", i, len(sent), failed, want[0], want[1])
				}
				if facts[i].Outcome != tc.outcome || facts[i].Stage != tc.stage {
					t.Errorf("probe %d: %s/%s, want %s/%s", i, facts[i].Outcome, facts[i].Stage, tc.outcome, tc.stage)
				}
			}
			if a, b := verdictView(facts[0]), verdictView(facts[1]); a != b {
				t.Errorf("facts differ:\nordinary %s\nordered  %s", a, b)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestOrderFor: which earlier facts choose which order.
func TestOrderFor(t *testing.T) {
	for _, tc := range []struct {
		f    *probe.Facts
		want probe.Order
	}{
		{nil, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.OK, DHBits: 768, TLSVersion: "TLS1.2"}, probe.OrderModelledDHE},
		{&probe.Facts{Outcome: probe.OK, DHBits: 768, TLS13: true}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.OK, DHBits: 2048, KXUnobserved: true}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.OK, TLSVersion: "TLS1.2"}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.Error, Stage: stage.Negotiate}, probe.OrderNoCipher},
		{&probe.Facts{Outcome: probe.Error, Stage: stage.Negotiate, KeyType: "DSA", KeyBits: 1024}, probe.OrderEverySuite},
		{&probe.Facts{Outcome: probe.Error, Stage: stage.Negotiate, KeyType: "RSA", KeyBits: 2048, Also: []probe.Facts{{Outcome: probe.OK, KeyType: "RSA", KeyBits: 1024}}}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.Error, Stage: stage.Negotiate, Reported: probe.ReportedHandshake}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.OK, DHBits: 768, Reported: probe.ReportedDHTooSmall}, probe.OrderDefault},
		{&probe.Facts{Outcome: probe.Error, Stage: stage.Connect}, probe.OrderDefault},
	} {
		if got := probe.OrderFor(tc.f); got != tc.want {
			t.Errorf("OrderFor(%+v) = %d, want %d", tc.f, got, tc.want)
		}
	}
}
