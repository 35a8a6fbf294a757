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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/internal/buildinfo"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// defaultConfigPath is -config's default, the one path that may be absent
// (a variable only so that a test can build the daemon with another one:
// go build -ldflags=-X=main.defaultConfigPath=PATH).
var defaultConfigPath = config.DefaultPath

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tlsprobed", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigPath, "configuration `file`; an absent default file means built-in defaults")
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
	cfg, defaults, err := loadConfig(*cfgPath, *socket, false)
	if err != nil {
		fmt.Fprintf(stderr, "tlsprobed: %v\n", err)
		return 1
	}
	source := *cfgPath
	if defaults {
		source += " absent: built-in defaults"
	}
	if *check {
		return checkOnly(cfg, source, stdout, stderr)
	}
	// The signals are caught from here on, before the cache file loads:
	// a SIGHUP then (a reload by systemd, logrotate or an admin right
	// after a start) waits until the daemon listens instead of killing
	// it, SIGHUP's default action; a SIGTERM stops it once loaded.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	log.Info("config", "file", source)
	if err := serve(cfg, func() (*config.Config, error) {
		c, _, err := loadConfig(*cfgPath, *socket, true)
		return c, err
	}, sigs, log); err != nil {
		var se *startError
		if errors.As(err, &se) {
			log.Error("start", "result", "failed", "err", se.err)
			return 1
		}
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// loadConfig reads the configuration at path, with -socket's path when set,
// and checks the system for it. At start the default path may be absent
// (built-in defaults: defaults is true); a file named by -config, and any
// file on reload, must exist.
func loadConfig(path, socket string, reloading bool) (cfg *config.Config, defaults bool, err error) {
	c, err := config.Load(path)
	if !reloading && path == defaultConfigPath && errors.Is(err, fs.ErrNotExist) {
		c, err, defaults = config.Default(), nil, true
	}
	if err != nil {
		return nil, false, err
	}
	if socket != "" {
		c.Listen.Socket = socket
		if err := c.Validate(); err != nil {
			return nil, false, fmt.Errorf("-socket: %w", err)
		}
	}
	if err := checkSystem(&c); err != nil {
		return nil, false, err
	}
	return &c, defaults, nil
}

// checkOnly is -check: the socket's path, then the EHLO name, of cfg read
// from source.
func checkOnly(cfg *config.Config, source string, stdout, stderr io.Writer) int {
	if err := checkSocketPath(cfg.Listen.Socket); err != nil {
		fmt.Fprintf(stderr, "tlsprobed: %v\n", err)
		return 1
	}
	helo := lookupd.HELOName(context.Background(), cfg)
	if p := probe.HELOProblem(helo); p != "" {
		fmt.Fprintf(stdout, "%s: warning: %s\n", source, p)
	}
	fmt.Fprintf(stdout, "%s: ok\n", source)
	return 0
}

// startError is a failure of serve before it answers anything: the daemon
// logs it as msg=start, not as a shutdown.
type startError struct{ err error }

func (e *startError) Error() string { return "start: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// startFailed marks err as a start-up failure.
func startFailed(err error) error { return &startError{err: err} }

// checkSystem checks what the configuration names on this machine and what
// would only fail at start: the socket's group must exist.
func checkSystem(c *config.Config) error {
	g := c.Listen.Group
	if g == "" {
		return nil
	}
	var err error
	if _, perr := strconv.Atoi(g); perr == nil {
		_, err = user.LookupGroupId(g)
	} else {
		_, err = user.LookupGroup(g)
	}
	var unknownName user.UnknownGroupError
	var unknownID user.UnknownGroupIdError
	switch {
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return &config.Error{Key: "listen.group", Msg: fmt.Sprintf("no group %q on this machine", g)}
	case err != nil:
		return &config.Error{Key: "listen.group", Msg: fmt.Sprintf("look up group %q: %v", g, err)}
	}
	return nil
}

// runtimeDir is the directory the systemd unit creates at each start
// (RuntimeDirectory=tlsprobed) and removes at stop: -check does not require it.
const runtimeDir = "/run/tlsprobed"

// checkSocketPath is -check's test of listen.socket: its directory must
// exist (unless it is the unit's runtimeDir), and the path must be absent or
// a socket. A start checks again when it listens.
func checkSocketPath(path string) error {
	err := socket.CheckPath(path)
	if errors.Is(err, socket.ErrNoDirectory) && filepath.Dir(path) == runtimeDir {
		return nil
	}
	if err != nil {
		return &config.Error{Key: "listen.socket", Msg: err.Error()}
	}
	return nil
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
