package decision

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/config"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/store"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/verdict"
)

// Settings are what a decision takes of the configuration in force. The
// caller replaces them whole on reload and passes the ones it loaded to
// each call, so that one answer follows one policy.
type Settings struct {
	Config    *config.Config
	Overrides *config.Overrides
	Policy    verdict.Policy
	Client    tlswire.Client // probe.client: whose facts answer
	Ignore    []netip.Prefix // probe.ignore_networks
}

// RefetchFunc loads an address's facts taking only facts probed after
// after: a re-probe after a report's miss must not take back (from the
// fleet's Redis) the facts the report disproved.
type RefetchFunc func(ctx context.Context, k store.AddrKey, after store.UnixNano) (cache.Loaded[store.Record], error)

// Decider makes decisions over the caches of one store.
type Decider struct {
	store   *store.Store // its caches: Domains, Names, Facts
	refetch RefetchFunc
	log     *slog.Logger
}

// New is a Decider over st's caches; refetch is the loader of a report's
// re-probe. A nil log is slog.Default().
func New(st *store.Store, refetch RefetchFunc, log *slog.Logger) *Decider {
	if log == nil {
		log = slog.Default()
	}
	return &Decider{store: st, refetch: refetch, log: log}
}
