package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// The remote-postmaster tests (issue 18): what a probe leaves in the logs of
// the servers it probes, beside what one real Exim delivery leaves there.

// probesPerServer is how many probes each server sees (issue 18: 20).
const probesPerServer = 20

// controlAddr is the address of the positive controls (a client that talks
// before the greeting, an aborted TLS handshake): never the probe's.
const controlAddr = "192.0.2.98"

// prober runs `tlsprobe probe` (the admin CLI, with the daemon's probe
// options: probeAddr as source, a fully qualified EHLO name) in the namespace.
type prober struct {
	ns     *netns
	bin    string
	config string
}

// newProber builds ./cmd/tlsprobe into the namespace's directory and writes
// its configuration.
func newProber(t *testing.T, ns *netns) *prober {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		//lint:ignore SA1019 the test binary runs where it was built, so its GOROOT is real
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(ns.dir, "tlsprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/tlsprobe")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tlsprobe: %v\n%s", err, out)
	}
	p := &prober{ns: ns, bin: bin, config: filepath.Join(ns.dir, "probe.toml")}
	writeFile(t, p.config, fmt.Sprintf(`# tlsprobe probe for the remote-postmaster tests
[probe]
helo = "probe.sender.test"
timeout = "10s"
source_address = %q
ignore_networks = []
`, probeAddr), 0o644)
	return p
}

// probe probes domain once and returns tlsprobe's report.
func (p *prober) probe(t *testing.T, domain string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.ns.command(ctx, p.bin, "probe", "-config", p.config, "-dns", dnsAddr, domain).CombinedOutput()
	if err != nil {
		// Exit status 1 = some host not classified: still a probe.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("tlsprobe probe %s: %v\n%s", domain, err, out)
		}
	}
	return string(out)
}

// dialFrom connects from src to dst inside the namespace (inside).
func (ns *netns) dialFrom(t *testing.T, src, dst string) net.Conn {
	t.Helper()
	c, err := inside(ns, func() (net.Conn, error) {
		d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return d.Dial("tcp", dst)
	})
	if err != nil {
		t.Fatalf("dial %s from %s in %s: %v", dst, src, ns.name, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// earlyTalker is the positive control: a client at controlAddr that sends
// talk (commands) before the server has greeted it, then hangs up once the server
// has logged tell about it (postscreen: "PREGREET"; smtpd: "improper
// command pipelining"), waiting on the log, not on the clock.
func earlyTalker(t *testing.T, ns *netns, dst, talk string, logged func() bool) {
	t.Helper()
	c := ns.dialFrom(t, controlAddr, dst)
	defer c.Close()
	if _, err := c.Write([]byte(talk)); err != nil {
		t.Fatal(err)
	}
	lab.WaitFor(t, "server log line about the early talker at "+controlAddr, logged)
}

// protocolErrors is the positive control for Exim: a client at
// controlAddr that, one command per round trip, sends RCPT before MAIL until
// the server drops it ("too many syntax or protocol errors"); it returns
// the replies.
func protocolErrors(t *testing.T, ns *netns, dst string) string {
	t.Helper()
	c := ns.dialFrom(t, controlAddr, dst)
	defer c.Close()
	r := bufio.NewReader(c)
	var got strings.Builder
	reply := func() error {
		for {
			line, err := r.ReadString('\n')
			got.WriteString(line)
			if err != nil {
				return err
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	if err := reply(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	cmds := []string{"EHLO errors.control.test"}
	for range 10 {
		cmds = append(cmds, "RCPT TO:<postmaster@control.test>")
	}
	for _, cmd := range cmds {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			break // dropped
		}
		if err := reply(); err != nil {
			break // dropped
		}
	}
	return got.String()
}

// f2bLines is fail2ban-regex's summary line "Lines: N lines, N ignored, N matched, N missed".
var f2bLines = regexp.MustCompile(`(?m)^Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// fail2banMatches runs fail2ban-regex (Debian's fail2ban, the service never
// started) with the stock filter (e.g. "postfix[mode=ddos]", "exim") over
// text, and returns the number of lines matched and read.
func fail2banMatches(t *testing.T, dir, name, filter, text string) (matched, lines int) {
	t.Helper()
	log := filepath.Join(dir, "f2b-"+name+".log")
	writeFile(t, log, text, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "fail2ban-regex", log, filter).CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex %s %s: %v\n%s", log, filter, err, out)
	}
	m := f2bLines.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("fail2ban-regex %s %s: no 'Lines:' summary in:\n%s", log, filter, out)
	}
	lines, _ = strconv.Atoi(m[1])
	matched, _ = strconv.Atoi(m[3])
	if want := strings.Count(text, "\n"); lines != want {
		t.Fatalf("fail2ban-regex %s %s read %d lines of %d:\n%s", log, filter, lines, want, out)
	}
	return matched, lines
}

// linesWith returns the lines of text holding sub.
func linesWith(text, sub string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return out
}
