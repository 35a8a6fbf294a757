package cache

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkGetHit (cache_test.go) is one key; these are a cache of 100,000
// keys read in turn, and hits from parallel goroutines, as the daemon's
// connections make them.

func benchCache(b *testing.B, n int) (*Cache[string, result], []string) {
	b.Helper()
	c, err := New(Options[string, result]{
		Size: n,
		TTL:  func(result) time.Duration { return time.Hour },
		Load: Plain(func(ctx context.Context, key string) (result, error) {
			return result{}, fmt.Errorf("no load expected for %s", key)
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("mx%d.bench.test", i)
		c.Set(keys[i], result{"ok", 2048})
	}
	return c, keys
}

func BenchmarkGetHit100k(b *testing.B) {
	c, keys := benchCache(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i = (i + 7919) % len(keys)
		if _, st, _ := c.Get(ctx, keys[i]); st != Fresh {
			b.Fatal(st)
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c, keys := benchCache(b, 100_000)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i + 7919) % len(keys)
			if _, st, _ := c.Get(ctx, keys[i]); st != Fresh {
				b.Error(st)
				return
			}
		}
	})
}

// BenchmarkLoadFileOversized loads a file of 1,000,000 entries into a cache
// of 10,000 (a cache.file written with a bigger cache.hosts, or a hostile
// one): it reports the peak of the live heap during the load, sampled every
// millisecond, which is what LoadFile holds beyond the cache itself.
func BenchmarkLoadFileOversized(b *testing.B) {
	big, _ := benchCache(b, 1_000_000)
	path := filepath.Join(b.TempDir(), "big.json")
	if err := big.SaveFile(path); err != nil {
		b.Fatal(err)
	}
	big = nil
	runtime.GC()
	var peak uint64
	for b.Loop() {
		c, err := New(Options[string, result]{Size: 10_000, Load: Plain(func(context.Context, string) (result, error) { return result{}, nil })})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := make(chan struct{})
		sampled := make(chan uint64)
		go func() {
			var top uint64
			var ms runtime.MemStats
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					sampled <- top
					return
				case <-t.C:
					runtime.ReadMemStats(&ms)
					top = max(top, ms.HeapAlloc)
				}
			}
		}()
		if n, err := c.LoadFile(path); err != nil || n != 10_000 {
			b.Fatalf("LoadFile: %d, %v", n, err)
		}
		close(stop)
		if top := <-sampled; top > base.HeapAlloc {
			peak = max(peak, top-base.HeapAlloc)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
