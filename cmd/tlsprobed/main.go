// Command tlsprobed answers Exim's ${readsocket} lookups over a Unix socket:
// for a recipient domain it says "smallkey", "tlsexport" or nothing, so that
// Exim routes mail to MX servers with weak TLS through a transport that
// accepts them. See README.md.
//
//	tlsprobed [-config FILE] [-socket PATH] [-log-format text|json]
//	tlsprobed -check [-config FILE]
//	tlsprobed -version
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobed", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", config.DefaultPath, "configuration `file`; an absent default file means built-in defaults")
	socket := fl.String("socket", "", "Unix socket `path`, overriding listen.socket")
	check := fl.Bool("check", false, "check the configuration and exit")
	version := fl.Bool("version", false, "print the version and exit")
	logFormat := fl.String("log-format", "text", "log format: text or json")
	logLevel := fl.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 0 {
		fmt.Fprintf(stderr, "tlsprobed: unexpected arguments: %q\n", fl.Args())
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.String("tlsprobed"))
		return 0
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobed: %v\n", err)
		return 2
	}
	load := func() (*config.Config, error) {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return nil, err
		}
		if *socket != "" {
			cfg.Listen.Socket = *socket
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobed: %v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
		return 0
	}
	if err := serve(cfg, load, log); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads the config file; the default path may be absent, which
// means built-in defaults.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.LoadOrDefault(path)
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("parse -log-level: %w", err)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("parse -log-format: %q is neither text nor json", format)
}
