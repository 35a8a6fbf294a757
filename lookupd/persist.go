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
	// The two files load at once: start-up takes the longer, not the sum.
	var m int
	var derr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		m, derr = s.domains.LoadFile(domainsFile(path))
	}()
	n, err := s.hosts.LoadFile(path)
	<-done
	if err != nil {
		return m, fmt.Errorf("load host cache: %w", err)
	}
	if derr != nil && !errors.Is(derr, fs.ErrNotExist) {
		return n, fmt.Errorf("load domain cache: %w", derr)
	}
	return n + m, nil
}
