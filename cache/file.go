package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileVersion is the format version SaveFile writes and LoadFile accepts.
const FileVersion = 1

// maxFileSize bounds what LoadFile reads.
const maxFileSize = 1 << 30

// ErrCorrupt is wrapped by LoadFile's error when the file is torn, not JSON, of
// another version or otherwise not a cache file. The cache is then unchanged.
var ErrCorrupt = errors.New("corrupt cache file")

// file is the JSON document: {"version":1,"saved":"...","entries":[{"key":...,
// "value":...,"stored":"..."}, ...]}, entries least recently used first.
type file[K comparable, V any] struct {
	Version int               `json:"version"`
	Saved   time.Time         `json:"saved"`
	Entries []fileEntry[K, V] `json:"entries"`
}

type fileEntry[K comparable, V any] struct {
	Key    K         `json:"key"`
	Value  V         `json:"value"`
	Stored time.Time `json:"stored"`
}

// SaveFile writes every entry (fresh and stale) to path atomically: the JSON goes to
// a temporary file in the same directory, which is synced, renamed over path, and
// the directory synced. Temporary files that crashed saves left next to path
// are then removed. The file is created with mode 0600. K and V must be
// encodable by encoding/json.
func (c *Cache[K, V]) SaveFile(path string) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	doc := file[K, V]{Version: FileVersion, Saved: c.o.Now().UTC(), Entries: make([]fileEntry[K, V], 0, c.Len())}
	c.Range(func(k K, v V, stored time.Time) bool {
		doc.Entries = append(doc.Entries, fileEntry[K, V]{Key: k, Value: v, Stored: stored.UTC()})
		return true
	})
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("save cache: encode: %w", err)
	}
	if err := writeAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("save cache: %w", err)
	}
	removeLeftovers(path)
	return nil
}

// removeLeftovers deletes the temporary files of earlier saves of path that
// a crash (SIGKILL, power loss) stopped before their rename; without this
// every such crash would leave a copy of the cache behind. Saves are
// serialized by saveMu, so none of them is in progress.
func removeLeftovers(path string) {
	prefix := filepath.Base(path) + ".tmp"
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// LoadFile reads a file written by SaveFile and stores its entries with their
// original stored times, so expired ones come back stale (answered while they are
// reloaded). The whole file is decoded and checked before anything is stored: a
// torn or otherwise bad file gives an error wrapping ErrCorrupt and leaves the cache
// unchanged. Only the newest Size entries are kept, an entry the cache holds with a
// newer stored time is kept, and stored times in the future are taken as now. It
// returns the number of entries stored.
func (c *Cache[K, V]) LoadFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("load cache: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return 0, fmt.Errorf("load cache: %w", err)
	}
	doc, err := decodeFile[K, V](data)
	if err != nil {
		return 0, fmt.Errorf("load cache %s: %w: %w", path, ErrCorrupt, err)
	}
	entries := doc.Entries
	if len(entries) > c.o.Size {
		entries = entries[len(entries)-c.o.Size:] // the newest, as LRU order is kept
	}
	now := c.o.Now()
	n := 0
	for _, fe := range entries {
		stored := fe.Stored
		if stored.After(now) {
			stored = now
		}
		if e, ok := c.lru.Peek(fe.Key); ok && !e.stored.Before(stored) {
			continue
		}
		c.lru.Add(fe.Key, c.newEntry(fe.Value, stored))
		n++
	}
	return n, nil
}

func decodeFile[K comparable, V any](data []byte) (*file[K, V], error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc file[K, V]
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON document")
	}
	switch {
	case doc.Version != FileVersion:
		return nil, fmt.Errorf("version %d, want %d", doc.Version, FileVersion)
	case doc.Saved.IsZero():
		return nil, errors.New("no saved time")
	case doc.Entries == nil:
		return nil, errors.New("no entries array")
	}
	for i, e := range doc.Entries {
		if e.Stored.IsZero() {
			return nil, fmt.Errorf("entry %d: no stored time", i)
		}
	}
	return &doc, nil
}
