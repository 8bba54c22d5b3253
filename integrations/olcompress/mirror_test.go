package olcompress

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakeclock"
	"github.com/internetarchive/testingd/internal/testmemcached"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeClock is the mirror's clock in tests: TTL logic is driven by moving it,
// never by sleeping.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock { return fakeclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)) }

// countingCache counts the Sets of each key on the way to the real cache.
type countingCache struct {
	Cache
	mu   sync.Mutex
	sets map[string]int
}

func (c *countingCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	c.mu.Lock()
	if c.sets == nil {
		c.sets = make(map[string]int)
	}
	c.sets[key]++
	c.mu.Unlock()
	c.Cache.Set(ctx, key, value, ttl)
}

func (c *countingCache) Sets(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets[key]
}

// recorder records the mirror's callbacks and log records.
type recorder struct {
	mu       sync.Mutex
	evicted  int
	foreign  []map[int]DriftEntry
	orders   [][]int
	republ   int
	warnings int
}

func (r *recorder) options(clock *fakeClock) MirrorOptions {
	return MirrorOptions{
		Now:    clock.Now,
		Logger: slog.New(r),
		OnEvicted: func() {
			r.mu.Lock()
			r.evicted++
			r.mu.Unlock()
		},
		OnForeign: func(order []int, entries map[int]DriftEntry) {
			r.mu.Lock()
			r.orders = append(r.orders, order)
			r.foreign = append(r.foreign, entries)
			r.mu.Unlock()
		},
		OnNeedsRepublish: func() {
			r.mu.Lock()
			r.republ++
			r.mu.Unlock()
		},
	}
}

func (r *recorder) counts() (evicted, foreign, warnings int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evicted, len(r.foreign), r.warnings
}

// The slog.Handler side of recorder: counts warnings.
func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		r.mu.Lock()
		r.warnings++
		r.mu.Unlock()
	}
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// env is one test's real memcached, a mirror over it, and a second client
// playing legacy.
type env struct {
	mc     *memcached
	cache  *countingCache
	legacy *memcache.Memcached
	clock  *fakeClock
	rec    *recorder
	mirror *Mirror
}

type memcached = testmemcached.Instance

func newEnv(t *testing.T) *env {
	t.Helper()
	inst := testmemcached.New(t)
	client := func() *memcache.Memcached {
		// A generous timeout: these tests are about the mirror's decisions, and a
		// busy CI machine (or -race) can stall a loopback call past the 100 ms default.
		c := memcache.NewMemcached([]string{inst.Addr()}, memcache.Options{Logger: quiet, Timeout: 2 * time.Second})
		t.Cleanup(func() { c.Close() })
		return c
	}
	e := &env{mc: inst, cache: &countingCache{Cache: client()}, legacy: client(), clock: newClock(), rec: &recorder{}}
	e.mirror = NewMirror(e.cache, nil, e.rec.options(e.clock))
	return e
}

func (e *env) raw(t *testing.T) ([]byte, bool) {
	t.Helper()
	v, ok := e.legacy.GetMulti(context.Background(), []string{DefaultKey})[DefaultKey]
	return v, ok
}

func (e *env) check(t *testing.T, want CheckResult) {
	t.Helper()
	if got := e.mirror.Check(context.Background()); got != want {
		t.Fatalf("Check = %v, want %v", got, want)
	}
}

func (e *env) wantCalls(t *testing.T, evicted, foreign, warnings int) {
	t.Helper()
	ge, gf, gw := e.rec.counts()
	if ge != evicted || gf != foreign || gw != warnings {
		t.Fatalf("OnEvicted %d, OnForeign %d, warnings %d; want %d, %d, %d", ge, gf, gw, evicted, foreign, warnings)
	}
}

func (e *env) publishFixture(t *testing.T, ctx context.Context) {
	t.Helper()
	order, entries := fixtureSet()
	if err := e.mirror.Publish(ctx, order, entries); err != nil {
		t.Error(err)
	}
}

func fixtureSet() ([]int, map[int]DriftEntry) {
	return []int{13269, 13238}, map[int]DriftEntry{
		13269: {HeadSHA: "abc1234" + "5678901234567890123456789012345678", Drift: 2},
		13238: {Drift: -1},
	}
}

func TestMirrorPublishReadBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := loadFixture(t)
	ctx := context.Background()
	e.publishFixture(t, ctx)
	stored, ok := e.raw(t)
	if !ok {
		t.Fatal("key not in memcached after Publish")
	}
	if got, err := legacyDecodeGo(f.seed, stored); err != nil || string(got) != f.JSON {
		t.Fatalf("legacy algorithm in Go reads %q, %v\nwant %q", got, err, f.JSON)
	}
	if got := pythonDecode(t, stored)[0]; string(got) != f.JSON {
		t.Fatalf("legacy's Python reads %q\nwant %q", got, f.JSON)
	}
	e.check(t, CheckCurrent)
	e.wantCalls(t, 0, 0, 0)
	if s := e.mirror.Stats(); s.Publishes != 1 || s.Checks != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestMirrorPublishWritesOnlyChangesAndRefreshes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	order, entries := fixtureSet()
	publish := func(wantSets int) {
		t.Helper()
		if err := e.mirror.Publish(ctx, order, entries); err != nil {
			t.Fatal(err)
		}
		if got := e.cache.Sets(DefaultKey); got != wantSets {
			t.Fatalf("%d Sets of the key, want %d", got, wantSets)
		}
		if got := e.cache.Sets(DefaultKey + ".testingd"); got != wantSets {
			t.Fatalf("%d Sets of the canary, want %d", got, wantSets)
		}
	}
	publish(1)
	publish(1) // unchanged
	e.clock.Advance(DefaultTTL/2 - time.Second)
	e.check(t, CheckCurrent)
	publish(1) // unchanged, still young
	e.clock.Advance(time.Second)
	e.check(t, CheckRepublish) // half the TTL: due a refresh
	publish(2)
	e.check(t, CheckCurrent)
	entries[13238] = DriftEntry{HeadSHA: "def5678", Drift: 0}
	publish(3) // changed
	publish(3)
	if s := e.mirror.Stats(); s.Publishes != 3 {
		t.Errorf("Stats.Publishes = %d, want 3", s.Publishes)
	}
	e.wantCalls(t, 0, 0, 0)
}

func TestMirrorEvictionCallsOnEvictedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	order, entries := fixtureSet()
	e.mirror.Publish(ctx, order, entries)
	e.clock.Advance(5 * time.Second)
	e.legacy.Delete(ctx, DefaultKey) // as legacy does after add, deploy or refresh
	e.check(t, CheckEvicted)
	e.wantCalls(t, 1, 0, 0)
	e.check(t, CheckRepublish)
	e.check(t, CheckRepublish)
	e.wantCalls(t, 1, 0, 0)

	// The next Publish rewrites even unchanged data, and a second eviction is a
	// second call.
	e.mirror.Publish(ctx, order, entries)
	if got := e.cache.Sets(DefaultKey); got != 2 {
		t.Fatalf("%d Sets after the eviction, want 2", got)
	}
	e.check(t, CheckCurrent)
	e.clock.Advance(50 * time.Second)
	e.legacy.Delete(ctx, DefaultKey)
	e.check(t, CheckEvicted)
	e.wantCalls(t, 2, 0, 0)
	if s := e.mirror.Stats(); s.Evictions != 2 {
		t.Errorf("Stats.Evictions = %d, want 2", s.Evictions)
	}
}

// TestMirrorExpiryIsNotEviction: a key gone when our write is about as old as the
// TTL expired; memcached's expiry is played by deleting the key, the time by the
// clock.
func TestMirrorExpiryIsNotEviction(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		age  time.Duration
		want CheckResult
	}{
		{"well before the TTL", 10 * time.Second, CheckEvicted},
		{"just outside the margin", DefaultTTL - 3*time.Second, CheckEvicted},
		{"within the margin", DefaultTTL - time.Second, CheckRepublish},
		{"at the TTL", DefaultTTL, CheckRepublish},
		{"long after", 10 * DefaultTTL, CheckRepublish},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			e.publishFixture(t, ctx)
			e.clock.Advance(tc.age)
			e.legacy.Delete(ctx, DefaultKey)
			e.check(t, tc.want)
			wantEvicted := 0
			if tc.want == CheckEvicted {
				wantEvicted = 1
			}
			e.wantCalls(t, wantEvicted, 0, 0)
			// Either way the next Publish writes.
			e.publishFixture(t, ctx)
			if got := e.cache.Sets(DefaultKey); got != 2 {
				t.Fatalf("%d Sets, want 2", got)
			}
		})
	}
}

