package observe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/stage"
)

var (
	ap  = netip.MustParseAddrPort("192.0.2.40:25")
	t0  = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ttl = 24 * time.Hour
)

func modern(at time.Time) probe.Facts {
	return probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.3", TLS13: true, Time: at}
}

func weak(at time.Time) probe.Facts {
	return probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.OK, KeyType: "RSA", KeyBits: 2048, TLSVersion: "TLS1.2", DHBits: 768, Time: at}
}

func TestMergeKeepsWeakness(t *testing.T) {
	got := Merge(weak(t0), modern(t0.Add(time.Hour)), t0.Add(time.Hour), ttl)
	if !got.TLS13 || len(got.Also) != 1 || got.Also[0].DHBits != 768 {
		t.Fatalf("Merge = %+v, want the modern view with the weak one in Also", got)
	}
	// A third probe lands on the modern side again: still one weak view.
	again := Merge(got, modern(t0.Add(2*time.Hour)), t0.Add(2*time.Hour), ttl)
	if len(again.Also) != 1 || again.Also[0].DHBits != 768 || !again.Also[0].Time.Equal(t0) {
		t.Fatalf("Merge again = %+v, want the weak view of t0 kept once", again.Also)
	}
	// Past the TTL the weak view goes.
	late := Merge(again, modern(t0.Add(ttl)), t0.Add(ttl), ttl)
	if len(late.Also) != 0 {
		t.Fatalf("Merge after the TTL kept %+v", late.Also)
	}
}

func TestMergeAgreeingViewsCollapse(t *testing.T) {
	got := Merge(modern(t0), modern(t0.Add(time.Minute)), t0.Add(time.Minute), ttl)
	if len(got.Also) != 0 || !got.Time.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Merge of agreeing facts = %+v, want the newest, no Also", got)
	}
}

func TestMergeDropsTransientAndForeign(t *testing.T) {
	conn := probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.Error, Stage: stage.Connect, Error: "refused", Time: t0}
	if got := Merge(conn, modern(t0.Add(time.Minute)), t0.Add(time.Minute), ttl); len(got.Also) != 0 {
		t.Errorf("a connection failure became a view: %+v", got.Also)
	}
	other := weak(t0)
	other.Client = "openssl"
	if got := Merge(other, modern(t0.Add(time.Minute)), t0.Add(time.Minute), ttl); len(got.Also) != 0 {
		t.Errorf("another client's facts became a view: %+v", got.Also)
	}
	// The new facts a connection failure: the weakness stays as a view.
	conn.Time = t0.Add(time.Hour)
	if got := Merge(weak(t0), conn, t0.Add(time.Hour), ttl); len(got.Also) != 1 {
		t.Errorf("Merge(weak, connection failure).Also = %+v, want the weak view", got.Also)
	}
}

func TestMergeBounded(t *testing.T) {
	prev := modern(t0)
	for i := 1; i <= 10; i++ {
		v := weak(t0.Add(time.Duration(i) * time.Minute))
		v.DHBits = 500 + i // each disagrees
		prev = Merge(prev, v, v.Time, ttl)
	}
	if len(prev.Also) != MaxViews {
		t.Fatalf("len(Also) = %d, want %d", len(prev.Also), MaxViews)
	}
	// The newest kept, newest first; the oldest (the modern one of t0) dropped.
	for i, v := range prev.Also {
		if want := 500 + 9 - i; v.DHBits != want {
			t.Errorf("Also[%d].DHBits = %d, want %d", i, v.DHBits, want)
		}
		if v.Also != nil {
			t.Errorf("Also[%d] has views of its own", i)
		}
	}
}

func TestMergeKeepsProbeViews(t *testing.T) {
	next := modern(t0.Add(time.Minute))
	next.Also = []probe.Facts{weak(t0.Add(time.Minute))}
	got := Merge(probe.Facts{}, next, t0.Add(time.Minute), ttl)
	if len(got.Also) != 1 || got.Also[0].DHBits != 768 {
		t.Fatalf("Merge dropped the probe's own view: %+v", got.Also)
	}
}

func TestAddReport(t *testing.T) {
	f := modern(t0)
	r := FromReport(ap, "gnutls", "TLS session: (gnutls_handshake): The Diffie-Hellman prime sent by the server is not acceptable (not long enough).", t0.Add(time.Minute))
	got := Add(f, r, t0.Add(time.Minute), ttl)
	if len(got.Also) != 1 || got.Also[0].Reported != probe.ReportedDHTooSmall || !got.TLS13 {
		t.Fatalf("Add = %+v", got)
	}
	// The same report again: one view, the newer.
	r.Time = t0.Add(2 * time.Minute)
	got = Add(got, r, r.Time, ttl)
	if len(got.Also) != 1 || !got.Also[0].Time.Equal(r.Time) {
		t.Fatalf("Add again = %+v", got.Also)
	}
	// Then a probe: the report's view survives the new facts.
	got = Merge(got, modern(t0.Add(3*time.Minute)), t0.Add(3*time.Minute), ttl)
	if len(got.Also) != 1 || got.Also[0].Reported != probe.ReportedDHTooSmall {
		t.Fatalf("Merge after a report = %+v", got.Also)
	}
}

// TestMergeProbeViewsLast: the views a probe's own connections showed
// (probe.Addr's Also: no time, address or client of their own, the probe
// times the whole) are of the probe's time and address, and last the TTL
// like any view: a re-probe that sees both sides of a balancer keeps the
// weak one, and so does the probe after it, landing on the modern side.
func TestMergeProbeViewsLast(t *testing.T) {
	v := weak(time.Time{})
	v.Addr, v.Client = netip.AddrPort{}, ""
	next := modern(t0)
	next.Also = []probe.Facts{v}
	got := Merge(modern(t0.Add(-time.Hour)), next, t0.Add(time.Second), ttl)
	if len(got.Also) != 1 || got.Also[0].DHBits != 768 {
		t.Fatalf("Merge dropped the probe's own view: %+v", got.Also)
	}
	if w := got.Also[0]; !w.Time.Equal(t0) || w.Addr != ap || w.Client != "gnutls" {
		t.Errorf("the probe's view: time %v, addr %v, client %q; want the probe's %v, %v, gnutls", w.Time, w.Addr, w.Client, t0, ap)
	}
	later := Merge(got, modern(t0.Add(time.Hour)), t0.Add(time.Hour), ttl)
	if len(later.Also) != 1 || later.Also[0].DHBits != 768 {
		t.Fatalf("the next probe, on the modern side, erased the weak view: %+v", later.Also)
	}
	// Facts stored before views were stamped: their views are of their time.
	old := modern(t0)
	old.Also = []probe.Facts{v}
	if got := Merge(old, modern(t0.Add(time.Hour)), t0.Add(time.Hour), ttl); len(got.Also) != 1 || !got.Also[0].Time.Equal(t0) {
		t.Errorf("Merge dropped an unstamped earlier view: %+v", got.Also)
	}
	// Add stamps the views of the facts it adds to, too.
	r := FromReport(ap, "gnutls", "TLS session: (gnutls_handshake): Could not negotiate a supported cipher suite.", t0.Add(time.Minute))
	if got := Add(old, r, t0.Add(time.Minute), ttl); len(got.Also) != 2 {
		t.Errorf("Add dropped the unstamped view: %+v", got.Also)
	}
}
