package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// saveEvery is how often the cache is written to cache.file.
const saveEvery = 5 * time.Minute

// drainTimeout bounds the wait for the requests in flight at SIGTERM or
// SIGINT, and then again for the workers once their connections are cut.
const drainTimeout = 10 * time.Second

// serve runs the daemon until SIGTERM or SIGINT arrives on sigs (the
// caller's signal.Notify, made before the cache file loads): it listens,
// answers, reloads on SIGHUP, saves the cache every saveEvery, on SIGUSR1
// and on exit.
func serve(cfg *config.Config, reload func() (*config.Config, error), sigs <-chan os.Signal, log *slog.Logger) error {
	svc, err := startService(cfg, log)
	if err != nil {
		return startFailed(err)
	}
	// Every return stops the probes and DNS lookups in flight and waits
	// for them; stop's Close, the first, also makes the final save
	// (FinalSave, set once listening), after the loads have stopped.
	defer svc.Close(context.Background())
	metrics, stopMetrics, err := startMetrics(cfg, svc, log)
	if err != nil {
		return startFailed(err)
	}
	defer stopMetrics()
	d := &running{cfg: cfg, reload: reload, sigs: sigs, log: log, svc: svc, metrics: metrics,
		saver: &cacheSaver{save: svc.SaveCache, log: log}}
	if err := d.listen(); err != nil {
		return startFailed(err)
	}
	svc.FinalSave = d.save
	return d.stop(d.wait())
}

// startService builds the service for cfg and loads its cache file.
func startService(cfg *config.Config, log *slog.Logger) (*lookupd.Service, error) {
	svc, err := lookupd.NewService(cfg, log)
	if err != nil {
		return nil, err
	}
	logHELO(log, svc.HELO())
	if cfg.Cache.File == "" {
		return svc, nil
	}
	n, err := svc.LoadCache(cfg.Cache.File)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		log.Warn("cache", "file", cfg.Cache.File, "err", fmt.Errorf("ignore cache file: %w", err))
	default:
		log.Info("cache", "file", cfg.Cache.File, "loaded", n)
	}
	// Decoding a large cache file leaves about twice the cache's size in
	// garbage; give it back to the OS now rather than over minutes.
	debug.FreeOSMemory()
	return svc, nil
}

// running is the daemon at work: the service, the socket server in front of
// it, and what the signals act on.
type running struct {
	cfg     *config.Config // in force; a reload replaces it
	reload  func() (*config.Config, error)
	sigs    <-chan os.Signal // SIGHUP, SIGTERM, SIGINT and SIGUSR1
	log     *slog.Logger
	svc     *lookupd.Service
	metrics *lookupd.Metrics
	saver   *cacheSaver

	srv     *socket.Server
	serving sync.WaitGroup // the Serve goroutines
	errc    chan error     // what a Serve goroutine returned before the stop
}

// listen serves the service on the Unix socket, and on listen.tcp when set.
func (d *running) listen() error {
	d.srv = &socket.Server{Handler: d.svc, Logger: d.log}
	d.svc.ConnStats = d.srv.Stats
	d.errc = make(chan error, 2)
	mode := d.cfg.Listen.FileMode()
	ln, err := socket.ListenUnix(d.cfg.Listen.Socket, mode, d.cfg.Listen.Group)
	if err != nil {
		return err
	}
	d.goServe(ln)
	d.log.Info("listen", "socket", d.cfg.Listen.Socket, "mode", fmt.Sprintf("%04o", mode), "group", d.cfg.Listen.Group)
	if d.cfg.Listen.TCP == "" {
		return nil
	}
	tl, err := net.Listen("tcp", d.cfg.Listen.TCP)
	if err != nil {
		d.srv.Shutdown(context.Background())
		d.serving.Wait()
		return fmt.Errorf("listen on %s: %w", d.cfg.Listen.TCP, err)
	}
	d.goServe(tl)
	d.log.Info("listen", "tcp", tl.Addr().String())
	return nil
}

