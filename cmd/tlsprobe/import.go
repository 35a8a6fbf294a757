package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
)

// maxEximFile bounds what import reads of one file.
const maxEximFile = 16 << 20

// runImport reads Exim configuration files, finds the classic named lists
// and prints them as the [overrides] section of config.toml. What cannot be
// imported is reported on stderr with its file and line; the exit status is
// then 1. Notes about what was imported anyway (a list defined in two files)
// are reported too, with exit status 0.
func runImport(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobe import", flag.ContinueOnError)
	fl.SetOutput(stderr)
	smallkey := fl.String("smallkey", "smallkey", "`name` of the Exim list of hosts with small certificate keys")
	tlsexport := fl.String("tlsexport", "tlsexport", "`name` of the Exim list of hosts with export-size DH primes")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: tlsprobe import [-smallkey NAME] [-tlsexport NAME] FILE...")
		fmt.Fprintln(stderr, "Print the [overrides] of config.toml from Exim's \"domainlist smallkey = ...\" and \"domainlist tlsexport = ...\" (hostlist too).")
		fmt.Fprintln(stderr, "Write it to a file of [overrides] directory, never append it to config.toml (a second [overrides] table breaks it):")
		fmt.Fprintln(stderr, "  tlsprobe import /etc/exim4/conf.d/main/000_localmacros > /etc/tlsprobed/overrides.d/classic.toml")
		fmt.Fprintln(stderr, "Exit status 1: something was not imported (each is reported with file and line).")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 || *smallkey == *tlsexport {
		fl.Usage()
		return 2
	}
	names := map[string]string{*smallkey: config.ListSmallKey, *tlsexport: config.ListTLSExport}
	var files []config.EximLists
	status := 0
	for _, path := range fl.Args() {
		data, err := readBounded(path, maxEximFile)
		if err != nil {
			fmt.Fprintf(stderr, "tlsprobe import: %v\n", err)
			status = 1
			continue
		}
		files = append(files, config.ParseEximLists(path, data, names))
	}
	im := config.ImportEximLists(files...)
	for _, p := range im.Problems() {
		fmt.Fprintf(stderr, "tlsprobe import: %s\n", p)
	}
	if !im.Complete() {
		status = 1
	}
	if err := im.WriteTOML(stdout); err != nil {
		fmt.Fprintf(stderr, "tlsprobe import: %v\n", err)
		return 1
	}
	return status
}

// readBounded reads a whole file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, limit)
	}
	return data, nil
}
