package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/mx"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// runQuery sends one request to a running daemon and prints the answer:
// query the bare word with a newline (the daemon sends Exim none), flush
// "ok", and stats, explain and list as aligned text, or the daemon's JSON
// line with -json.
func runQuery(verb string, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobe "+verb, flag.ContinueOnError)
	fl.SetOutput(stderr)
	sockPath := fl.String("socket", config.Default().Listen.Socket, "the daemon's socket `path`, or inet:HOST:PORT")
	timeout := fl.Duration("timeout", 10*time.Second, "give up after this long")
	asJSON := false
	if verb == "stats" || verb == "explain" || verb == "list" {
		fl.BoolVar(&asJSON, "json", false, "print the daemon's JSON answer")
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if msg := checkQueryArgs(verb, fl.Args()); msg != "" {
		fmt.Fprintf(stderr, "tlsprobe %s: %s\nusage: %s\n", verb, msg, queryUsage[verb])
		return 2
	}
	req := strings.TrimSpace(verb + " " + fl.Arg(0))
	if verb == "query" {
		req = fl.Arg(0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	b, err := socket.Query(ctx, *sockPath, req)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe %s: %s\n", verb, describeQueryError(*sockPath, err))
		return 1
	}
	out := string(b)
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	switch {
	case strings.HasPrefix(out, "error:"):
		fmt.Fprint(stderr, out)
		return 1
	case verb == "query" || verb == "flush" || asJSON:
		fmt.Fprint(stdout, out)
	case len(b) == 0:
		// The daemon answers a request it cannot parse with nothing; the
		// arguments were checked above, so the daemon does not know the verb.
		fmt.Fprintf(stderr, "tlsprobe %s: the daemon gave the empty answer: it does not know %q (is it older than this command?)\n", verb, verb)
		return 1
	default:
		if err := printAdmin(stdout, verb, b); err != nil {
			fmt.Fprintf(stderr, "tlsprobe %s: %v\n", verb, err)
			return 1
		}
	}
	return 0
}

// queryUsage is the synopsis of each verb, for its usage errors.
var queryUsage = map[string]string{
	"query":   "tlsprobe query [-socket PATH] DOMAIN",
	"explain": "tlsprobe explain [-socket PATH] [-json] DOMAIN",
	"stats":   "tlsprobe stats [-socket PATH] [-json]",
	"list":    "tlsprobe list [-socket PATH] [-json] [smallkey|tlsexport|nodhe|seclevel1|seclevel0]",
	"flush":   "tlsprobe flush [-socket PATH] DOMAIN|all",
}

// checkQueryArgs checks the arguments of verb before anything is sent: the
// daemon answers a request it cannot parse with nothing, which would leave
// the user guessing. It returns what is wrong, or "".
func checkQueryArgs(verb string, args []string) string {
	switch {
	case verb == "stats" && len(args) != 0:
		return fmt.Sprintf("takes no argument, got %s", quoteArgs(args))
	case verb == "stats":
		return ""
	case verb == "list" && len(args) > 1:
		return fmt.Sprintf("takes one list name at most, got %s", quoteArgs(args))
	case verb == "list" && len(args) == 1 && !slices.Contains([]string{socket.ListSmallKey, socket.ListTLSExport, socket.ListNoDHE, socket.ListSecLevel1, socket.ListSecLevel0}, args[0]):
		return fmt.Sprintf("%q is not a list: want smallkey, tlsexport, nodhe, seclevel1, seclevel0 or nothing", args[0])
	case verb == "list":
		return ""
	case len(args) == 0:
		return "which domain?"
	case len(args) > 1:
		return fmt.Sprintf("takes one domain, got %d arguments: %s", len(args), quoteArgs(args))
	case verb == "flush" && args[0] == "all":
		return ""
	}
	if _, err := mx.Normalize(args[0]); err != nil {
		return fmt.Sprintf("%q is not a domain name: %s", args[0], badDomainReason(err))
	}
	return ""
}

// badDomainReason is mx.Normalize's error without its "bad domain: %q: "
// prefix, which the caller's message already says.
func badDomainReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `": `); i >= 0 {
		return msg[i+3:]
	}
	return strings.TrimPrefix(msg, mx.ErrBadDomain.Error()+": ")
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

// eximReadme is where the Debian package installs contrib/exim/README.md
// (packaging/deb/nfpm.yaml), named in messages for the installed tool.
const eximReadme = "/usr/share/doc/exim-tlsprobe/README.exim.md (contrib/exim/README.md in the source)"

// describeQueryError says in one phrase why the daemon at addr could not be
// asked: the operating system's reason once, without the layers of
// "connect to X: dial unix X: connect:" that repeat the address.
func describeQueryError(addr string, err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		reason := op.Err
		var se *os.SyscallError
		if errors.As(reason, &se) {
			reason = se.Err
		}
		switch {
		case op.Op == "dial" && errors.Is(reason, syscall.ENOENT):
			return fmt.Sprintf("cannot connect to %s: no such socket (is tlsprobed running? -socket names another path)", addr)
		case op.Op == "dial" && errors.Is(reason, syscall.ECONNREFUSED):
			return fmt.Sprintf("cannot connect to %s: connection refused (is tlsprobed running?)", addr)
		case op.Op == "dial" && errors.Is(reason, syscall.EACCES):
			return fmt.Sprintf("cannot connect to %s: permission denied (see \"Admins without root\" in %s)", addr, eximReadme)
		case op.Op == "dial":
			return fmt.Sprintf("cannot connect to %s: %v", addr, reason)
		case op.Timeout():
			return fmt.Sprintf("no answer from %s in time (-timeout)", addr)
		}
		return fmt.Sprintf("%s %s: %v", op.Op, addr, reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer from %s in time (-timeout)", addr)
	}
	return err.Error()
}
