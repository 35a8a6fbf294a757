package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EximSendOptions configure SendWithExim.
type EximSendOptions struct {
	// Binary is the sending Exim; "" = Debian's exim (GnuTLS).
	// EximOpenSSLBinary gives one built with OpenSSL.
	Binary string
	// To is the server the message goes to (a lab server on 127.0.0.N).
	To netip.AddrPort
	// Transport holds raw smtp transport option lines ("name = value", one
	// per line), e.g. "tls_require_ciphers = DEFAULT:@SECLEVEL=1".
	Transport string
}

// EximSent is what one SendWithExim run left behind.
type EximSent struct {
	Dir    string // the sender's directory (exim.conf, spool, log)
	Log    string // the sender's main log
	Output string // exim's own output and exit status, if any
}

// sendRcpt is the recipient of every SendWithExim message.
const sendRcpt = "rcpt@lab.test"

// SendWithExim delivers one message to sendRcpt with a real Exim as the
// sending MTA: `exim -C DIR/exim.conf -odi` as root, with a fresh spool (so
// no retry hints from an earlier run), a manualroute router sending every
// address to o.To (no DNS, no network namespace) and an smtp transport with
// the default TLS settings plus o.Transport. Exim's defaults stand:
// STARTTLS is tried whenever offered and tls_tempfail_tryclear delivers in
// clear after a failed handshake. It returns once exim has exited, with the
// main log; a panic log fails the test.
func SendWithExim(t testing.TB, o EximSendOptions) *EximSent {
	t.Helper()
	exim := eximBinary(t, o.Binary)
	RequireRoot(t, "exim -C with -f, and the spool must belong to Debian-exim")
	if !o.To.Addr().IsLoopback() {
		t.Fatalf("lab: SendWithExim to %v: not a loopback address", o.To)
	}
	dir := eximDir(t)
	cfg := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(cfg, []byte(senderConfig(dir, exim, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exim, "-C", cfg, "-odi", "-f", "sender@sender.test", "--", sendRcpt)
	cmd.Stdin = strings.NewReader("From: sender@sender.test\nSubject: lab\n\nhello\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		out = fmt.Appendf(out, "[exit: %v]", err)
	}
	s := &EximSent{Dir: dir, Output: string(out)}
	log, rerr := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
	if rerr != nil {
		t.Fatalf("exim -odi: %s; no main log: %v", out, rerr)
	}
	s.Log = string(log)
	if p, _ := os.ReadFile(filepath.Join(dir, "log", "paniclog")); len(p) > 0 {
		if p := panics(string(p)); p != "" {
			t.Errorf("sending Exim's panic log:\n%s", p)
		}
	}
	return s
}

// lostPrivilege is the panic log line of every run with -C (Exim gives up
// root; the lab expects it).
const lostPrivilege = "exim user lost privilege for using -C option"

// panics returns the lines of a panic log other than lostPrivilege.
func panics(log string) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		if l != "" && !strings.HasSuffix(l, " "+lostPrivilege) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// senderConfig is the sending Exim's configuration. The router's self =
// send and the transport's allow_localhost let it deliver to 127.0.0.N,
// which it counts as itself; exim_path is the binary itself (Exim runs it
// again, with -Mc, to deliver).
func senderConfig(dir, exim string, o EximSendOptions) string {
	return fmt.Sprintf(`# Written by internal/lab.SendWithExim for one test.
primary_hostname = sender.test
exim_path = %[5]s
spool_directory = %[1]s/spool
log_file_path = %[1]s/log/%%slog
keep_environment =
host_lookup =
rfc1413_query_timeout = 0s
log_selector = +tls_peerdn +outgoing_port

begin routers
lab:
  driver = manualroute
  route_list = * %[2]s
  self = send
  transport = lab_smtp

begin transports
lab_smtp:
  driver = smtp
  port = %[3]s
  allow_localhost
%[4]s
`, dir, o.To.Addr(), strconv.Itoa(int(o.To.Port())), indent(o.Transport), exim)
}

func indent(lines string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

var fieldTLS = regexp.MustCompile(` X=(\S+)`)

// Delivery returns the main log's delivery line ("=>") of the message, or "".
func (s *EximSent) Delivery() string {
	return s.Line(" => " + sendRcpt + " ")
}

// TLS returns the X= field (protocol:cipher:bits) of the delivery line; ""
// when the message went in clear or was not delivered.
func (s *EximSent) TLS() string {
	if m := fieldTLS.FindStringSubmatch(s.Delivery()); m != nil {
		return m[1]
	}
	return ""
}

// Line returns the first main log line holding sub, or "".
func (s *EximSent) Line(sub string) string {
	for _, l := range strings.Split(s.Log, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
