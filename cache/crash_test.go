package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashEntries is the size of the cache the crash child saves: big enough
// that a save takes a while (a few hundred KB and an fsync).
const crashEntries = 2000

// genValue is a cached value stamped with the generation of the save.
type genValue struct {
	Gen int64  `json:"gen"`
	Pad string `json:"pad"`
}

func genCache(t testing.TB) *Cache[string, genValue] {
	t.Helper()
	c, err := New(Options[string, genValue]{
		Size: crashEntries,
		Load: Plain(func(context.Context, string) (genValue, error) { return genValue{}, errors.New("no loads") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCrashChildProcess is not a test: it is the child TestKillDuringSave
// starts (CACHE_CRASH_CHILD names the file). It saves the cache in a loop,
// each time with every entry stamped with a new generation, and says so on
// stdout ("saving G", then "saved G"), until it is killed.
func TestCrashChildProcess(t *testing.T) {
	path := os.Getenv("CACHE_CRASH_CHILD")
	if path == "" {
		return
	}
	c := genCache(t)
	pad := strings.Repeat("x", 100)
	for gen := time.Now().UnixNano(); ; gen++ {
		for i := range crashEntries {
			c.Set(fmt.Sprintf("mx%d.example", i), genValue{Gen: gen, Pad: pad})
		}
		fmt.Printf("saving %d\n", gen)
		if err := c.SaveFile(path); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("saved %d\n", gen)
	}
}

// TestKillDuringSave: SIGKILL at random moments of a process that saves the
// cache in a loop. After each kill the file loads, whole, and holds the
// generation saved last or the one being saved (old or new, never torn,
// never older than what was there).
func TestKillDuringSave(t *testing.T) {
	if os.Getenv("CACHE_CRASH_CHILD") != "" {
		t.Skip("in the crash child")
	}
	const kills = 50
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.json")
	var last int64 // generation loaded after the previous kill
	var leftovers, midSave int
	tmpFiles := func() int { m, _ := filepath.Glob(path + ".tmp*"); return len(m) }
	start := time.Now()
	for k := range kills {
		wasSaving, lastSaved := killSaving(t, exe, path)
		if wasSaving != lastSaved {
			midSave++
		}
		if tmpFiles() > 0 {
			leftovers++ // the next save removes it
		}

		gen := loadedGeneration(t, k, path)
		// The file holds the last completed save or the one under way.
		if gen != lastSaved && gen != wasSaving {
			t.Fatalf("kill %d: file has generation %d; last saved %d, being saved %d", k, gen, lastSaved, wasSaving)
		}
		if gen < last {
			t.Fatalf("kill %d: file went back from generation %d to %d", k, last, gen)
		}
		last = gen
	}
	t.Logf("figure: %d SIGKILLs in %v, %d of them during a save; the file loaded whole every time; %d kills left a temporary file, %d there at the end",
		kills, time.Since(start).Round(time.Millisecond), midSave, leftovers, tmpFiles())
	if midSave == 0 {
		t.Error("no kill landed during a save: the test proves little")
	}
	// A save removes what killed saves left: at most the last kill's file.
	if n := tmpFiles(); n > 1 {
		t.Errorf("%d temporary files left by %d killed saves, want at most 1", n, leftovers)
	}
}

// killSaving starts the child that saves the cache at path in a loop,
// SIGKILLs it at a random moment after its first save, and returns the
// generation it was saving then and the last it had saved.
func killSaving(t *testing.T, exe, path string) (wasSaving, lastSaved int64) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestCrashChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CACHE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu            sync.Mutex
		saving, saved int64
		ready         = make(chan struct{})
		lines         = make(chan struct{})
	)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			word, num, _ := strings.Cut(sc.Text(), " ")
			g, _ := strconv.ParseInt(num, 10, 64)
			mu.Lock()
			switch word {
			case "saving":
				saving = g
			case "saved":
				saved = g
				once.Do(func() { close(ready) })
			}
			mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the child did not save within 30s")
	}
	// Now anywhere in the next saves: writing, syncing, renaming (a random
	// moment on purpose, not a wait for an event).
	time.Sleep(time.Duration(rand.IntN(30000)) * time.Microsecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	<-lines
	mu.Lock()
	defer mu.Unlock()
	return saving, saved
}

// loadedGeneration loads the cache file left by kill k and returns the
// one generation all its entries have.
func loadedGeneration(t *testing.T, k int, path string) int64 {
	t.Helper()
	c := genCache(t)
	n, err := c.LoadFile(path)
	if err != nil {
		t.Fatalf("kill %d: the cache file does not load: %v", k, err)
	}
	gens := map[int64]int{}
	c.Range(func(_ string, v genValue, _ time.Time) bool { gens[v.Gen]++; return true })
	if n != crashEntries || len(gens) != 1 {
		t.Fatalf("kill %d: %d entries of %d generations %v, want %d of one", k, n, len(gens), gens, crashEntries)
	}
	var gen int64
	for g := range gens {
		gen = g
	}
	return gen
}

// FuzzLoadFile: whatever bytes are in the cache file (torn, corrupt,
// hostile), LoadFile returns an error and leaves the cache as it was, or
// loads entries that save and load again unchanged.
func FuzzLoadFile(f *testing.F) {
	c := genCache(f)
	for i := range 3 {
		c.Set(fmt.Sprintf("mx%d.example", i), genValue{Gen: int64(i), Pad: "p"})
	}
	seed := filepath.Join(f.TempDir(), "seed.json")
	if err := c.SaveFile(seed); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"version":1,"saved":"2024-05-01T12:00:00Z","entries":[{"key":"a","value":{"gen":1},"stored":"2099-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"saved":"2024-05-01T12:00:00Z","entries":null}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte("\x00\x00\x00"))
	dir := f.TempDir() // one per fuzzing process; inputs run one at a time in it
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "c.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := genCache(t)
		c.Set("kept.example", genValue{Gen: -1})
		before := snapshot(c)
		n, err := c.LoadFile(path)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if after := snapshot(c); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a failed load changed the cache: %v -> %v", before, after)
			}
			return
		}
		if n < 0 || n > crashEntries || c.Len() > crashEntries {
			t.Fatalf("loaded %d entries, cache holds %d (size %d)", n, c.Len(), crashEntries)
		}
		again := filepath.Join(dir, "again.json")
		if err := c.SaveFile(again); err != nil {
			t.Fatalf("save what was loaded: %v", err)
		}
		d := genCache(t)
		if _, err := d.LoadFile(again); err != nil {
			t.Fatalf("load what was saved: %v", err)
		}
		if a, b := snapshot(c), snapshot(d); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("round trip changed the entries:\n%v\n%v", a, b)
		}
	})
}
