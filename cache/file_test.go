package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func filled(t *testing.T, clk *clock) *Cache[string, result] {
	t.Helper()
	c, err := New(Options[string, result]{
		TTL:  func(r result) time.Duration { return time.Duration(r.Bits) * time.Minute },
		Load: Plain(func(_ context.Context, k string) (result, error) { return result{"loaded", 1}, nil }),
		Now:  clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.Set(fmt.Sprintf("mx%d.example", i), result{"ok", i * 10}) // mx0 stale at once
		clk.Advance(time.Minute)
	}
	return c
}

func snapshot[V any](c *Cache[string, V]) []string {
	var out []string
	c.Range(func(k string, v V, stored time.Time) bool {
		out = append(out, fmt.Sprintf("%s=%v@%s", k, v, stored.UTC().Format(time.RFC3339Nano)))
		return true
	})
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	clk := newClock()
	c := filled(t, clk)
	path := filepath.Join(t.TempDir(), "cache.json")
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, %v", fi, err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	dclk := newClock()
	d := filled(t, dclk)
	d.Purge()
	dclk.Advance(5 * time.Minute) // now = T0+15m
	n, err := d.LoadFile(path)
	if err != nil || n != 10 {
		t.Fatalf("LoadFile = %d, %v", n, err)
	}
	if a, b := snapshot(c), snapshot(d); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("after round trip:\n%v\nwant\n%v", b, a)
	}
	// Expiry is recomputed from the stored times and TTLs: mx0 (TTL 0) is stale, mx1
	// (stored T0+1m, TTL 10m) is stale at T0+15m, mx2 (T0+2m, 20m) is fresh.
	for k, want := range map[string]State{"mx0.example": Stale, "mx1.example": Stale, "mx2.example": Fresh, "mx9.example": Fresh} {
		if _, _, st, _ := d.Peek(k); st != want {
			t.Errorf("%s: %v, want %v", k, st, want)
		}
	}
	// Stale loaded entries answer while revalidating.
	if v, st, err := d.Get(context.Background(), "mx0.example"); v.Outcome != "ok" || st != Stale || err != nil {
		t.Fatalf("Get of a loaded stale entry = %v, %v, %v", v, st, err)
	}
	d.Wait()
	if v, _, st, _ := d.Peek("mx0.example"); v.Outcome != "loaded" || st != Fresh {
		t.Fatalf("after revalidation: %v, %v", v, st)
	}
}

func TestSaveFileFormat(t *testing.T) {
	clk := newClock()
	c, _ := New(Options[string, int]{Load: Plain(func(context.Context, string) (int, error) { return 0, nil }), Now: clk.Now})
	c.Set("a", 1)
	path := filepath.Join(t.TempDir(), "c.json")
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := `{"version":1,"saved":"2024-05-01T12:00:00Z","entries":[{"key":"a","value":1,"stored":"2024-05-01T12:00:00Z"}]}` + "\n"
	if string(data) != want {
		t.Fatalf("file:\n%s\nwant\n%s", data, want)
	}
	// An empty cache saves and loads.
	c.Purge()
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if n, err := c.LoadFile(path); n != 0 || err != nil {
		t.Fatalf("LoadFile(empty) = %d, %v", n, err)
	}
}

func TestLoadFileKeepsNewestWithinSize(t *testing.T) {
	clk := newClock()
	c := filled(t, clk)
	path := filepath.Join(t.TempDir(), "cache.json")
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	small, _ := New(Options[string, result]{Size: 3, Load: Plain(func(context.Context, string) (result, error) { return result{}, nil }), Now: clk.Now})
	n, err := small.LoadFile(path)
	if err != nil || n != 3 {
		t.Fatalf("LoadFile = %d, %v", n, err)
	}
	var keys []string
	small.Range(func(k string, _ result, _ time.Time) bool { keys = append(keys, k); return true })
	if fmt.Sprint(keys) != "[mx7.example mx8.example mx9.example]" {
		t.Fatalf("kept %v, want the 3 most recently used", keys)
	}
}

