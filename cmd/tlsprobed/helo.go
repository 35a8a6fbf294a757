package main

import (
	"log/slog"

	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
)

// logHELO logs the EHLO name the probes use (resolved at start and on each
// reload), with a warning when remote servers that check it would not take
// it (docs/probe.md, The EHLO name).
func logHELO(log *slog.Logger, name string) {
	if p := probe.HELOProblem(name); p != "" {
		log.Warn("helo", "name", name, "problem", p)
		return
	}
	log.Info("helo", "name", name)
}
