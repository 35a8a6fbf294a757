package fleet

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
)

// TestChainScriptFields: the JSON names the fleet's Lua script reads
// (jsonSet, jsonHosts, jsonName, jsonAddrs) are the ones the Go values
// stored in Redis are written with; renaming a field or its tag without
// them fails here, instead of silently turning the script's one round
// trip into three.
func TestChainScriptFields(t *testing.T) {
	b, err := json.Marshal(&store.Domain{Set: mx.Set{Hosts: []mx.Host{{Name: "mx.example", Pref: 10}}}})
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	set, _ := d[jsonSet].(map[string]any)
	hosts, _ := set[jsonHosts].([]any)
	if len(hosts) != 1 {
		t.Fatalf("no %s.%s in a domain value: %s", jsonSet, jsonHosts, b)
	}
	if h, _ := hosts[0].(map[string]any); h[jsonName] != "mx.example" {
		t.Fatalf("no %s in a host of a domain value: %s", jsonName, b)
	}
	b, err = json.Marshal(&store.Name{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	if a, _ := n[jsonAddrs].([]any); len(a) != 1 || a[0] != "192.0.2.1" {
		t.Fatalf("no %s in a name value: %s", jsonAddrs, b)
	}
	if strings.Contains(chainSource, "@") {
		t.Fatalf("a placeholder left in the script:\n%s", chainSource)
	}
	for _, f := range []string{"e." + jsonSet + "." + jsonHosts, "h." + jsonName, "ne." + jsonAddrs} {
		if !strings.Contains(chainSource, f) {
			t.Errorf("the script does not read %s", f)
		}
	}
}