func (d *running) goServe(ln net.Listener) {
	d.serving.Go(func() { d.errc <- d.srv.Serve(ln) })
}

// exit is why the daemon stops: a signal, or the error a listener failed
// with.
type exit struct {
	sig os.Signal
	err error
}

// wait acts on signals and on the save ticker until the daemon is to stop:
// SIGUSR1 saves, SIGHUP reloads, SIGTERM and SIGINT stop, and so does a
// listener that fails.
func (d *running) wait() exit {
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-d.errc:
			return exit{err: err}
		case <-tick.C:
			d.save()
		case sig := <-d.sigs:
			switch sig {
			case syscall.SIGUSR1:
				d.save()
			case syscall.SIGHUP:
				d.cfg = applyReload(d.cfg, d.reload, d.svc, d.metrics, d.log)
			default:
				return exit{sig: sig}
			}
		}
	}
}

// stop ends the daemon: it stops accepting and lets the requests in flight
// be answered (after a signal, drainTimeout at most: then it cuts them),
// joins the server's goroutines, stops the service and saves the cache.
func (d *running) stop(e exit) error {
	ctx := context.Background()
	if e.sig != nil {
		d.log.Info("shutdown", "signal", e.sig.String())
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, drainTimeout)
		defer cancel()
	}
	err := d.srv.Shutdown(ctx)
	if err != nil {
		d.srv.Close()
		jctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if jerr := d.srv.Shutdown(jctx); jerr != nil {
			d.log.Error("shutdown", "event", "socket workers still running", "err", jerr)
		}
		cancel()
	}
	d.serving.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	// A failed final save is logged by the saver, as every save.
	if cerr := d.svc.Close(cctx); errors.Is(cerr, context.DeadlineExceeded) {
		d.log.Error("shutdown", "event", "probes and lookups still running", "err", cerr)
	}
	cancel()
	switch {
	case e.err != nil:
		return e.err
	case err != nil:
		return fmt.Errorf("drain connections: %w", err)
	}
	return nil
}

func (d *running) save() error { return d.saver.run(d.cfg.Cache.File) }

// cacheSaver writes the cache file and logs what a save changed: one line
// when saves start failing (or fail for another reason: a full disk, then
// a read-only one), one when they work again, not one per attempt (a full
// disk would otherwise log every saveEvery until fixed). Each attempt is
// logged at debug level. A failed save leaves the previous file whole
// (cache.SaveFile writes a temporary file and renames it).
type cacheSaver struct {
	save   func(path string) error
	log    *slog.Logger
	failed string // the reason of the failing state, "" when saves work
}

// run saves to path ("" saves nothing) and returns the save's error,
// logged already.
func (c *cacheSaver) run(path string) error {
	if path == "" {
		return nil
	}
	err := c.save(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The state directory went (removed by hand, a tmpfiles clean-up):
		// make it again, as systemd's StateDirectory= would, and retry.
		if merr := os.MkdirAll(filepath.Dir(path), 0o750); merr == nil {
			c.log.Warn("cache", "file", path, "event", "state directory recreated", "dir", filepath.Dir(path))
			err = c.save(path)
		}
	}
	switch {
	case err == nil && c.failed != "":
		c.log.Info("cache", "file", path, "event", "saves work again", "failed_with", c.failed)
		c.failed = ""
	case err != nil && saveReason(err) != c.failed:
		c.failed = saveReason(err)
		c.log.Error("cache", "file", path, "event", "save failed", "reason", c.failed, "err", err,
			"note", "the previous file is kept; logged again only when this changes")
	}
	// Last, so that a reader who sees the attempt sees its state line too.
	c.log.Debug("cache", "file", path, "event", "save attempted", "err", err)
	return err
}

// saveReason is what tells two save failures apart: the errno (ENOSPC,
// EROFS, EACCES, ...) if there is one, else the error's text.
func saveReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
