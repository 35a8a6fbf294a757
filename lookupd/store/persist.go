package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"sync"
	"time"

	"github.com/exim-tlsprobe/exim-tlsprobe/cache"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/probe"
	"github.com/exim-tlsprobe/exim-tlsprobe/lookupd/tlswire"
)

// The cache files: the facts per address at cache.file itself, the
// addresses per host name and the MX sets per domain next to it.
func NamesFile(path string) string   { return path + ".names" }
func DomainsFile(path string) string { return path + ".domains" }

// Save writes the three caches, each atomically: the facts to path,
// the host names' addresses to path.names, the MX sets to path.domains.
func (s *Store) Save(path string) error {
	if err := s.Facts.SaveFile(path); err != nil {
		return fmt.Errorf("save address cache: %w", err)
	}
	if err := s.Names.SaveFile(NamesFile(path)); err != nil {
		return fmt.Errorf("save name cache: %w", err)
	}
	if err := s.Domains.SaveFile(DomainsFile(path)); err != nil {
		return fmt.Errorf("save domain cache: %w", err)
	}
	return nil
}

// Load restores what Save wrote and returns how many entries it
// loaded. A missing facts file is fs.ErrNotExist. A facts file written by
// an earlier release (probe results per MX host name) is converted: each
// result that reached the server becomes the facts of the address it came
// from, for client (the one now configured), with its probe's time; the names'
// addresses are looked up again. A file that is neither is an error and
// leaves that cache empty: the daemon then probes again, nothing worse.
func (s *Store) Load(path string, client tlswire.Client) (int, error) {
	// The files load at once: start-up takes the longest, not the sum.
	var wg sync.WaitGroup
	var nNames, nDomains int
	var errNames, errDomains error
	wg.Go(func() { nNames, errNames = s.Names.LoadFile(NamesFile(path)) })
	wg.Go(func() { nDomains, errDomains = s.Domains.LoadFile(DomainsFile(path)) })
	n, err := s.Facts.LoadFile(path)
	if errors.Is(err, cache.ErrCorrupt) {
		if m, lerr := s.convertLegacy(path, client); lerr == nil {
			s.log.Info("cache", "file", path, "event", "converted the probe results of an earlier release to facts per address", "converted", m)
			n, err = m, nil
		}
	}
	wg.Wait()
	switch {
	case err != nil:
		return nNames + nDomains, fmt.Errorf("load address cache: %w", err)
	case errNames != nil && !errors.Is(errNames, fs.ErrNotExist):
		return n + nDomains, fmt.Errorf("load name cache: %w", errNames)
	case errDomains != nil && !errors.Is(errDomains, fs.ErrNotExist):
		return n + nNames, fmt.Errorf("load domain cache: %w", errDomains)
	}
	return n + nNames + nDomains, nil
}

// legacyResult is a probe result per MX host name as releases before facts
// per address saved them, every field (cache files are decoded strictly);
// host, stage, error and the two policy settings are not converted.
type legacyResult struct {
	Host       string        `json:"host"`
	Addr       string        `json:"addr"`
	Outcome    string        `json:"outcome"`
	Stage      string        `json:"stage"`
	Error      string        `json:"error"`
	TLSVersion string        `json:"tls_version"`
	Cipher     string        `json:"cipher"`
	KeyType    string        `json:"key_type"`
	KeyBits    int           `json:"key_bits"`
	DHBits     int           `json:"dh_bits"`
	TLS13      bool          `json:"tls13"`
	Note       string        `json:"note"`
	Time       time.Time     `json:"time"`
	Duration   time.Duration `json:"duration_ns"`
	KeyMinBits int           `json:"key_min_bits"`
	DHMinBits  int           `json:"dh_min_bits"`
}

// errNoLoad is the loader of the conversion's read-only cache.
var errNoLoad = errors.New("conversion cache loads nothing")

// convertLegacy reads path as a host-keyed file and stores the facts its
// results show; it returns how many it stored.
func (s *Store) convertLegacy(path string, clientName tlswire.Client) (int, error) {
	old, err := cache.New(cache.Options[string, legacyResult]{
		Size: max(s.hosts, 1),
		Load: cache.Plain(func(context.Context, string) (legacyResult, error) { return legacyResult{}, errNoLoad }),
	})
	if err != nil {
		return 0, fmt.Errorf("convert cache file: %w", err)
	}
	defer old.Close()
	if _, err := old.LoadFile(path); err != nil {
		return 0, fmt.Errorf("convert cache file: %w", err)
	}
	client := SymOf(clientName)
	n := 0
	old.Range(func(_ string, r legacyResult, _ time.Time) bool {
		ap, err := netip.ParseAddrPort(r.Addr)
		if err != nil {
			return true
		}
		f := probe.Facts{Outcome: probe.OK, TLSVersion: r.TLSVersion, Cipher: r.Cipher, KeyType: r.KeyType,
			KeyBits: r.KeyBits, DHBits: r.DHBits, TLS13: r.TLS13, Note: r.Note, Time: r.Time, Duration: r.Duration}
		switch r.Outcome {
		case "ok", "smallkey", "tlsexport": // verdicts then; the facts behind them are kept
		case "notls":
			f = probe.Facts{Outcome: probe.NoTLS, Time: r.Time, Duration: r.Duration}
		default: // errors expire within error_ttl anyway; probe afresh
			return true
		}
		k := AddrKey{AP: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), Client: client}
		s.Facts.SetStored(k, NewRecord(&f), r.Time)
		n++
		return true
	})
	return n, nil
}