func TestLoadFileKeepsNewerEntriesAndClampsFuture(t *testing.T) {
	clk := newClock()
	c := filled(t, clk)
	path := filepath.Join(t.TempDir(), "cache.json")
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	c.Set("mx3.example", result{"newer", 1})
	n, err := c.LoadFile(path)
	if err != nil || n != 0 {
		t.Fatalf("LoadFile over the same entries = %d, %v; want 0 stored", n, err)
	}
	if v, _, _, _ := c.Peek("mx3.example"); v.Outcome != "newer" {
		t.Fatalf("LoadFile replaced a newer entry: %v", v)
	}
	// Saved by a machine whose clock ran ahead: stored times are capped at now.
	past := newClock()
	past.Advance(-24 * time.Hour)
	d, _ := New(Options[string, result]{Load: Plain(func(context.Context, string) (result, error) { return result{}, nil }), Now: past.Now})
	if n, err := d.LoadFile(path); err != nil || n != 10 {
		t.Fatalf("LoadFile = %d, %v", n, err)
	}
	if _, stored, _, _ := d.Peek("mx9.example"); !stored.Equal(past.Now()) {
		t.Fatalf("future stored time %v not capped at %v", stored, past.Now())
	}
}

func TestLoadFileTakesAncientStoredTimesAsStale(t *testing.T) {
	// A hand-edited file with times before 1970: the entries load, stale
	// (answered, then reloaded), never as entries that do not expire.
	path := filepath.Join(t.TempDir(), "cache.json")
	doc := `{"version":1,"saved":"2024-05-01T12:00:00Z","entries":[` +
		`{"key":"mx1.example","value":{"outcome":"ok","bits":0},"stored":"1600-01-01T00:00:00Z"},` +
		`{"key":"mx2.example","value":{"outcome":"ok","bits":0},"stored":"1970-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c := filled(t, newClock())
	c.Purge()
	if n, err := c.LoadFile(path); err != nil || n != 2 {
		t.Fatalf("LoadFile = %d, %v; want 2", n, err)
	}
	for _, k := range []string{"mx1.example", "mx2.example"} {
		_, stored, state, ok := c.Peek(k)
		if !ok || state != Stale || !stored.Equal(oldestStored) {
			t.Fatalf("Peek(%s) = stored %v, %v, %v; want stale at %v", k, stored, state, ok, oldestStored)
		}
	}
}

func TestLoadFileRejectsBadFilesAndChangesNothing(t *testing.T) {
	clk := newClock()
	src := filled(t, clk)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := src.SaveFile(good); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	data = []byte(strings.TrimSuffix(string(data), "\n"))
	bad := map[string]string{
		"empty":          "",
		"garbage":        "\x00\xff garbage {",
		"not an object":  "[]",
		"null":           "null",
		"version 2":      strings.Replace(string(data), `"version":1`, `"version":2`, 1),
		"no version":     strings.Replace(string(data), `"version":1,`, ``, 1),
		"no saved":       strings.Replace(string(data), `"saved":"2024-05-01T12:10:00Z",`, ``, 1),
		"no entries":     `{"version":1,"saved":"2024-05-01T12:00:00Z"}`,
		"unknown field":  strings.Replace(string(data), `"version":1`, `"version":1,"extra":true`, 1),
		"entry no time":  `{"version":1,"saved":"2024-05-01T12:00:00Z","entries":[{"key":"a","value":{"Outcome":"ok","Bits":1}}]}`,
		"wrong types":    `{"version":1,"saved":"2024-05-01T12:00:00Z","entries":[{"key":1,"value":{},"stored":"2024-05-01T12:00:00Z"}]}`,
		"trailing data":  string(data) + "{}",
		"two documents":  string(data) + "\n" + string(data),
		"bad value kind": strings.Replace(string(data), `"Bits":90`, `"Bits":"90"`, 1),
	}
	for i := 1; i < 10; i++ {
		bad[fmt.Sprintf("torn at %d/10", i)] = string(data[:len(data)*i/10])
	}
	for name, content := range bad {
		t.Run(name, func(t *testing.T) {
			if content == string(data) {
				t.Fatal("test case did not change the file")
			}
			p := filepath.Join(dir, "bad.json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			dst := filled(t, newClock())
			dst.Delete("mx5.example")
			before := snapshot(dst)
			n, err := dst.LoadFile(p)
			if !errors.Is(err, ErrCorrupt) || n != 0 {
				t.Fatalf("LoadFile = %d, %v; want ErrCorrupt", n, err)
			}
			if after := snapshot(dst); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("cache changed by a bad file:\n%v\nwas\n%v", after, before)
			}
		})
	}
	// The whole file still loads (the cases above are not rejected for another reason).
	if n, err := filled(t, newClock()).LoadFile(good); err != nil || n != 0 {
		t.Fatalf("LoadFile(good) = %d, %v", n, err)
	}
}

func TestLoadFileMissing(t *testing.T) {
	c := filled(t, newClock())
	_, err := c.LoadFile(filepath.Join(t.TempDir(), "nope.json"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("LoadFile(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestSaveFileErrors(t *testing.T) {
	c := filled(t, newClock())
	dir := t.TempDir()
	if err := c.SaveFile(filepath.Join(dir, "no", "such", "dir", "c.json")); err == nil {
		t.Fatal("SaveFile into a missing directory succeeded")
	}
	// An unencodable value: nothing is written, the old file stays.
	path := filepath.Join(dir, "c.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := New(Options[string, func()]{Load: Plain(func(context.Context, string) (func(), error) { return nil, nil })})
	f.Set("k", func() {})
	if err := f.SaveFile(path); err == nil {
		t.Fatal("SaveFile of a func value succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("file changed to %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	// Overwriting an existing file works and leaves valid JSON.
	if err := c.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !json.Valid(b) {
		t.Fatalf("overwritten file is not JSON: %q", b)
	}
}

// SaveFile runs while loads and Sets go on (run with -race).
func TestSaveFileConcurrent(t *testing.T) {
	l := &loader{}
	c := newCache(t, l, nil, time.Hour)
	path := filepath.Join(t.TempDir(), "c.json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			c.Get(context.Background(), fmt.Sprint("k", i%50))
			c.Set(fmt.Sprint("s", i), "v")
		}
	}()
	for range 5 {
		if err := c.SaveFile(path); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	c.Wait()
	d := newCache(t, l, nil, time.Hour)
	if _, err := d.LoadFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestLoadFileHoldsAtMostSize: a file of 10,000 entries read by a cache of
// size 10 holds at most 10 decoded entries at any time (the ring), and
// keeps the newest, in order.
func TestLoadFileHoldsAtMostSize(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"version":1,"saved":"2026-12-02T12:00:00Z","entries":[`)
	for i := range 10000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"k%d","value":{"Bits":%d},"stored":"2026-12-02T11:00:00Z"}`, i, i)
	}
	b.WriteString("]}\n")
	ring := &entryRing[string, result]{size: 10}
	if err := decodeFile(strings.NewReader(b.String()), ring); err != nil {
		t.Fatal(err)
	}
	if len(ring.buf) != 10 || cap(ring.buf) > 20 || ring.total != 10000 {
		t.Fatalf("ring holds %d entries (capacity %d) of %d, want 10 of 10000", len(ring.buf), cap(ring.buf), ring.total)
	}
	var keys []string
	ring.each(func(fe *fileEntry[string, result]) { keys = append(keys, fe.Key) })
	if got := strings.Join(keys, " "); got != "k9990 k9991 k9992 k9993 k9994 k9995 k9996 k9997 k9998 k9999" {
		t.Errorf("kept %s, want the last 10 in file order", got)
	}
}
