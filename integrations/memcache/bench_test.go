package memcache

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/internetarchive/testingd/internal/testmemcached"
)

// benchKeys are 50 keys shaped like the drift resolver's (one per PR), all present.
func benchKeys(b *testing.B, c cache) []string {
	keys := make([]string, 50)
	value := make([]byte, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("drift:pr:%d:commit:%040d", 13000+i, i)
		c.Set(b.Context(), keys[i], value, 0)
	}
	return keys
}

func BenchmarkMemoryGetMulti(b *testing.B) {
	c := NewMemory(1000)
	keys := benchKeys(b, c)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.GetMulti(ctx, keys); len(got) != len(keys) {
			b.Fatalf("got %d of %d", len(got), len(keys))
		}
	}
}

func BenchmarkMemcachedGetMulti(b *testing.B) {
	c := NewMemcached([]string{testmemcached.Start(b)}, Options{Logger: slog.New(slog.DiscardHandler)})
	keys := benchKeys(b, c)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.GetMulti(ctx, keys); len(got) != len(keys) {
			b.Fatalf("got %d of %d (stats %+v)", len(got), len(keys), c.Stats())
		}
	}
}
