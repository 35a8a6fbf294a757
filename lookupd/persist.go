package lookupd

// SaveCache writes the three caches, each atomically: the facts to path,
// the host names' addresses to path.names, the MX sets to path.domains
// (store.Store.Save).
func (s *Service) SaveCache(path string) error { return s.store.Save(path) }

// LoadCache restores what SaveCache wrote and returns how many entries it
// loaded (store.Store.Load: a facts file of an earlier release is converted
// for the client now configured).
func (s *Service) LoadCache(path string) (int, error) {
	return s.store.Load(path, s.st.Load().probe.Client)
}
