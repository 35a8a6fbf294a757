package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PostfixRoot is the lab root holding Debian 13's Postfix (scripts/build-root).
const PostfixRoot = "trixie-postfix"

// PostfixOptions describe one lab Postfix: Debian 13's package, run from
// the trixie-postfix root with a configuration of its own.
type PostfixOptions struct {
	Netns      string // network namespace to run in (ip netns exec)
	Dir        string // per-test directory on this machine (made if missing): etc/, spool/, data/, maillog
	Hostname   string // myhostname (and the domain after its first label: mydomain, accepted and discarded)
	Listen     string // IPv4 address to listen on, port 25 (inet_interfaces)
	Cert       string // testdata/certs/NAME.{crt,key} for STARTTLS
	Postscreen bool   // postscreen(8) in front of smtpd with its pregreet test on (enforce), no DNSBL
	// Mynetworks is the one network Postfix trusts (mynetworks and
	// postscreen's permit_mynetworks); it must not hold the clients under
	// test. "" means 127.0.0.1/32.
	Mynetworks string
	// Main are more main.cf settings (name=value), applied last: e.g. a
	// weak DH group for a TLS 1.2, DHE-only server.
	Main []string
}

// Postfix is a running lab Postfix.
type Postfix struct {
	Dir     string // the per-test directory
	Maillog string // its log file (maillog_file, syslog format)
	Addr    string // Listen:25
	config  string // config_directory
	root    string
	o       PostfixOptions
}

// postfixLogPrefix is where maillog_file may be: Postfix refuses a path
// outside maillog_file_prefixes.
const postfixLogPrefix = "/tmp"

