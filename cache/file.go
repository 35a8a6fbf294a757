package cache

import (
	"bufio"
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

// oldestStored is the earliest stored time LoadFile keeps; earlier ones are
// taken as this. Expired anyway, such entries are answered stale and reloaded.
var oldestStored = time.Unix(1, 0)

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
	if err := writeAtomic(path, c.encodeFile); err != nil {
		return fmt.Errorf("save cache: %w", err)
	}
	removeLeftovers(path)
	return nil
}

// encodeFile writes the document, the bytes json.Marshal of a file value
// would give, entry by entry: a save holds one entry's JSON at a time, not
// the whole cache twice over (as values, then as bytes).
func (c *Cache[K, V]) encodeFile(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	saved, err := json.Marshal(c.o.Now().UTC())
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	fmt.Fprintf(bw, `{"version":%d,"saved":%s,"entries":[`, FileVersion, saved)
	n := 0
	c.Range(func(k K, v V, stored time.Time) bool {
		var b []byte
		b, err = json.Marshal(fileEntry[K, V]{Key: k, Value: v, Stored: stored.UTC()})
		if err != nil {
			err = fmt.Errorf("encode: %w", err)
			return false
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
		n++
		return true
	})
	if err != nil {
		return err
	}
	bw.WriteString("]}\n")
	return bw.Flush() // the writer's first error, if any
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

// writeAtomic writes path through write: to a temporary file in the same
// directory, synced, renamed over path, and the directory synced. On error
// the temporary file goes and path is untouched.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
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
	if err = write(tmp); err != nil {
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
//
// The file is decoded as it is read, entry by entry, into a ring of at most
// Size entries that keeps the newest (the file is least recently used
// first): neither the file's bytes nor more entries than the cache can hold
// are ever held, whatever the file's size (up to its 1 GiB cap).
func (c *Cache[K, V]) LoadFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("load cache: %w", err)
	}
	defer f.Close()
	fr := &fileReader{r: io.LimitReader(f, maxFileSize+1)}
	ring := &entryRing[K, V]{size: c.o.Size}
	err = decodeFile(bufio.NewReaderSize(fr, 64<<10), ring)
	switch {
	case fr.err != nil:
		return 0, fmt.Errorf("load cache: %w", fr.err)
	case fr.n > maxFileSize:
		err = fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if err != nil {
		return 0, fmt.Errorf("load cache %s: %w: %w", path, ErrCorrupt, err)
	}
	base, now := c.clock()
	n := 0
	ring.each(func(fe *fileEntry[K, V]) {
		at := readingAt(fe.Stored, base, now)
		if e, ok := c.lru.Peek(fe.Key); ok && e.stored >= at {
			return
		}
		c.lru.Add(fe.Key, c.newEntry(fe.Value, at))
		n++
	})
	return n, nil
}

// entryRing holds the last size entries appended to it, growing to size as
// needed: the newest entries of a file of any length, in file order.
type entryRing[K comparable, V any] struct {
	size  int
	buf   []fileEntry[K, V]
	start int // index of the oldest once full
	total int // entries appended in all
}

// next returns the slot for the next entry, overwriting the oldest once
// the ring is full.
func (r *entryRing[K, V]) next() *fileEntry[K, V] {
	r.total++
	if len(r.buf) < r.size {
		r.buf = append(r.buf, fileEntry[K, V]{})
		return &r.buf[len(r.buf)-1]
	}
	fe := &r.buf[r.start]
	*fe = fileEntry[K, V]{}
	r.start = (r.start + 1) % len(r.buf)
	return fe
}

// each calls fn for the entries held, oldest first.
func (r *entryRing[K, V]) each(fn func(*fileEntry[K, V])) {
	for i := range r.buf {
		fn(&r.buf[(r.start+i)%len(r.buf)])
	}
}

// fileReader counts the bytes read and keeps a read error apart from the
// JSON errors it causes.
type fileReader struct {
	r   io.Reader
	n   int64
	err error
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// decodeFile decodes a cache file's document from r and checks it; its
// entries go into ring, in file order. Field names match as encoding/json
// matches them (case-insensitively); unknown fields, in the document or in
// an entry, are errors.
func decodeFile[K comparable, V any](r io.Reader, ring *entryRing[K, V]) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{', "document"); err != nil {
		return err
	}
	var (
		doc     file[K, V] // Version and Saved
		entries bool       // an entries array was read
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		switch {
		case strings.EqualFold(key, "version"):
			err = dec.Decode(&doc.Version)
		case strings.EqualFold(key, "saved"):
			err = dec.Decode(&doc.Saved)
		case strings.EqualFold(key, "entries"):
			entries, err = decodeEntries(dec, ring)
		default:
			err = fmt.Errorf("unknown field %q", key)
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}', "document"); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON document")
	}
	switch {
	case doc.Version != FileVersion:
		return fmt.Errorf("version %d, want %d", doc.Version, FileVersion)
	case doc.Saved.IsZero():
		return errors.New("no saved time")
	case !entries:
		return errors.New("no entries array")
	}
	return nil
}

// decodeEntries decodes the entries array (or null: ok false), each entry
// straight into its slot of ring.
func decodeEntries[K comparable, V any](dec *json.Decoder, ring *entryRing[K, V]) (ok bool, err error) {
	tok, err := dec.Token()
	switch {
	case err != nil:
		return false, err
	case tok == nil:
		return false, nil
	case tok != json.Delim('['):
		return false, fmt.Errorf("entries: %v is not an array", tok)
	}
	for dec.More() {
		i := ring.total
		fe := ring.next()
		if err := dec.Decode(fe); err != nil {
			return false, fmt.Errorf("entry %d: %w", i, err)
		}
		if fe.Stored.IsZero() {
			return false, fmt.Errorf("entry %d: no stored time", i)
		}
	}
	if err := expectDelim(dec, ']', "entries"); err != nil {
		return false, err
	}
	return true, nil
}

func expectDelim(dec *json.Decoder, d json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("%s: %v where %v belongs", what, tok, d)
	}
	return nil
}
