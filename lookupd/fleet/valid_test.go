package fleet

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/observe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// TestViewsFitTheFleet: facts with the most views, each with the longest
// report text, fit a Redis value, decode and pass validFacts; a value with
// more views, or a view with views, does not pass.
func TestViewsFitTheFleet(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.40:25")
	now := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	f := probe.Facts{Addr: ap, Client: "gnutls", Outcome: probe.OK, TLSVersion: "TLS1.3", TLS13: true, KeyType: "RSA", KeyBits: 2048,
		Note: strings.Repeat("n", 200), Time: now}
	for i := range observe.MaxViews + 2 {
		v := observe.FromReport(ap, "gnutls", "TLS session: (gnutls_handshake): "+strings.Repeat("\u00e9", 400)+string(rune('a'+i)), now.Add(-time.Duration(i+1)*time.Second))
		v.DHBits = 512 + i // views of the same shape collapse: make each differ
		f = observe.Add(f, v, now, time.Hour)
	}
	if len(f.Also) != observe.MaxViews {
		t.Fatalf("%d views, want %d", len(f.Also), observe.MaxViews)
	}
	k := store.AddrKey{AP: ap, Client: store.SymOf("gnutls")}
	rec := store.NewRecord(&f)
	b, err := Encode("f:gnutls:192.0.2.40:25", &rec)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	t.Logf("a facts value with %d views of %d-byte texts: %d bytes (MaxValue %d)", len(f.Also), len(f.Also[0].Error), len(b), MaxValue)
	var back store.Record
	if err := Decode("f:gnutls:192.0.2.40:25", b, &back); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := validFacts(&back); err != nil {
		t.Fatalf("validFacts: %v", err)
	}
	if got := back.Facts(k); !reflect.DeepEqual(got.Also, f.Also) {
		t.Errorf("views back\n%+v\nwant\n%+v", got.Also, f.Also)
	}
	tooMany := append(back.Views(), back.Views()[0])
	back.Also = &tooMany
	if validFacts(&back) == nil {
		t.Error("validFacts took more than MaxViews views")
	}
	nested := []store.Record{rec}
	back.Also = &nested
	if validFacts(&back) == nil {
		t.Error("validFacts took a view with views")
	}
}
