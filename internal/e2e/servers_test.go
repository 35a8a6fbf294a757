package e2e

import (
	"net"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mxDomain is a test domain with one MX host at one lab address (and, if
// addr6 is set, an IPv6 address too).
type mxDomain struct {
	domain string // e.g. "dh768.test"
	addr   string // address of its MX host mx.DOMAIN
	addr6  string // its IPv6 address (AAAA), if any
}

func (d mxDomain) mx() string { return "mx." + d.domain }

// startDNS runs dnsmasq in the namespace on addr:53, answering for the test
// domains only (MX -> mx.DOMAIN -> A), NXDOMAIN for other .test names and
// refusing the rest (no upstream), and waits until it resolves.
func startDNS(t *testing.T, ns *netns, addr string, domains ...mxDomain) {
	t.Helper()
	args := []string{"dnsmasq", "-k", "--no-resolv", "--no-hosts", "--no-poll",
		"--bind-interfaces", "--listen-address=" + addr, "--port=53",
		"--pid-file=" + filepath.Join(ns.dir, "dnsmasq.pid"), "--user=root",
		"--local=/test/", "--local=/2.0.192.in-addr.arpa/",
		"--log-queries", "--log-facility=-"}
	for _, d := range domains {
		record := "--host-record=" + d.mx() + "," + d.addr
		if d.addr6 != "" {
			record += "," + d.addr6
		}
		args = append(args, "--mx-host="+d.domain+","+d.mx()+",10", record)
	}
	p := ns.start(t, "dnsmasq", nil, args...)
	p.waitFor(t, "answer for "+domains[0].mx(), 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		out, err := ns.command(ctx, "getent", "ahostsv4", domains[0].mx()).Output()
		return err == nil && strings.Contains(string(out), domains[0].addr)
	})
}

// fixtureOptions are the command-line options of testdata/fixtures/smtptls.c
// (see its header comment).
type fixtureOptions struct {
	Cert, DH, Ciphers, Max, Name string
	ServerPref                   bool // -serverpref: the server picks the suite, in Ciphers order
}

// startFixture runs the OpenSSL fixture on d.addr:25 in the namespace: the
// test binds the socket there and hands it over as fd 3 (the fixture itself
// only binds 127.0.0.1).
func startFixture(t *testing.T, ns *netns, bin string, d mxDomain, o fixtureOptions) *proc {
	t.Helper()
	return startFixtureOn(t, ns, bin, d, o, ns.listenTCP(t, net.JoinHostPort(d.addr, "25")))
}

// startFixtureOn is startFixture on a listening socket of the caller's (the
// test keeps it: a fixture stopped and started again serves the same one).
func startFixtureOn(t *testing.T, ns *netns, bin string, d mxDomain, o fixtureOptions, ln *os.File) *proc {
	t.Helper()
	args := []string{bin, "-fd", "3", "-name", d.mx(),
		"-cert", lab.Testdata(t, "certs/"+o.Cert+".crt"), "-key", lab.Testdata(t, "certs/"+o.Cert+".key")}
	if o.DH != "" {
		args = append(args, "-dh", lab.Testdata(t, "certs/"+o.DH+".pem"))
	}
	if o.Ciphers != "" {
		args = append(args, "-ciphers", o.Ciphers)
	}
	if o.Max != "" {
		args = append(args, "-max", o.Max)
	}
	if o.ServerPref {
		args = append(args, "-serverpref")
	}
	p := ns.start(t, "smtptls-"+d.domain, []*os.File{ln}, args...)
	p.waitFor(t, "READY", 10*time.Second, func() bool {
		b, _ := os.ReadFile(p.log)
		return strings.Contains(string(b), "READY")
	})
	return p
}

// eximServer is a receiving Exim (the Debian binary, its own config) that
// accepts every message and keeps it queued (queue_only, no queue runner).
type eximServer struct {
	d   mxDomain
	dir string
	p   *proc
}

// eximServerOptions: Cert names testdata/certs/NAME.{crt,key}; "" with
// NoSTARTTLS set means no TLS at all.
type eximServerOptions struct {
	Cert       string
	NoSTARTTLS bool
}

// startEximServer runs `exim -bdf` on d.addr:25 inside the namespace.
func startEximServer(t *testing.T, ns *netns, d mxDomain, o eximServerOptions) *eximServer {
	t.Helper()
	dir := filepath.Join(ns.dir, "server-"+d.domain)
	mkdirExim(t, dir)
	tls := "tls_advertise_hosts =\n"
	if !o.NoSTARTTLS {
		tls = fmt.Sprintf("tls_advertise_hosts = *\ntls_certificate = %s\ntls_privatekey = %s\n",
			lab.Testdata(t, "certs/"+o.Cert+".crt"), lab.Testdata(t, "certs/"+o.Cert+".key"))
	}
	conf := fmt.Sprintf(`# receiving test server for %[1]s
primary_hostname = %[2]s
spool_directory = %[3]s/spool
log_file_path = %[3]s/%%slog
pid_file_path = %[3]s/exim.pid
local_interfaces = %[4]s
daemon_smtp_ports = 25
host_lookup =
rfc1413_hosts =
keep_environment =
queue_only = true
log_selector = +smtp_connection +incoming_interface +tls_cipher
acl_smtp_rcpt = accept
%[5]s
begin routers
nowhere:
  driver = redirect
  data = :blackhole:
`, d.domain, d.mx(), dir, d.addr, tls)
	cfg := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &eximServer{d: d, dir: dir}
	s.p = ns.start(t, "exim-"+d.domain, nil, "exim4", "-C", cfg, "-bdf", "-oX", "25")
	s.p.waitFor(t, "listener on "+d.addr+":25", 10*time.Second, func() bool { return ns.listening(d.addr + ":25") })
	return s
}

// connectionsFrom counts the SMTP connections the server logged from addr.
func (s *eximServer) connectionsFrom(addr string) int {
	b, _ := os.ReadFile(filepath.Join(s.dir, "mainlog"))
	return strings.Count(string(b), "SMTP connection from ["+addr+"]")
}

// mainlog returns the server's main log.
func (s *eximServer) mainlog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "mainlog"))
	return string(b)
}

// eximIDs returns the uid and gid of Debian's Exim user.
func eximIDs(t *testing.T) (int, int) {
	t.Helper()
	u, err := user.Lookup("Debian-exim")
	if err != nil {
		t.Fatalf("look up the Exim user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// mkdirExim makes dir (mode 0750) owned by the Exim user, as Exim wants its
// spool and log directories.
func mkdirExim(t *testing.T, dir string) {
	t.Helper()
	uid, gid := eximIDs(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}
