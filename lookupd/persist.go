package lookupd

import (
	"errors"
	"fmt"
	"io/fs"
)

// domainsFile is where the MX sets go, next to the probe results.
func domainsFile(path string) string { return path + ".domains" }

// SaveCache writes the probe results to path and the MX sets to
// path.domains, each atomically.
func (s *Service) SaveCache(path string) error {
	if err := s.hosts.SaveFile(path); err != nil {
		return fmt.Errorf("save host cache: %w", err)
	}
	if err := s.domains.SaveFile(domainsFile(path)); err != nil {
		return fmt.Errorf("save domain cache: %w", err)
	}
	return nil
}

// LoadCache restores what SaveCache wrote and returns how many entries it
// loaded. A missing file is fs.ErrNotExist; a corrupt one is an error and
// leaves that cache empty: the daemon then probes again, nothing worse.
func (s *Service) LoadCache(path string) (int, error) {
	n, err := s.hosts.LoadFile(path)
	if err != nil {
		return 0, fmt.Errorf("load host cache: %w", err)
	}
	m, err := s.domains.LoadFile(domainsFile(path))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("load domain cache: %w", err)
	}
	return n + m, nil
}
