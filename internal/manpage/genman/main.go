// Command genman writes the manual pages of exim-tlsprobe, tlsprobed(8),
// tlsprobe(1) and tlsprobed.toml(5), from the commands' own -help output
// and from contrib/config.example.toml, so that they cannot drift from
// them. scripts/deb runs it on the binaries it packages:
//
//	genman -tlsprobed BIN -tlsprobe BIN -config contrib/config.example.toml -version V -out DIR
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/internal/manpage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("genman", flag.ContinueOnError)
	daemon := fl.String("tlsprobed", "", "the tlsprobed `binary`")
	cli := fl.String("tlsprobe", "", "the tlsprobe `binary`")
	example := fl.String("config", "contrib/config.example.toml", "the example configuration `file`")
	version := fl.String("version", "", "package `version` for the page footers")
	date := fl.String("date", time.Now().UTC().Format("2006-01-02"), "`date` for the page footers")
	out := fl.String("out", "", "output `directory`")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *daemon == "" || *cli == "" || *out == "" || *version == "" {
		return errors.New("want -tlsprobed, -tlsprobe, -version and -out")
	}
	pages, err := Pages(*daemon, *cli, *example, *version, *date)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, p := range pages {
		name := filepath.Join(*out, p.Name+"."+p.Section)
		if err := os.WriteFile(name, []byte(p.Roff()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Pages builds the three pages.
func Pages(daemon, cli, example, version, date string) ([]manpage.Page, error) {
	dHelp, err := helpOf(daemon, "-h")
	if err != nil {
		return nil, err
	}
	usage, err := helpOf(cli, "-h")
	if err != nil {
		return nil, err
	}
	cmds := commandsOf(usage)
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s -h lists no commands", cli)
	}
	cmdBlocks := []manpage.Block{}
	for _, c := range cmds {
		h, err := helpOf(cli, c, "-h")
		if err != nil {
			return nil, err
		}
		cmdBlocks = append(cmdBlocks, manpage.S("tlsprobe "+c), manpage.V(h))
	}
	text, err := os.ReadFile(example)
	if err != nil {
		return nil, err
	}
	header, keys, err := manpage.ConfigBlocks(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", example, err)
	}
	// The footer is source left, date centred, page name right: a snapshot
	// version of scripts/deb (34 characters) ran into the date at 80
	// columns, so the footer names the package and a last section the
	// version.
	source := "exim-tlsprobe"
	pages := []manpage.Page{
		daemonPage(dHelp, source, date),
		cliPage(usage, cmdBlocks, source, date),
		configPage(header, keys, source, date),
	}
	for i := range pages {
		pages[i].Parts = append(pages[i].Parts, manpage.Part{Title: "VERSION",
			Blocks: []manpage.Block{manpage.P("This page is of exim-tlsprobe " + version + ".")}})
	}
	return pages, nil
}

// helpOf runs bin with args and returns what it printed (the flag package
// prints -h to stderr and exits 2).
func helpOf(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		return "", fmt.Errorf("run %s %v: %w", bin, args, err)
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("%s %v printed nothing", bin, args)
	}
	return b.String(), nil
}

var commandRE = regexp.MustCompile(`(?m)^  tlsprobe ([a-z]+) `)

// commandsOf lists the commands of tlsprobe's usage text, in order.
func commandsOf(usage string) []string {
	var cmds []string
	for _, m := range commandRE.FindAllStringSubmatch(usage, -1) {
		cmds = append(cmds, m[1])
	}
	return cmds
}
