package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
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
// reloads on SIGHUP, saves the cache now and then and on exit.
func serve(cfg *config.Config, reload func() (*config.Config, error), log *slog.Logger) error {
	svc, err := lookupd.NewService(cfg, log)
	if err != nil {
		return startFailed(err)
	}
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
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	tick := time.NewTicker(saveEvery)
	defer tick.Stop()
	save := func() {
		if f := cfg.Cache.File; f != "" {
			if err := svc.SaveCache(f); err != nil {
				log.Error("cache", "file", f, "err", err)
			}
		}
	}
	for {
		select {
		case err := <-errc:
			srv.Shutdown(context.Background())
			save()
			return err
		case <-tick.C:
			save()
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				ncfg, err := reload()
				if err == nil {
					err = svc.Reload(ncfg)
				}
				metrics.Reloaded(err == nil)
				if err != nil {
					log.Error("reload", "result", "refused", "err", err)
					continue
				}
				if ncfg.Listen.Socket != cfg.Listen.Socket || ncfg.Listen.TCP != cfg.Listen.TCP ||
					ncfg.Listen.Mode != cfg.Listen.Mode || ncfg.Listen.Group != cfg.Listen.Group ||
					ncfg.Metrics.Listen != cfg.Metrics.Listen {
					log.Warn("reload", "note", "listen settings change only on restart")
				}
				ncfg.Listen, ncfg.Metrics = cfg.Listen, cfg.Metrics
				cfg = ncfg
				log.Info("reload", "result", "ok")
				continue
			}
			log.Info("shutdown", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			save()
			if err != nil {
				return fmt.Errorf("drain connections: %w", err)
			}
			return nil
		}
	}
}
