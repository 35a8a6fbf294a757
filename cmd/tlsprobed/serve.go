package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/socket"
)

// saveEvery is how often the cache is written to cache.file.
const saveEvery = 5 * time.Minute

// serve runs the daemon until SIGTERM or SIGINT: it listens, answers,
// reloads on SIGHUP, saves the cache every saveEvery, on SIGUSR1 and on
// exit.
func serve(cfg *config.Config, reload func() (*config.Config, error), log *slog.Logger) error {
	svc, err := lookupd.NewService(cfg, log)
	if err != nil {
		return startFailed(err)
	}
	logHELO(log, svc.HELO())
	// Every return stops the probes and DNS lookups in flight and waits
	// for them; the exits below do so before their final save, so that
	// nothing still runs (or writes the caches) while the file is written.
	defer svc.Close()
	if cfg.Cache.File != "" {
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
	}
	metrics, stopMetrics, err := startMetrics(cfg, svc, log)
	if err != nil {
		return startFailed(err)
	}
	defer stopMetrics()
	srv := &socket.Server{Handler: svc, Logger: log}
	svc.ConnStats = srv.Stats

	mode := cfg.Listen.FileMode()
	ln, err := socket.ListenUnix(cfg.Listen.Socket, mode, cfg.Listen.Group)
	if err != nil {
		return startFailed(err)
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listen", "socket", cfg.Listen.Socket, "mode", fmt.Sprintf("%04o", mode), "group", cfg.Listen.Group)
	if cfg.Listen.TCP != "" {
		tl, err := net.Listen("tcp", cfg.Listen.TCP)
		if err != nil {
			srv.Shutdown(context.Background())
			return startFailed(fmt.Errorf("listen on %s: %w", cfg.Listen.TCP, err))
		}
		go func() { errc <- srv.Serve(tl) }()
		log.Info("listen", "tcp", tl.Addr().String())
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	saver := &cacheSaver{save: svc.SaveCache, log: log}
	save := func() { saver.run(cfg.Cache.File) }
	for {
		select {
		case err := <-errc:
			srv.Shutdown(context.Background())
			svc.Close()
			save()
			return err
		case <-tick.C:
			save()
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				save()
				continue
			}
			if sig == syscall.SIGHUP {
				cfg = applyReload(cfg, reload, svc, metrics, log)
				continue
			}
			log.Info("shutdown", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			svc.Close()
			save()
			if err != nil {
				return fmt.Errorf("drain connections: %w", err)
			}
			return nil
		}
	}
}

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

func (c *cacheSaver) run(path string) {
	if path == "" {
		return
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
	c.log.Debug("cache", "file", path, "event", "save attempted", "err", err)
	switch {
	case err == nil && c.failed != "":
		c.log.Info("cache", "file", path, "event", "saves work again", "failed_with", c.failed)
		c.failed = ""
	case err != nil && saveReason(err) != c.failed:
		c.failed = saveReason(err)
		c.log.Error("cache", "file", path, "event", "save failed", "reason", c.failed, "err", err,
			"note", "the previous file is kept; logged again only when this changes")
	}
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
