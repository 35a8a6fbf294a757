package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// runQuery sends one request to a running daemon and prints the answer
// with a trailing newline (the daemon sends Exim none).
func runQuery(verb string, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobe "+verb, flag.ContinueOnError)
	fl.SetOutput(stderr)
	socket := fl.String("socket", config.Default().Listen.Socket, "the daemon's socket `path`, or inet:HOST:PORT")
	timeout := fl.Duration("timeout", 10*time.Second, "give up after this long")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	want := 1
	if verb == "stats" {
		want = 0
	}
	if fl.NArg() != want {
		fmt.Fprintf(stderr, "tlsprobe %s: want %d argument(s), got %d\n", verb, want, fl.NArg())
		return 2
	}
	req := verb + " " + fl.Arg(0)
	switch verb {
	case "query":
		req = fl.Arg(0)
	case "stats":
		req = "stats"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	b, err := lookupd.Query(ctx, *socket, req)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobe %s: %v\n", verb, err)
		return 1
	}
	out := string(b)
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	fmt.Fprint(stdout, out)
	if strings.HasPrefix(out, "error:") {
		return 1
	}
	return 0
}