// StartPostfix runs Debian 13's Postfix (postfix start-fg) inside o.Netns,
// chrooted into the trixie-postfix root, with a copy of the root's
// /etc/postfix and a fresh queue in o.Dir (bound into the root at the same
// path; the cached root itself is not changed), STARTTLS with o.Cert, and
// its log in o.Dir/maillog (maillog_file, postlogd: syslog's format, read by
// fail2ban-regex). Every daemon runs unchrooted (master.cf chroot n), so
// nothing needs copying into the queue. It waits until port 25 listens and
// registers a Cleanup that stops Postfix (postfix abort, then the master
// process by its pid file).
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	Require(t, "ip", "ss")
	root := RootDir(t, PostfixRoot)
	if !strings.HasPrefix(o.Dir, postfixLogPrefix+"/") {
		t.Fatalf("postfix lab directory %s: must be under %s (maillog_file_prefixes)", o.Dir, postfixLogPrefix)
	}
	if o.Mynetworks == "" {
		o.Mynetworks = "127.0.0.1/32"
	}
	p := &Postfix{Dir: o.Dir, Maillog: filepath.Join(o.Dir, "maillog"), Addr: o.Listen + ":25",
		config: filepath.Join(o.Dir, "etc"), root: root, o: o}
	for _, d := range []string{p.config, filepath.Join(o.Dir, "spool"), filepath.Join(o.Dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(root, "etc/postfix")+"/.", p.config+"/").CombinedOutput(); err != nil {
		t.Fatalf("copy the root's /etc/postfix: %v\n%s", err, out)
	}
	uid, gid := postfixIDs(t, root)
	if err := os.Chown(filepath.Join(o.Dir, "data"), uid, gid); err != nil {
		t.Fatal(err)
	}
	certs := Testdata(t, "certs")
	domain := o.Hostname
	if _, rest, ok := strings.Cut(o.Hostname, "."); ok {
		domain = rest
	}
	main := []string{
		"myhostname=" + o.Hostname,
		"mydomain=" + domain,
		"mydestination=$mydomain",
		"local_recipient_maps=",
		"local_transport=discard:",
		"inet_protocols=ipv4",
		"inet_interfaces=" + o.Listen,
		"mynetworks=" + o.Mynetworks,
		"queue_directory=" + filepath.Join(o.Dir, "spool"),
		"data_directory=" + filepath.Join(o.Dir, "data"),
		"maillog_file=" + p.Maillog,
		"maillog_file_prefixes=" + postfixLogPrefix,
		"alias_maps=",
		"alias_database=",
		"smtpd_helo_required=yes",
		"smtpd_tls_cert_file=" + filepath.Join(certs, o.Cert+".crt"),
		"smtpd_tls_key_file=" + filepath.Join(certs, o.Cert+".key"),
		"smtpd_tls_security_level=may",
		"smtpd_tls_loglevel=1",
		"smtpd_tls_received_header=yes",
	}
	if o.Postscreen {
		main = append(main,
			"postscreen_access_list=permit_mynetworks",
			"postscreen_greet_action=enforce",
			"postscreen_greet_banner=$smtpd_banner",
			// Short, so the 20 probes of a test are each greeted with
			// the teaser again, and a passed client is retested.
			"postscreen_greet_wait=1s",
			"postscreen_greet_ttl=1s",
			"postscreen_dnsbl_sites=",
			"postscreen_dnsbl_action=ignore",
		)
	}
	main = append(main, o.Main...)
	steps := [][]string{
		append([]string{"postconf", "-c", p.config, "-e"}, main...),
		{"postconf", "-c", p.config, "-F", "*/*/chroot = n"},
	}
	if o.Postscreen {
		steps = append(steps, []string{"postconf", "-c", p.config, "-Me",
			"smtp/inet=smtp inet n - n - 1 postscreen",
			"smtpd/pass=smtpd pass - - n - - smtpd",
			"dnsblog/unix=dnsblog unix - - n - 0 dnsblog",
			"tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy"})
	}
	steps = append(steps, []string{"postfix", "-c", p.config, "check"})
	binds := p.binds(certs)
	// Registered first, so it runs last (cleanups run last-in first-out).
	t.Cleanup(p.removeMountPoint)
	for _, s := range steps {
		RootOutput(t, root, o.Netns, binds, s...)
	}
	cmd := RootCommand(root, o.Netns, binds, "postfix", "-c", p.config, "start-fg")
	pr, err := startProc(t, "postfix: ", cmd)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after startProc's: runs first, while the master lives.
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for !p.listening() {
		if pr.exited() {
			t.Fatalf("postfix start-fg exited (%v) before listening on %s; log:\n%s", pr.err, p.Addr, p.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix: nothing listens on %s after 30s; log:\n%s", p.Addr, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func (p *Postfix) binds(certs string) []string { return []string{p.Dir, certs} }

// listening reports whether port 25 listens in the namespace (ss, without
// connecting: Postfix logs every connection).
func (p *Postfix) listening() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", p.o.Netns, "ss", "-Hltn", "src", p.Addr).Output()
	return err == nil && strings.Contains(string(out), p.Addr)
}

// stop ends Postfix: start-fg's master is a session leader of its own, so
// the process group of the command does not hold it.
func (p *Postfix) stop(t testing.TB) {
	cmd := RootCommand(p.root, p.o.Netns, p.binds(Testdata(t, "certs")), "postfix", "-c", p.config, "abort")
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err == nil {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	b, err := os.ReadFile(filepath.Join(p.Dir, "spool/pid/master.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		if proc, err := os.FindProcess(pid); err == nil {
			_ = proc.Kill()
		}
	}
}

// removeMountPoint removes the empty directories RootCommand made in the
// cached root for the mount point of p.Dir, up to the root's /tmp
// (os.Remove: only empty ones, so never one in use).
func (p *Postfix) removeMountPoint() {
	for d := p.Dir; d != postfixLogPrefix && d != "/"; d = filepath.Dir(d) {
		if os.Remove(filepath.Join(p.root, d)) != nil {
			return
		}
	}
}

// Log returns the log so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(p.Maillog)
	return string(b)
}

// WaitLog polls the log every 100ms until a line holds every one of subs,
// failing the test after timeout.
func (p *Postfix) WaitLog(t testing.TB, timeout time.Duration, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for CountLines(p.Log(), subs...) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("postfix: no log line with %q after %v; log:\n%s", subs, timeout, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CountLines returns the number of lines of text holding every one of subs.
func CountLines(text string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// postfixIDs returns the uid and gid of the postfix user in root.
func postfixIDs(t testing.TB, root string) (int, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 && f[0] == "postfix" {
			uid, err1 := strconv.Atoi(f[2])
			gid, err2 := strconv.Atoi(f[3])
			if err1 == nil && err2 == nil {
				return uid, gid
			}
		}
	}
	t.Fatalf("no postfix user in %s/etc/passwd", root)
	return 0, 0
}

// String names the server for logs.
func (p *Postfix) String() string {
	kind := "postfix"
	if p.o.Postscreen {
		kind = "postfix+postscreen"
	}
	return fmt.Sprintf("%s %s", kind, p.Addr)
}
