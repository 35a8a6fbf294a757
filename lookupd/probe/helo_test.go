package probe

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestDefaultHELOIsEximPrimaryHostname: with no probe.helo, the probe says
// EHLO with the name Debian's Exim takes as primary_hostname. Each case runs
// in a UTS and mount namespace of its own with host name "vm" and its own
// /etc/hosts; real Exim (exim4 -bP) and this package (the test binary run
// again inside) must agree.
func TestDefaultHELOIsEximPrimaryHostname(t *testing.T) {
	if os.Getenv("TLSPROBE_HELO_CHILD") == "1" {
		t.Skip("the child run of this test")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (unshare --uts --mount)")
		}
		t.Skip("needs root (unshare --uts --mount)")
	}
	lab.Require(t, "unshare", "mount", "hostname", "exim4")
	for _, tc := range []struct{ hosts, want string }{
		{"127.0.0.1 localhost\n127.0.1.1 vm.example.org vm\n", "vm.example.org"},
		{"127.0.0.1 localhost\n127.0.1.1 vm\n", "vm"},
	} {
		hosts := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(hosts, []byte(tc.hosts), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `hostname vm && mount --bind "$1" /etc/hosts && exim4 -bP primary_hostname && exec "$2" -test.run='^TestHELOChild$' -test.v`
		cmd := exec.Command("unshare", "--uts", "--mount", "--", "sh", "-c", script, "sh", hosts, os.Args[0])
		cmd.Env = append(os.Environ(), "TLSPROBE_HELO_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		exim, ours := field(string(out), "primary_hostname = "), field(string(out), "helo=")
		t.Logf("hosts %q: exim primary_hostname %q, probe EHLO %q", tc.hosts, exim, ours)
		if exim != tc.want || ours != exim {
			t.Errorf("hosts %q: exim says %q, the probe %q; want both %q\n%s", tc.hosts, exim, ours, tc.want, out)
		}
	}
}

// TestHELOChild prints the default EHLO name; it only runs inside
// TestDefaultHELOIsEximPrimaryHostname.
func TestHELOChild(t *testing.T) {
	if os.Getenv("TLSPROBE_HELO_CHILD") != "1" {
		t.Skip("runs inside TestDefaultHELOIsEximPrimaryHostname")
	}
	name := PrimaryHostname(t.Context(), net.DefaultResolver)
	t.Logf("helo=%s", name)
	os.Stdout.WriteString("helo=" + name + "\n")
	if got := (Options{HELO: "probe.example"}).helo(); got != "probe.example" {
		t.Errorf("probe.helo set: %q", got)
	}
}

// field returns the rest of the first line of out that starts with prefix.
func field(out, prefix string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
