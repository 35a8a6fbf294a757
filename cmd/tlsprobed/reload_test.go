package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"
)

// TestReloadFlipsAnswers: the daemon keeps facts, not verdicts. After a
// real probe of a 768-bit-prime server, SIGHUP with dh_min_bits 512 makes
// the answer empty at once, and SIGHUP back to 1024 makes it tlsexport
// again; neither reload probes (no probe log line, no connection).
func TestReloadFlipsAnswers(t *testing.T) {
	lab.Require(t, "gcc")
	server := lab.StartOpenSSL(t, lab.OpenSSLOptions{DH: "dh768", Ciphers: "kDHE", MaxTLS: "1.2"})
	port, conns := countingProxy(t, server.Addr.String())
	dns := lab.StartDNS(t, "flip.test. 300 IN MX 10 mx.flip.test.", "mx.flip.test. 300 IN A 127.0.0.5")
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	write := func(dhMinBits int) {
		writeConfig(t, cfgFile, labConfig(sock, dns, "1s", port, "20s")+fmt.Sprintf("dh_min_bits = %d\n[answer]\nwait = \"20s\"\n", dhMinBits))
	}
	write(1024)
	d := startDaemon(t, bin, cfgFile, sock)
	if got := query(t, sock, "flip.test"); got != "tlsexport" {
		t.Fatalf("answer %q, want tlsexport (from a probe)", got)
	}
	d.waitLines(t, "probe", 1)
	probed := conns.Load()
	for i, tc := range []struct {
		dhMinBits int
		want      string
	}{{512, ""}, {1024, "tlsexport"}, {768, ""}, {769, "tlsexport"}} {
		write(tc.dhMinBits)
		d.cmd.Process.Signal(syscall.SIGHUP)
		d.waitLines(t, "reload", i+1)
		if got := query(t, sock, "flip.test"); got != tc.want {
			t.Errorf("after SIGHUP with dh_min_bits %d: answer %q, want %q", tc.dhMinBits, got, tc.want)
		}
	}
	if n := len(d.lines("probe")); n != 1 || conns.Load() != probed {
		t.Errorf("%d probe log lines and %d connections after the reloads, want 1 and %d", n, conns.Load(), probed)
	}
	for _, l := range d.lines("reload") {
		if l["result"] != "ok" {
			t.Errorf("reload line %v", l)
		}
	}
}
