package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
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
	want := 1
	switch {
	case verb == "stats":
		want = 0
	case verb == "list" && fl.NArg() == 0:
		want = 0
	case verb == "list" && fl.Arg(0) != socket.ListSmallKey && fl.Arg(0) != socket.ListTLSExport:
		fmt.Fprintf(stderr, "tlsprobe list: want smallkey, tlsexport or nothing, not %q\n", fl.Arg(0))
		return 2
	}
	if fl.NArg() != want {
		fmt.Fprintf(stderr, "tlsprobe %s: want %d argument(s), got %d\n", verb, want, fl.NArg())
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
		fmt.Fprintf(stderr, "tlsprobe %s: %v\n", verb, err)
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
		// The daemon answers a request it cannot parse with nothing.
		fmt.Fprintf(stderr, "tlsprobe %s: empty answer: is the daemon older than this command?\n", verb)
		return 1
	default:
		if err := printAdmin(stdout, verb, b); err != nil {
			fmt.Fprintf(stderr, "tlsprobe %s: %v\n", verb, err)
			return 1
		}
	}
	return 0
}
