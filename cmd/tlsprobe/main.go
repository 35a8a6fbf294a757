// Command tlsprobe is the postmaster's tool for exim-tlsprobe: it probes
// domains or MX hosts now and explains the verdict, and it queries a running
// tlsprobed.
//
//	tlsprobe probe [-json] [-host] DOMAIN...
//	tlsprobe query DOMAIN         (the word Exim would get)
//	tlsprobe explain [-json] DOMAIN
//	tlsprobe stats [-json]
//	tlsprobe list [-json] [smallkey|tlsexport|nodhe|seclevel1|seclevel0]
//	tlsprobe flush DOMAIN|all
//	tlsprobe import FILE...       (Exim's classic lists as [overrides])
//	tlsprobe -version
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/buildinfo"
)

const usage = `usage:
  tlsprobe probe [flags] DOMAIN...   probe the MX hosts of each domain now and explain the verdict
  tlsprobe query [-socket PATH] DOMAIN    ask a running tlsprobed, as Exim does
  tlsprobe explain [-socket PATH] [-json] DOMAIN  what the daemon knows of a domain
  tlsprobe stats [-socket PATH] [-json]   the daemon's counters
  tlsprobe list [-socket PATH] [-json] [smallkey|tlsexport|nodhe|seclevel1|seclevel0]  the MX hosts and domains flagged now, with age
  tlsprobe flush [-socket PATH] DOMAIN|all  make the daemon forget
  tlsprobe bench [flags] [DOMAIN...]      load a running daemon as Exim does; -floor compares with a minimal server
  tlsprobe import [-smallkey NAME] [-tlsexport NAME] FILE...  print Exim's classic domainlists as [overrides]
  tlsprobe -version
Run "tlsprobe COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 0 done, 1 some work failed, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, buildinfo.String("tlsprobe"))
		return 0
	case "probe":
		return runProbe(args[1:], stdout, stderr)
	case "query", "explain", "stats", "flush", "list":
		return runQuery(args[0], args[1:], stdout, stderr)
	case "import":
		return runImport(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tlsprobe: unknown command %q\n%s", args[0], usage)
	return 2
}
