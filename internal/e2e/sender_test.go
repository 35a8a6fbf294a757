package e2e

import (
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/lab"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sender is Debian's Exim as the sending MTA, with a configuration built the
// way an administrator builds it: a copy of /etc/exim4/conf.d (plus, when
// asked, the files of contrib/exim/debian/conf.d copied over it), an
// update-exim4.conf.conf for an "internet site", a main/000_localmacros, and
// update-exim4.conf -d CONFDIR -o FILE.
type sender struct {
	ns     *netns
	confd  string     // the CONFDIR given to update-exim4.conf
	config string     // the generated configuration
	build  *eximBuild // whose Exim (see senders_test.go)
}

// updateExim4Conf is update-exim4.conf.conf of the sending MTA: an internet
// site using the split configuration, listening on loopback only (or it
// would take the lab addresses of the namespace for its own and refuse to
// deliver to them), with no other host names (the MX hosts are not local).
const updateExim4Conf = `dc_eximconfig_configtype='internet'
dc_other_hostnames=''
dc_local_interfaces='127.0.0.1 ; ::1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='true'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
`

// newSender assembles the configuration in DIR/name. localMacros is written
// to conf.d/main/000_localmacros; SPOOLDIR and TLSPROBED_SOCKET are set per
// send (see install).
func newSender(t *testing.T, ns *netns, name string, snippets bool, localMacros string) *sender {
	t.Helper()
	return bookworm.newSender(t, ns, name, snippets, localMacros)
}

// newSender is newSender for the Exim of b: its root's conf.d and
// update-exim4.conf.
func (b *eximBuild) newSender(t *testing.T, ns *netns, name string, snippets bool, localMacros string) *sender {
	t.Helper()
	confd := filepath.Join(ns.dir, name)
	if err := os.MkdirAll(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", "-a", filepath.Join(b.root, "/etc/exim4/conf.d"), confd+"/")
	if snippets {
		// What the README tells the administrator to do.
		run(t, "cp", "-r", filepath.Join(repoRoot(t), "contrib/exim/debian/conf.d")+"/.", filepath.Join(confd, "conf.d")+"/")
	}
	writeFile(t, filepath.Join(confd, "update-exim4.conf.conf"), updateExim4Conf, 0o644)
	macros := fmt.Sprintf("# test-only local macros\nMAIN_HARDCODE_PRIMARY_HOSTNAME = mta.sender.test\nCONFDIR = %s\nlog_file_path = SPOOLDIR/log/%%slog\n%s", confd, localMacros)
	if snippets {
		// The snippets are inert until the administrator enables them.
		macros += "TLSPROBED_ENABLE = yes\n"
	}
	writeFile(t, filepath.Join(confd, "conf.d/main/000_localmacros"), macros, 0o644)
	s := &sender{ns: ns, confd: confd, config: filepath.Join(confd, "exim4.conf.generated"), build: b}
	b.run(t, ns, "update-exim4.conf", "-d", confd, "-o", s.config)
	return s
}

// repoRoot is the root of this source tree.
func repoRoot(t *testing.T) string {
	return filepath.Dir(filepath.Dir(lab.Testdata(t, "certs")))
}

// install makes config Exim's configuration inside the namespace: `ip netns
// exec` bind-mounts /etc/netns/NAME/exim4 over /etc/exim4, where Debian's
// Exim looks first (/etc/exim4/exim4.conf). No -C or -D is needed, so Exim
// keeps its privileges as in production (with -C it would run its
// deliveries without root: "exim user lost privilege for using -C option").
// macros (and main options) are prepended, in the role an administrator's
// main/000_localmacros or -D would play: SPOOLDIR (a fresh spool and log
// per phase) and TLSPROBED_SOCKET.
func (s *sender) install(t *testing.T, config string, macros ...string) {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/etc/netns", s.ns.name, "exim4")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	head := "# macros set by the end-to-end test\n" + strings.Join(macros, "\n") + "\n"
	writeFile(t, filepath.Join(dir, "exim4.conf"), head+string(b), 0o644)
}

// sendOptions vary one send.
type sendOptions struct {
	socket string   // TLSPROBED_SOCKET; "" = leave it unset
	lines  []string // extra main-section lines, e.g. "deliver_drop_privilege = true"
}

// send delivers one message to rcpts with `exim -odi` in the namespace, with
// a fresh spool (and so fresh retry hints and log) named after phase, and
// returns its main log.
func (s *sender) send(t *testing.T, phase string, o sendOptions, rcpts ...string) *eximLog {
	t.Helper()
	spool := filepath.Join(s.ns.dir, "spool-"+phase)
	s.build.mkdirExim(t, spool)
	s.build.mkdirExim(t, filepath.Join(spool, "log"))
	macros := []string{"SPOOLDIR = " + spool}
	if o.socket != "" {
		macros = append(macros, "TLSPROBED_SOCKET = "+o.socket)
	}
	s.install(t, s.config, append(macros, o.lines...)...)
	args := append([]string{"exim4", "-odi", "-f", "sender@sender.test", "--"}, rcpts...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.build.command(ctx, s.ns, args...)
	cmd.Stdin = strings.NewReader("From: sender@sender.test\nSubject: exim-tlsprobe e2e: " + phase + "\n\nhello\n")
	out, err := cmd.CombinedOutput()
	l := &eximLog{phase: phase}
	b, rerr := os.ReadFile(filepath.Join(spool, "log", "mainlog"))
	if rerr != nil {
		t.Fatalf("%s: exim -odi: %v %s; no main log: %v", phase, err, out, rerr)
	}
	l.text = string(b)
	if p, _ := os.ReadFile(filepath.Join(spool, "log", "paniclog")); len(p) > 0 {
		t.Errorf("%s: Exim panic log:\n%s", phase, p)
	}
	if err != nil || len(out) > 0 {
		t.Logf("%s: exim -odi: %v %s", phase, err, out)
	}
	t.Logf("%s: sending Exim's main log:\n%s", phase, l.text)
	return l
}

// test runs `exim -bt ADDRESS` (address test, as root) with config and
// TLSPROBED_SOCKET set to socket, and returns its output.
func (s *sender) test(t *testing.T, config, socket, addr string) string {
	t.Helper()
	spool := filepath.Join(s.ns.dir, "spool-bt")
	s.build.mkdirExim(t, spool)
	s.build.mkdirExim(t, filepath.Join(spool, "log"))
	s.install(t, config, "SPOOLDIR = "+spool, "TLSPROBED_SOCKET = "+socket)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := s.build.command(ctx, s.ns, "exim4", "-bt", addr).CombinedOutput() // exit code 1/2 = not routed
	return string(out)
}

// eximLog is the main log of one sending Exim run.
type eximLog struct {
	phase string
	text  string
}

// delivery is what a "=>" (or "->") line says about one recipient.
type delivery struct {
	line      string
	router    string // R=
	transport string // T=
	host      string // H=
	tls       string // X= ("" = delivered in clear)
}

var (
	fieldRouter    = regexp.MustCompile(` R=(\S+)`)
	fieldTransport = regexp.MustCompile(` T=(\S+)`)
	fieldHost      = regexp.MustCompile(` H=(\S+ \[[^]]+\])`)
	fieldTLS       = regexp.MustCompile(` X=(\S+)`)
)

// delivered returns the delivery line of rcpt, or fails the test.
func (l *eximLog) delivered(t *testing.T, rcpt string) delivery {
	t.Helper()
	for _, line := range strings.Split(l.text, "\n") {
		if !strings.Contains(line, " => "+rcpt+" ") && !strings.Contains(line, " -> "+rcpt+" ") {
			continue
		}
		d := delivery{line: line}
		for _, f := range []struct {
			re  *regexp.Regexp
			dst *string
		}{{fieldRouter, &d.router}, {fieldTransport, &d.transport}, {fieldHost, &d.host}, {fieldTLS, &d.tls}} {
			if m := f.re.FindStringSubmatch(line); m != nil {
				*f.dst = m[1]
			}
		}
		return d
	}
	t.Fatalf("%s: no delivery (=>) of %s in the sending Exim's log:\n%s", l.phase, rcpt, l.text)
	return delivery{}
}

// noDefers fails the test for every deferred (==) or failed (**) address.
func (l *eximLog) noDefers(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(l.text, "\n") {
		if strings.Contains(line, " == ") || strings.Contains(line, " ** ") {
			t.Errorf("%s: address deferred or failed: %s", l.phase, line)
		}
	}
}

// line returns the first log line containing s ("" if none).
func (l *eximLog) line(s string) string {
	for _, line := range strings.Split(l.text, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// newFragmentSender builds a single-file configuration the way the README
// tells a non-Debian administrator: Exim's default configuration (Debian
// ships it as examples/example.conf) with contrib/exim/exim.conf.fragment
// included at the top of the routers (before dnslookup) and, after
// TLSPROBED_TRANSPORTS = yes, in the transports.
func newFragmentSender(t *testing.T, ns *netns) *sender {
	t.Helper()
	return bookworm.newFragmentSender(t, ns)
}

// newFragmentSender is newFragmentSender for the Exim of b: its root's
// example.conf.
func (eb *eximBuild) newFragmentSender(t *testing.T, ns *netns) *sender {
	t.Helper()
	example := filepath.Join(eb.root, "/usr/share/doc/exim4-base/examples/example.conf")
	b, err := os.ReadFile(example)
	if err != nil {
		// Images that drop /usr/share/doc: the part of it that matters here.
		t.Logf("%v; using a minimal default-like configuration", err)
		b = []byte(minimalConfig)
	}
	frag := filepath.Join(repoRoot(t), "contrib/exim/exim.conf.fragment")
	conf := string(b)
	for _, r := range []struct{ section, add string }{
		{"\nbegin routers\n", ".include " + frag + "\n"},
		{"\nbegin transports\n", "TLSPROBED_TRANSPORTS = yes\n.include " + frag + "\n"},
	} {
		if strings.Count(conf, r.section) != 1 {
			t.Fatalf("%s: want one %q line", example, strings.TrimSpace(r.section))
		}
		conf = strings.Replace(conf, r.section, r.section+r.add, 1)
	}
	head := "# test-only settings\nprimary_hostname = mta.sender.test\nkeep_environment =\nspool_directory = SPOOLDIR\nlog_file_path = SPOOLDIR/log/%slog\nlocal_interfaces = <; 127.0.0.1 ; ::1\n"
	s := &sender{ns: ns, config: filepath.Join(ns.dir, "exim-fragment"+eb.suffix()+".conf"), build: eb}
	writeFile(t, s.config, head+conf, 0o644)
	return s
}

// minimalConfig is the routing and remote transport of Exim's default
// configuration, for when its copy in /usr/share/doc is missing.
const minimalConfig = `domainlist local_domains = @
domainlist relay_to_domains =
never_users = root

begin routers

dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
  no_more

begin transports

remote_smtp:
  driver = smtp
`
