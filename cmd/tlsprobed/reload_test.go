package main

import (
	"fmt"
	"os"
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

// TestReloadNamesRestartOnly: a SIGHUP that changes cache sizes or [redis]
// says so in its one reload line (wait_for_restart), and keeps saying so at
// the next reload (the running values stay until a restart); a reload that
// changes only what reload applies names nothing.
func TestReloadNamesRestartOnly(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml")
	base := labConfig(sock, "127.0.0.1:53", "1s", 25, "5s")
	writeConfig(t, cfgFile, base+"[cache]\nhosts = 1000\ndomains = 1000\n")
	d := startDaemon(t, bin, cfgFile, sock)
	for i, tc := range []struct{ extra, want string }{
		{"[cache]\nhosts = 2000\ndomains = 1000\n", "cache.hosts"},
		{"[cache]\nhosts = 2000\ndomains = 1000\n", "cache.hosts"},
		{"[cache]\nhosts = 1000\ndomains = 3000\n[redis]\nurl = \"redis://127.0.0.1:1/0\"\n", "cache.domains redis"},
		{"[cache]\nhosts = 1000\ndomains = 1000\nttl = \"2h\"\n", ""},
	} {
		writeConfig(t, cfgFile, base+tc.extra)
		d.cmd.Process.Signal(syscall.SIGHUP)
		l := d.waitLines(t, "reload", i+1)[i]
		got, _ := l["wait_for_restart"].(string)
		if l["result"] != "ok" || got != tc.want {
			t.Errorf("reload %d: line %v; want result ok, wait_for_restart %q", i+1, l, tc.want)
		}
	}
}

// TestSignalsWhileLoading: a SIGHUP that arrives while the daemon loads its
// cache file (here a FIFO, which holds the load until the test writes to
// it) does not kill it, as SIGHUP's default action would: the reload
// happens once the daemon listens. So does a SIGUSR1's save.
func TestSignalsWhileLoading(t *testing.T) {
	bin := buildDaemon(t)
	dir := t.TempDir()
	sock, cfgFile, cacheFile := filepath.Join(dir, "tlsprobed.sock"), filepath.Join(dir, "config.toml"), filepath.Join(dir, "cache.json")
	if err := syscall.Mkfifo(cacheFile, 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, cfgFile, fmt.Sprintf("[listen]\nsocket = %q\n[dns]\nservers = [\"127.0.0.1:1\"]\n[probe]\nhelo = \"relay.test\"\n[cache]\nfile = %q\n", sock, cacheFile))
	d := launchDaemon(t, bin, sock, "-config", cfgFile, "-log-format", "json")
	d.waitLines(t, "config", 1)
	// The daemon now opens the FIFO and waits in open(2) for a writer.
	var fifo *os.File
	lab.WaitFor(t, "the daemon reading the cache FIFO", func() bool {
		f, err := os.OpenFile(cacheFile, os.O_WRONLY|syscall.O_NONBLOCK, 0) // ENXIO until a reader opens it
		fifo = f
		return err == nil
	})
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGUSR1} {
		if err := d.cmd.Process.Signal(sig); err != nil {
			t.Fatalf("%v while loading: %v", sig, err)
		}
	}
	select {
	case err := <-d.done:
		d.done <- err
		t.Fatalf("the daemon exited on SIGHUP while loading its cache: %v", err)
	default:
	}
	if _, err := fifo.WriteString(`{"version":1,"saved":"2026-12-05T00:00:00Z","entries":[]}` + "\n"); err != nil {
		t.Fatal(err)
	}
	fifo.Close()
	waitAnswering(t, sock)
	if l := d.waitLines(t, "reload", 1); l[0]["result"] != "ok" {
		t.Errorf("reload after the load: %v, want ok", l[0])
	}
	// SIGUSR1's save renames a regular file over the FIFO.
	lab.WaitFor(t, "the cache saved over the FIFO", func() bool {
		fi, err := os.Lstat(cacheFile)
		return err == nil && fi.Mode().IsRegular()
	})
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
}
