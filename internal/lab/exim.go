package lab

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EximOptions configure StartExim.
type EximOptions struct {
	// Cert names testdata/certs/<Cert>.{crt,key}; "" = "rsa2048".
	Cert string
	// DH names testdata/certs/<DH>.pem for tls_dhparam; "" = Exim's default.
	// Note: Debian's Exim 4.96 with GnuTLS 3.7 sends the 2048-bit RFC 7919
	// prime whatever smaller file is configured, so Exim cannot serve weak DH
	// (StartOpenSSL can).
	DH string
	// NoSTARTTLS sets tls_advertise_hosts empty: STARTTLS is not offered.
	NoSTARTTLS bool
	// Banner is smtp_banner (expanded by Exim; a newline gives a multi-line
	// banner); "" = "$smtp_active_hostname ESMTP Exim $version_number lab".
	Banner string
	// Extra holds raw main-section config lines ("name = value", one per
	// line). An option set here replaces the lab's own setting of it, e.g.
	// "tls_require_ciphers = NORMAL:+DHE-DSS:+SIGN-DSA-SHA256:+SIGN-DSA-SHA1".
	Extra string
	// Listen is the address to serve on, "127.0.0.N:PORT" (a port of 0 picks
	// a free one); "" = a free port on 127.0.0.1. Servers on several loopback
	// addresses with one port stand for the MX hosts of a domain.
	Listen string
	// Binary is the Exim to run; "" = Debian's exim (GnuTLS).
	// EximOpenSSLBinary gives one built with OpenSSL.
	Binary string
}

// eximUsers are the names Exim's unprivileged user goes by (Debian first).
var eximUsers = []string{"Debian-exim", "exim"}

// eximAttempts bounds the retries when another process takes the chosen port.
const eximAttempts = 5

// StartExim starts a real Exim daemon (Debian's exim4-daemon-light, GnuTLS,
// unless o.Binary names another) as an SMTP server with STARTTLS on
// 127.0.0.1, with its own configuration, spool and logs in a t.TempDir
// (Server.Dir): it accepts every recipient and delivers to :blackhole:. It
// runs `exim -C DIR/exim.conf -bdf -oX PORT -oP DIR/exim.pid` (-bdf: -bd that
// stays in the foreground, so the test owns the process) and returns once the
// port answers with a banner. Exim runs as Debian-exim (it gives up root for
// -C), so the directory is world-readable and its spool and log are owned by
// Debian-exim (eximDir). Needs root; without it the test is skipped (failed
// under CI=true). If the test fails, the Exim logs are copied to t.Log.
func StartExim(t testing.TB, o EximOptions) *Server {
	t.Helper()
	exim := eximBinary(t, o.Binary)
	Require(t, "timeout")
	RequireRoot(t, "exim -bd is for admin users, and the spool must belong to Debian-exim")
	timeoutBin, _ := lookTool("timeout")

	dir := eximDir(t)
	if o.Cert == "" {
		o.Cert = "rsa2048"
	}
	files := map[string]string{"cert.crt": o.Cert + ".crt", "cert.key": o.Cert + ".key"}
	if o.DH != "" {
		files["dh.pem"] = o.DH + ".pem"
	}
	for dst, src := range files {
		copyFile(t, certFile(t, src), filepath.Join(dir, dst), 0o644)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logEximLogs(t, dir)
		}
	})

	var lastErr error
	for attempt := 0; attempt < eximAttempts; attempt++ {
		ip, port := listenAddr(t, o.Listen)
		if port == 0 {
			port = pickPort(t)
		}
		cfg := filepath.Join(dir, "exim.conf")
		if err := os.WriteFile(cfg, []byte(eximConfig(dir, o)), 0o644); err != nil {
			t.Fatal(err)
		}
		// timeout(1) outlives a crashed test binary only for a while: Exim
		// loses Pdeathsig when it changes uid, timeout keeps it and, when it
		// dies, passes SIGTERM on to Exim.
		cmd := exec.Command(timeoutBin, "-k", "5", strconv.Itoa(int(lifetime(t)/time.Second)),
			exim, "-C", cfg, "-bdf", "-oX", strconv.Itoa(port), "-oP", filepath.Join(dir, "exim.pid"))
		p, err := startProc(t, "exim: ", cmd)
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(ip, uint16(port))
		if lastErr = waitBanner(addr, p, 15*time.Second); lastErr == nil {
			return &Server{Addr: addr, Dir: dir}
		}
		p.stop()
		if !strings.Contains(readLogs(dir), "Address already in use") {
			break
		}
		t.Logf("exim: port %d taken, trying another", port)
	}
	logEximLogs(t, dir)
	t.Fatalf("start exim: %v", lastErr)
	return nil
}

