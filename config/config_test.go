package config

import (
	"io/fs"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestDefaultIsValidAndCompiled(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(Default()): %v", err)
	}
	if got := c.Listen.FileMode(); got != fs.FileMode(0o660) {
		t.Errorf("FileMode = %o, want 660", got)
	}
	if c.Listen.TCPAddr().IsValid() {
		t.Errorf("TCPAddr = %v, want off", c.Listen.TCPAddr())
	}
	if got := c.DNS.ServerAddrs(); len(got) != 0 {
		t.Errorf("ServerAddrs = %v, want none (resolv.conf)", got)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("255.255.255.255/32"), netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"), netip.MustParsePrefix("100::/64"),
	}
	if got := c.Probe.Networks(); !reflect.DeepEqual(got, want) {
		t.Errorf("Networks = %v, want %v", got, want)
	}
	if c.Probe.SourceAddr().IsValid() {
		t.Errorf("SourceAddr = %v, want unset", c.Probe.SourceAddr())
	}
	if got := c.Probe.RatePerAddress.Every(); got != 10*time.Second {
		t.Errorf("rate_per_address every = %v, want 10s", got)
	}
	ov, err := c.Overrides()
	if err != nil || ov == nil || ov.Len() != 0 {
		t.Errorf("Overrides() = %v, %v; want empty, nil", ov, err)
	}
	if c.Answer.Wait.Duration != 2*time.Second || c.Probe.Timeout.Duration != 30*time.Second {
		t.Errorf("durations: wait %v, probe timeout %v", c.Answer.Wait, c.Probe.Timeout)
	}
}

func TestDefaultReturnsFreshSlices(t *testing.T) {
	a := Default()
	a.Probe.IgnoreNetworks[0] = "192.0.2.0/24"
	a.OverrideLists.None = append(a.OverrideLists.None, "x.example")
	b := Default()
	if b.Probe.IgnoreNetworks[0] != "0.0.0.0" || len(b.OverrideLists.None) != 0 {
		t.Fatalf("Default shares slices between calls: %v %v", b.Probe.IgnoreNetworks, b.OverrideLists.None)
	}
	if DefaultIgnoreNetworks[0] != "0.0.0.0" {
		t.Fatalf("DefaultIgnoreNetworks changed: %v", DefaultIgnoreNetworks)
	}
}

// contrib/config.example.toml is's example configuration: every key with its default.
func TestFullExampleEqualsDefault(t *testing.T) {
	c, err := Load("../contrib/config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if d := Default(); !reflect.DeepEqual(c, d) {
		t.Fatalf("contrib/config.example.toml differs from Default():\n got %+v\nwant %+v", c, d)
	}
}

// Every key of Config appears in contrib/config.example.toml: decoding the file into a generic map and
// comparing key sets with a marshalled Default catches a key added to Config but not
// to the example (or vice versa).
func TestFullExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../contrib/config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	if err := toml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	out, err := toml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	var def map[string]any
	if err := toml.Unmarshal(out, &def); err != nil {
		t.Fatal(err)
	}
	if fk, dk := keys(file), keys(def); !reflect.DeepEqual(fk, dk) {
		t.Fatalf("keys differ:\nconfig.example.toml %v\nDefault   %v", fk, dk)
	}
}

func keys(m map[string]any) map[string]bool {
	out := map[string]bool{}
	for sect, v := range m {
		for k := range v.(map[string]any) {
			out[sect+"."+k] = true
		}
	}
	return out
}

func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	c.Listen.TCP = "127.0.0.1:8125"
	c.Listen.Mode = "0600"
	c.DNS.Servers = []string{"192.0.2.53", "[2001:db8::53]:5353"}
	c.Probe.RatePerAddress = RateEvery(1500 * time.Millisecond)
	c.Cache.TTL = Duration{90 * time.Minute}
	c.OverrideLists.SmallKey = []string{"mx.example.com", `^mx\d+\.example\.net$`}
	c.OverrideLists.None = []string{"*.example.org"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip differs:\n%s\n got %+v\nwant %+v", out, back, c)
	}
}

func marshalTOML(c Config) ([]byte, error) { return toml.Marshal(c) }
