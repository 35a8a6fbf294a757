package cache

import (
	"context"
	"fmt"
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
		Load: func(ctx context.Context, key string) (result, error) {
			return result{}, fmt.Errorf("no load expected for %s", key)
		},
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
