package decision

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// TestListTruncated: a list bigger than the budget is cut and says so.
func TestListTruncated(t *testing.T) {
	ls := Listed{}
	for i := range 10000 {
		ls.Addrs = append(ls.Addrs, ListedAddr{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 25),
			Verdict: verdict.SmallKey, Reason: strings.Repeat("r", 80), Names: []string{strings.Repeat("h", 60) + ".test"}})
	}
	ls.truncate()
	b, _ := json.Marshal(ls)
	if !ls.Truncated || len(ls.Addrs) == 0 || len(b) > listBudget || len(b) > socket.MaxAnswer {
		t.Errorf("truncated %v to %d addresses, %d bytes", ls.Truncated, len(ls.Addrs), len(b))
	}
}
