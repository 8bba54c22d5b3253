package memcache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/internetarchive/testingd/internal/fakeclock"
)

func TestMemoryTTL(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	c := NewMemory(10)
	c.now = clock.Now
	ctx := t.Context()

	c.Set(ctx, "minute", []byte("m"), time.Minute)
	c.Set(ctx, "hour", []byte("h"), time.Hour)
	c.Set(ctx, "never", []byte("n"), 0)

	clock.Advance(time.Minute - time.Nanosecond)
	if got := c.GetMulti(ctx, []string{"minute", "hour", "never"}); len(got) != 3 {
		t.Fatalf("just before the first expiry: %d entries, want 3", len(got))
	}
	clock.Advance(time.Nanosecond)
	if got := c.GetMulti(ctx, []string{"minute", "hour", "never"}); len(got) != 2 || got["minute"] != nil {
		t.Fatalf("at the first expiry: %v, want hour and never", got)
	}
	if c.Len() != 2 {
		t.Fatalf("expired entry kept after it was met: Len = %d", c.Len())
	}
	clock.Advance(100 * 365 * 24 * time.Hour)
	if got := c.GetMulti(ctx, []string{"hour", "never"}); len(got) != 1 || got["never"] == nil {
		t.Fatalf("a century later: %v, want only never", got)
	}

	// Overwriting resets the ttl.
	c.Set(ctx, "k", []byte("1"), time.Minute)
	clock.Advance(50 * time.Second)
	c.Set(ctx, "k", []byte("2"), time.Minute)
	clock.Advance(50 * time.Second)
	if got := c.GetMulti(ctx, []string{"k"}); string(got["k"]) != "2" {
		t.Fatalf("overwritten entry = %q, want 2 with a fresh ttl", got["k"])
	}
}

func TestMemoryBoundEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := NewMemory(3)
	ctx := t.Context()
	c.Set(ctx, "a", []byte("a"), 0)
	c.Set(ctx, "b", []byte("b"), 0)
	c.Set(ctx, "c", []byte("c"), 0)
	c.GetMulti(ctx, []string{"a"})   // a is now the most recently used
	c.Set(ctx, "b", []byte("b2"), 0) // so is b, by a write
	c.Set(ctx, "d", []byte("d"), 0)  // evicts c, the least recently used
	got := c.GetMulti(ctx, []string{"a", "b", "c", "d"})
	if len(got) != 3 || got["c"] != nil {
		t.Fatalf("after overflow: %q, want a, b and d", got)
	}
	for i := range 100 {
		c.Set(ctx, fmt.Sprint(i), []byte("x"), 0)
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want the bound 3", c.Len())
	}
	if NewMemory(0).max != DefaultMaxEntries {
		t.Fatalf("NewMemory(0) is not bounded by DefaultMaxEntries")
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	t.Parallel()
	c := NewMemory(64)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint((g*7 + i) % 100)
				switch i % 4 {
				case 0, 1:
					c.Set(ctx, k, []byte(k), time.Duration(i%3)*time.Millisecond)
				case 2:
					for key, v := range c.GetMulti(ctx, []string{k, "1", "2"}) {
						if string(v) != key {
							t.Errorf("value %q under key %q", v, key)
							return
						}
					}
				case 3:
					c.Delete(ctx, k)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 64 {
		t.Fatalf("Len = %d beyond the bound", c.Len())
	}
}
