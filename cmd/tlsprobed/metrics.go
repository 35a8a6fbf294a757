package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// startMetrics serves /metrics on metrics.listen when it is set: the
// service's metrics and the Go runtime, process and build collectors, from
// a registry of our own. stop closes the listener, waits (2 s at most) for
// the scrapes running, and returns when the server's goroutine has; with
// metrics off, m is nil (recording nothing) and stop does nothing.
func startMetrics(cfg *config.Config, svc *lookupd.Service, log *slog.Logger) (m *lookupd.Metrics, stop func(), err error) {
	if cfg.Metrics.Listen == "" {
		return nil, func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	if m, err = svc.Instrument(reg); err != nil {
		return nil, nil, fmt.Errorf("register metrics: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Metrics.Addr().String())
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", cfg.Metrics.Addr(), err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listen", "metrics", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("listen", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close() // scrapes still running after 2 s: cut
		}
		<-served
	}, nil
}