// eximConfig writes the configuration: the lab's main options (minus those
// Extra sets), Extra, an ACL accepting every recipient, a :blackhole: router.
func eximConfig(dir string, o EximOptions) string {
	banner := o.Banner
	if banner == "" {
		banner = "$smtp_active_hostname ESMTP Exim $version_number lab"
	}
	advertise := "*"
	if o.NoSTARTTLS {
		advertise = ""
	}
	main := [][2]string{
		{"primary_hostname", "mx.test"},
		{"spool_directory", dir + "/spool"},
		{"log_file_path", dir + "/log/%slog"},
		{"local_interfaces", "<; " + func() string { ip, _ := listenAddr(nil, o.Listen); return ip.String() }()},
		{"daemon_startup_retries", "0"},
		{"keep_environment", ""},
		{"rfc1413_query_timeout", "0s"},
		{"host_lookup", ""},
		{"log_selector", "+tls_certificate_verified +tls_peerdn +smtp_connection"},
		{"smtp_banner", strings.ReplaceAll(banner, "\n", `\n`)},
		{"tls_advertise_hosts", advertise},
		{"tls_certificate", dir + "/cert.crt"},
		{"tls_privatekey", dir + "/cert.key"},
		{"acl_smtp_rcpt", "acl_check_rcpt"},
	}
	if o.DH != "" {
		main = append(main, [2]string{"tls_dhparam", dir + "/dh.pem"})
	}
	if o.Binary != "" {
		// Exim runs itself again to deliver; its compiled-in path is not o.Binary.
		main = append(main, [2]string{"exim_path", o.Binary})
	}
	extra := map[string]bool{}
	for _, line := range strings.Split(o.Extra, "\n") {
		if name, _, ok := strings.Cut(line, "="); ok {
			extra[strings.TrimSpace(name)] = true
		}
	}
	var b strings.Builder
	b.WriteString("# Written by internal/lab.StartExim for one test.\n")
	for _, kv := range main {
		if !extra[kv[0]] {
			fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
		}
	}
	if o.Extra != "" {
		b.WriteString(strings.TrimRight(o.Extra, "\n") + "\n")
	}
	b.WriteString(`
begin acl
acl_check_rcpt:
  accept

begin routers
blackhole:
  driver = redirect
  data = :blackhole:
`)
	return b.String()
}

// waitBanner waits until addr answers with a 220 line, or p exits. Each try
// waits for the banner for a short while only: a port that another program
// has taken may accept and stay silent, and then Exim's exit is what counts.
func waitBanner(addr netip.AddrPort, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("exim exited: %v", p.err)
		}
		if err = readBanner(addr, 500*time.Millisecond); err == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("no banner on %v after %v: %w", addr, timeout, err)
}

// readBanner connects to addr and reads a line starting with 220.
func readBanner(addr netip.AddrPort, wait time.Duration) error {
	c, err := net.DialTimeout("tcp", addr.String(), wait)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("banner %q", line)
	}
	return nil
}

// eximBinary returns bin, or Debian's exim when bin is "".
func eximBinary(t testing.TB, bin string) string {
	t.Helper()
	if bin == "" {
		Require(t, "exim")
		bin, _ = lookTool("exim")
	}
	return bin
}

// eximDir makes a t.TempDir for an Exim run as root with -C: readable by
// everyone, with spool and log subdirectories owned by Debian-exim (Exim
// gives up root for -C and writes them as that user).
func eximDir(t testing.TB) string {
	t.Helper()
	uid, gid, err := eximIDs()
	if err != nil {
		t.Fatalf("exim user: %v", err)
	}
	dir := t.TempDir()
	// t.TempDir's parent is private (0700); Exim, once it is Debian-exim, must get in.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"spool", "log"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func eximIDs() (uid, gid int, err error) {
	for _, name := range eximUsers {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil {
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("none of the users %v exists", eximUsers)
}

// listenAddr parses a Listen option: "" is 127.0.0.1 with port 0.
func listenAddr(t testing.TB, listen string) (netip.Addr, int) {
	if listen == "" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().IsLoopback() {
		if t != nil {
			t.Fatalf("lab: Listen %q is not a loopback ip:port", listen)
		}
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0
	}
	return ap.Addr(), int(ap.Port())
}

// pickPort chooses Exim's port (a variable so that a test can hand out a taken one).
var pickPort = FreePort

// FreePort returns a port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lifetime bounds how long a server may outlive a crashed test binary.
func lifetime(t testing.TB) time.Duration {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			return max(time.Until(dl), 0) + time.Minute
		}
	}
	return time.Hour
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil { // WriteFile's mode is cut by the umask
		t.Fatal(err)
	}
}

func readLogs(dir string) string {
	var b strings.Builder
	for _, name := range []string{"mainlog", "paniclog", "rejectlog"} {
		if data, err := os.ReadFile(filepath.Join(dir, "log", name)); err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "--- %s\n%s", name, data)
		}
	}
	return b.String()
}

func logEximLogs(t testing.TB, dir string) {
	if logs := readLogs(dir); logs != "" {
		t.Logf("exim logs in %s:\n%s", dir, logs)
	}
}
