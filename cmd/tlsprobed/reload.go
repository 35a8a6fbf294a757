package main

import (
	"log/slog"
	"strings"

	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd"
)

// applyReload rereads the configuration (SIGHUP) and applies it to svc; it
// returns the configuration now in force: cfg when the new one is
// refused. Settings that take effect only on restart (restartOnly) keep
// their running values, and the one reload line names them.
func applyReload(cfg *config.Config, reload func() (*config.Config, error), svc *lookupd.Service, metrics *lookupd.Metrics, log *slog.Logger) *config.Config {
	ncfg, err := reload()
	var wait []string
	if err == nil {
		wait = restartOnly(cfg, ncfg, svc)
		ncfg.Listen, ncfg.Metrics = cfg.Listen, cfg.Metrics
		ncfg.Cache.Hosts, ncfg.Cache.Domains, ncfg.Redis = cfg.Cache.Hosts, cfg.Cache.Domains, cfg.Redis
		err = svc.Reload(ncfg)
	}
	metrics.Reloaded(err == nil)
	switch {
	case err != nil:
		log.Error("reload", "result", "refused", "err", err)
		return cfg
	case len(wait) > 0:
		log.Warn("reload", "result", "ok", "wait_for_restart", strings.Join(wait, " "),
			"note", "these settings keep their running values until a restart")
	default:
		log.Info("reload", "result", "ok")
	}
	logHELO(log, svc.HELO())
	return ncfg
}

// restartOnly names the settings of next that differ from the running cfg
// but take effect only on restart: the listen and metrics addresses (the
// daemon's), and what the service names (cache sizes, [redis]).
func restartOnly(cfg, next *config.Config, svc *lookupd.Service) []string {
	var out []string
	if next.Listen != cfg.Listen {
		out = append(out, "listen")
	}
	if next.Metrics != cfg.Metrics {
		out = append(out, "metrics")
	}
	return append(out, svc.RestartOnly(next)...)
}
