package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// maxOverrideFiles bounds the files read from overrides.directory.
const maxOverrideFiles = 1000

// OverrideFileSuffix ends the names of the files read from
// overrides.directory; other files there (editor backups, .dpkg-old) are
// ignored.
const OverrideFileSuffix = ".toml"

// overrideFile is what a file in overrides.directory may hold: an
// [overrides] table with the three lists and nothing else (the output of
// tlsprobe import, as it is).
type overrideFile struct {
	Overrides struct {
		SmallKey  []string `toml:"smallkey"`
		TLSExport []string `toml:"tlsexport"`
		None      []string `toml:"none"`
	} `toml:"overrides"`
}

// origin is where an override item was written: its file and its index in
// that file's list ("" and the index in the main file's list when the lists
// were not merged).
type origin struct {
	file  string
	index int
}

// where returns the file and the key ("overrides.smallkey[3]") of item i of
// list, as the admin wrote it.
func (ls OverrideLists) where(list string, i int) (string, string) {
	if o, ok := ls.origins[list]; ok && i < len(o) {
		return o[i].file, fmt.Sprintf("overrides.%s[%d]", list, o[i].index)
	}
	return "", fmt.Sprintf("overrides.%s[%d]", list, i)
}

// loadOverrideDir appends the lists of every *.toml file in dir, in name
// order, to cfg's, and validates the result. mainFile is the configuration
// file, named in the errors about its own items.
func loadOverrideDir(cfg *Config, mainFile string) error {
	dir := cfg.OverrideLists.Directory
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &Error{File: mainFile, Key: "overrides.directory", Msg: fmt.Sprintf("read directory: %v", unwrapPath(err))}
	}
	ls := &cfg.OverrideLists
	origins := map[string][]origin{}
	for _, l := range []struct {
		name  string
		items []string
	}{{ListSmallKey, ls.SmallKey}, {ListTLSExport, ls.TLSExport}, {ListNone, ls.None}} {
		for i := range l.items {
			origins[l.name] = append(origins[l.name], origin{mainFile, i})
		}
	}
	var errs []error
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, OverrideFileSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if files++; files > maxOverrideFiles {
			errs = append(errs, &Error{File: dir, Key: "overrides.directory", Msg: fmt.Sprintf("more than %d %s files", maxOverrideFiles, OverrideFileSuffix)})
			break
		}
		data, err := readLimited(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var f overrideFile
		dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			err = decodeError(data, err)
			setFile(err, path)
			errs = append(errs, err)
			continue
		}
		for _, l := range []struct {
			name  string
			dst   *[]string
			items []string
		}{{ListSmallKey, &ls.SmallKey, f.Overrides.SmallKey}, {ListTLSExport, &ls.TLSExport, f.Overrides.TLSExport}, {ListNone, &ls.None, f.Overrides.None}} {
			*l.dst = append(*l.dst, l.items...)
			for i := range l.items {
				origins[l.name] = append(origins[l.name], origin{path, i})
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	ls.origins = origins
	return cfg.Validate()
}

// unwrapPath drops the *fs.PathError's operation and path, which the
// caller's message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
