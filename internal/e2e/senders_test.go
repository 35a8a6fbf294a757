package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// eximBuild is one Debian Exim as the sending MTA: this machine's (Debian
// 12, Exim 4.96 with GnuTLS 3.7) or a lab root's (Debian 13, Exim 4.98 with
// GnuTLS 3.8), run inside the test's namespace. A sender made from it
// (newSender, newFragmentSender) takes that release's conf.d, example.conf
// and update-exim4.conf, and runs that release's exim4.
type eximBuild struct {
	name string // "bookworm", "trixie"
	root string // the lab root ("" = this machine's /)
	// contrib is this tree's contrib/exim, bound into a lab root for the
	// fragment's .include.
	contrib string
}

// bookworm is this machine's Exim, the one every older test uses.
var bookworm = &eximBuild{name: "bookworm"}

// trixieBuild is Debian 13's Exim, from the lab root trixie-exim (skipped,
// or failed under CI=true, when the root is missing).
func trixieBuild(t *testing.T) *eximBuild {
	t.Helper()
	return &eximBuild{name: "trixie", root: lab.RootDir(t, "trixie-exim"), contrib: filepath.Join(repoRoot(t), "contrib/exim")}
}

// gnutlsBuilds are the GnuTLS Exims a test runs over: both must route and
// get TLS alike.
func gnutlsBuilds(t *testing.T) []*eximBuild {
	t.Helper()
	return []*eximBuild{bookworm, trixieBuild(t)}
}

// suffix tells the files of the builds apart ("" for bookworm's, which
// keeps the older tests' names).
func (b *eximBuild) suffix() string {
	if b.root == "" {
		return ""
	}
	return "-" + b.name
}

// ids are the Debian-exim user and group of the build: a lab root's own
// (Debian 13: 100:101) differ from this machine's.
func (b *eximBuild) ids(t *testing.T) (int, int) {
	t.Helper()
	if b.root == "" {
		return eximIDs(t)
	}
	return lab.RootUserIDs(t, b.root, "Debian-exim")
}