func TestMirrorForeignValue(t *testing.T) {
	t.Parallel()
	legacyJSON := []byte(`{"20001": {"head_sha": "0a1b2c3", "drift": 5, "merged": false}, "13269": {"head_sha": "", "drift": -1, "merged": true}}`)
	wantOrder := []int{20001, 13269}
	wantEntries := map[int]DriftEntry{20001: {HeadSHA: "0a1b2c3", Drift: 5}, 13269: {Drift: -1, Merged: true}}
	ours, _ := Default().Encode(legacyJSON)
	fromPython := pythonEncode(t, legacyJSON)[0]
	for _, tc := range []struct {
		name         string
		stored       []byte
		publishFirst bool
	}{
		{"written by legacy's Python", fromPython, false},
		{"written by legacy's Python over ours", fromPython, true},
		{"encoded by Codec", ours, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			if tc.publishFirst {
				e.publishFixture(t, ctx)
				e.clock.Advance(3 * time.Second)
			}
			e.legacy.Set(ctx, DefaultKey, tc.stored, DefaultTTL)
			e.check(t, CheckForeign)
			e.wantCalls(t, 0, 1, 0)
			if diff := cmp.Diff(wantOrder, e.rec.orders[0]); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantEntries, e.rec.foreign[0]); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			// The same value is reported once.
			e.check(t, CheckForeign)
			e.wantCalls(t, 0, 1, 0)
			if s := e.mirror.Stats(); s.Foreign != 1 {
				t.Errorf("Stats.Foreign = %d, want 1", s.Foreign)
			}
			if v, _ := e.raw(t); string(v) != string(tc.stored) {
				t.Error("Check changed the foreign value")
			}
		})
	}
}

func TestMirrorUnreadableValue(t *testing.T) {
	t.Parallel()
	notJSON, _ := Default().Encode([]byte("<html>502 Bad Gateway</html>"))
	wrongTypes, _ := Default().Encode([]byte(`{"13269": {"head_sha": "abc1234", "drift": "2", "merged": false}}`))
	legacyArray, _ := Default().Encode([]byte(`[13269, 13238]`))
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"not compressed", []byte("garbage")},
		{"compressed, not JSON", notJSON},
		{"JSON with wrong types", wrongTypes},
		{"JSON of another shape", legacyArray},
		{"truncated", notJSON[:len(notJSON)-2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			e.publishFixture(t, ctx)
			e.legacy.Set(ctx, DefaultKey, tc.value, DefaultTTL)
			for range 3 {
				e.check(t, CheckUnreadable)
			}
			e.wantCalls(t, 0, 0, 1) // one warning for three checks of one value
			if s := e.mirror.Stats(); s.DecodeErrors != 1 {
				t.Errorf("Stats.DecodeErrors = %d, want 1", s.DecodeErrors)
			}
			if v, ok := e.raw(t); !ok || string(v) != string(tc.value) {
				t.Fatal("the unreadable value was not left alone")
			}
			// A different bad value is reported again.
			e.legacy.Set(ctx, DefaultKey, append(tc.value, 'x'), DefaultTTL)
			e.check(t, CheckUnreadable)
			e.wantCalls(t, 0, 0, 2)
		})
	}
}

// TestMirrorOwnOlderValue: our own earlier values are not foreign: neither one a
// failed Set left behind, nor one from the service's previous run.
func TestMirrorOwnOlderValue(t *testing.T) {
	t.Parallel()
	t.Run("lost write", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		ctx := context.Background()
		order, entries := fixtureSet()
		e.mirror.Publish(ctx, order, entries)
		old, _ := e.raw(t)
		entries[13238] = DriftEntry{HeadSHA: "def5678"}
		e.mirror.Publish(ctx, order, entries)
		e.legacy.Set(ctx, DefaultKey, old, DefaultTTL) // as if the second Set had failed
		e.check(t, CheckRepublish)
		e.wantCalls(t, 0, 0, 0)
		e.mirror.Publish(ctx, order, entries) // unchanged, young, but rewritten
		if got := e.cache.Sets(DefaultKey); got != 3 {
			t.Fatalf("%d Sets, want 3", got)
		}
		e.check(t, CheckCurrent)
	})
	t.Run("previous run", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		ctx := context.Background()
		e.publishFixture(t, ctx)
		restarted := NewMirror(e.cache, nil, e.rec.options(e.clock))
		if got := restarted.Check(ctx); got != CheckRepublish {
			t.Fatalf("Check after a restart = %v, want %v", got, CheckRepublish)
		}
		e.wantCalls(t, 0, 0, 0)
	})
}

func TestMirrorMemcachedDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.publishFixture(t, ctx)
	e.clock.Advance(5 * time.Second)
	e.mc.Stop()
	e.check(t, CheckRepublish) // not an eviction: the canary is unreadable too
	e.check(t, CheckRepublish)
	e.publishFixture(t, ctx)
	e.check(t, CheckRepublish)
	e.wantCalls(t, 0, 0, 0)

	// Back, but empty: still not an eviction.
	e.mc.Restart()
	e.check(t, CheckRepublish)
	e.wantCalls(t, 0, 0, 0)
	e.publishFixture(t, ctx)
	e.check(t, CheckCurrent)
	e.legacy.Delete(ctx, DefaultKey)
	e.check(t, CheckEvicted)
	e.wantCalls(t, 1, 0, 0)
}

func TestMirrorRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evicted := make(chan struct{}, 1)
	republish := make(chan struct{}, 1)
	opts := e.rec.options(e.clock)
	opts.OnEvicted = func() {
		// A callback may publish: Check does not hold the lock while calling it.
		e.publishFixture(t, context.Background())
		evicted <- struct{}{}
	}
	opts.OnNeedsRepublish = func() {
		select {
		case republish <- struct{}{}:
		default:
		}
	}
	e.mirror = NewMirror(e.cache, nil, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		e.mirror.Run(ctx, 5*time.Millisecond)
		close(done)
	}()
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("Run did not report %s", what)
		}
	}
	wait(republish, "the missing key")
	e.publishFixture(t, ctx)
	e.legacy.Delete(ctx, DefaultKey)
	wait(evicted, "the eviction")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, ok := e.raw(t); !ok {
		t.Error("the callback's Publish did not write the key")
	}
}

// TestMirrorConcurrent is for the race detector.
func TestMirrorConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			order, entries := fixtureSet()
			for j := range 50 {
				entries[13238] = DriftEntry{Drift: (i + j) % 3}
				e.mirror.Publish(ctx, order, entries)
				e.mirror.Check(ctx)
				e.clock.Advance(time.Second)
				_ = e.mirror.Stats()
			}
		})
	}
	wg.Wait()
	e.wantCalls(t, 0, 0, 0)
}

func TestNewMirrorDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		opts        MirrorOptions
		key, canary string
		ttl, margin time.Duration
	}{
		{"zero", MirrorOptions{}, DefaultKey, DefaultKey + ".testingd", DefaultTTL, 2 * time.Second},
		{"own key", MirrorOptions{Key: "k"}, "k", "k.testingd", DefaultTTL, 2 * time.Second},
		{"canary equal to key", MirrorOptions{Key: "k", CanaryKey: "k"}, "k", "k.testingd", DefaultTTL, 2 * time.Second},
		{"short TTL", MirrorOptions{TTL: 4 * time.Second}, DefaultKey, DefaultKey + ".testingd", 4 * time.Second, time.Second},
		{"all given", MirrorOptions{Key: "a", CanaryKey: "b", TTL: time.Minute, ExpiryMargin: 5 * time.Second}, "a", "b", time.Minute, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMirror(memcache.NewMemory(10), nil, tc.opts)
			if m.key != tc.key || m.canary != tc.canary || m.ttl != tc.ttl || m.margin != tc.margin || m.codec != Default() {
				t.Errorf("key %q canary %q ttl %v margin %v", m.key, m.canary, m.ttl, m.margin)
			}
		})
	}
}

func TestCheckResultString(t *testing.T) {
	t.Parallel()
	for r, want := range map[CheckResult]string{
		CheckCurrent: "current", CheckRepublish: "republish", CheckEvicted: "evicted",
		CheckForeign: "foreign", CheckUnreadable: "unreadable", CheckResult(42): "CheckResult(42)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(r), got, want)
		}
	}
}