// mkdirExim makes dir (0750) owned by the build's Exim user.
func (b *eximBuild) mkdirExim(t *testing.T, dir string) {
	t.Helper()
	uid, gid := b.ids(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// command runs args in the namespace with the build's programs. In a lab
// root, chrooted in a mount namespace of its own: the test's directory
// (configurations, spools, the daemon's socket) and contrib/exim (the
// fragment's .include) appear at their paths, the namespace's
// /etc/netns/NAME/exim4 (sender.install) over the root's /etc/exim4, where
// Debian's Exim looks first, and the namespace's resolv.conf (dnsmasq)
// over the root's: the cached root itself is never written.
func (b *eximBuild) command(ctx context.Context, ns *netns, args ...string) *exec.Cmd {
	if b.root == "" {
		return ns.command(ctx, args...)
	}
	etc := filepath.Join("/etc/netns", ns.name)
	os.MkdirAll(filepath.Join(etc, "exim4"), 0o755) // a failure shows as Exim's own error
	mounts := []lab.Mount{
		{Src: ns.dir, Dst: ns.dir},
		{Src: b.contrib, Dst: b.contrib},
		{Src: filepath.Join(etc, "exim4"), Dst: "/etc/exim4"},
		{Src: filepath.Join(etc, "resolv.conf"), Dst: "/etc/resolv.conf"},
	}
	return lab.RootCommandContext(ctx, b.root, ns.name, mounts, args...)
}

// run runs args with the build's programs and fails the test on error.
func (b *eximBuild) run(t *testing.T, ns *netns, args ...string) string {
	t.Helper()
	if b.root == "" {
		return run(t, args[0], args[1:]...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := b.command(ctx, ns, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %v\n%s", b.name, args, err, out)
	}
	return string(out)
}

// mta is a sending Exim as a test drives it, whatever its build.
type mta interface {
	// send delivers one message with exim -odi and returns the main log.
	send(t *testing.T, phase string, o sendOptions, rcpts ...string) *eximLog
	// route runs exim -bt addr with TLSPROBED_SOCKET = socket.
	route(t *testing.T, socket, addr string) string
}

// route is mta's route for Debian's Exims.
func (s *sender) route(t *testing.T, socket, addr string) string {
	t.Helper()
	return s.test(t, s.config, socket, addr)
}

// route is mta's route for the OpenSSL-built Exim.
func (s *opensslSender) route(t *testing.T, socket, addr string) string {
	t.Helper()
	return s.test(t, socket, addr)
}

// senderBuild is one sending Exim of allSenders, for a test that runs the
// same deliveries over each:
//
//	for _, sb := range allSenders(t) { s := sb.fragment(t, ns); ... }
//
// client is the daemon's probe.client that models it: a daemon answers
// for one client, so a test starts one daemon per client it uses.
type senderBuild struct {
	name     string
	client   string // "gnutls" or "openssl"
	fragment func(t *testing.T, ns *netns) mta
	confd    func(t *testing.T, ns *netns, macros string) mta
}

// allSenders are the sending Exims: Debian 12's (4.96, GnuTLS 3.7),
// Debian 13's (4.98, GnuTLS 3.8, lab root trixie-exim) and Exim 4.96 built
// with OpenSSL 3.0 (lab.EximOpenSSLBinary), each with contrib/exim as the
// single-file fragment and as Debian's conf.d snippets (enabled).
func allSenders(t *testing.T) []senderBuild {
	t.Helper()
	var all []senderBuild
	for _, b := range gnutlsBuilds(t) {
		all = append(all, senderBuild{
			name: b.name, client: "gnutls",
			fragment: func(t *testing.T, ns *netns) mta { return b.newFragmentSender(t, ns) },
			confd: func(t *testing.T, ns *netns, macros string) mta {
				return b.newSender(t, ns, "exim-confd"+b.suffix(), true, macros)
			},
		})
	}
	bin := lab.EximOpenSSLBinary(t)
	all = append(all, senderBuild{
		name: "openssl", client: "openssl",
		fragment: func(t *testing.T, ns *netns) mta {
			return newOpenSSLSender(t, ns, bin, bookworm.newFragmentSender(t, ns).config, "exim-fragment-openssl.conf", "TLSPROBED_OPENSSL = yes")
		},
		confd: func(t *testing.T, ns *netns, macros string) mta {
			base := bookworm.newSender(t, ns, "exim-confd-openssl-base", true, macros+"TLSPROBED_OPENSSL = yes\n")
			return newOpenSSLSender(t, ns, bin, base.config, "exim-confd-openssl.conf")
		},
	})
	return all
}

// TestSendersRouteWithoutDaemon checks every sender of allSenders, both
// configurations: it loads in that Exim and, with no daemon behind the
// socket, routes a domain found through the namespace's dnsmasq to
// dnslookup and remote_smtp, as if contrib/exim were not there.
func TestSendersRouteWithoutDaemon(t *testing.T) {
	requireE2E(t)
	ns := newNetns(t, dnsAddr, senderAddr, modern.addr, dnsAddr)
	startDNS(t, ns, dnsAddr, modern)
	missing := filepath.Join(ns.dir, "missing", "tlsprobed.sock")
	for _, sb := range allSenders(t) {
		for _, c := range []struct {
			name string
			s    mta
		}{{"fragment", sb.fragment(t, ns)}, {"conf.d", sb.confd(t, ns, "")}} {
			out := c.s.route(t, missing, rcpt(modern))
			if !strings.Contains(out, "router = dnslookup, transport = "+plainTransport) {
				t.Errorf("%s %s: exim -bt %s with no daemon: want dnslookup and %s:\n%s", sb.name, c.name, rcpt(modern), plainTransport, out)
			} else {
				t.Logf("figure: %s %s: exim -bt %s: dnslookup, %s", sb.name, c.name, rcpt(modern), plainTransport)
			}
		}
	}
}
