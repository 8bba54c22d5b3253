package memcache

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/internetarchive/testingd/internal/testmemcached"
)

// cache is the interface the drift resolver declares; both implementations must
// satisfy it exactly.
type cache interface {
	GetMulti(ctx context.Context, keys []string) map[string][]byte
	Set(ctx context.Context, key string, value []byte, ttl time.Duration)
	Delete(ctx context.Context, keys ...string)
}

var (
	_ cache = (*Memcached)(nil)
	_ cache = (*Memory)(nil)
)

// implementations returns a fresh cache of each kind for one test.
func implementations(t *testing.T) map[string]cache {
	t.Helper()
	return map[string]cache{
		"memcached": NewMemcached([]string{testmemcached.Start(t)}, Options{Timeout: time.Second, Logger: testLogger(t)}),
		"memory":    NewMemory(100),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func TestSetGetDelete(t *testing.T) {
	t.Parallel()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c.Set(ctx, "a", []byte("1"), 0)
			c.Set(ctx, "b", []byte("2"), time.Hour)
			c.Set(ctx, "empty", nil, 0)

			got := c.GetMulti(ctx, []string{"a", "b", "empty", "missing", "a"})
			want := map[string][]byte{"a": []byte("1"), "b": []byte("2"), "empty": {}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("GetMulti (-want +got):\n%s", diff)
			}

			c.Set(ctx, "a", []byte("one"), 0) // overwrite
			c.Delete(ctx, "b", "missing")     // a missing key is not a problem
			c.Delete(ctx)                     // nor is no key at all
			got = c.GetMulti(ctx, []string{"a", "b"})
			if diff := cmp.Diff(map[string][]byte{"a": []byte("one")}, got); diff != "" {
				t.Fatalf("after overwrite and delete (-want +got):\n%s", diff)
			}

			if got := c.GetMulti(ctx, nil); got == nil || len(got) != 0 {
				t.Fatalf("GetMulti(nil) = %v, want an empty non-nil map", got)
			}

			c.Set(ctx, "gone", []byte("x"), -time.Second) // negative ttl: store nothing...
			c.Set(ctx, "a", []byte("x"), -time.Second)    // ...and drop what was there
			if got := c.GetMulti(ctx, []string{"gone", "a"}); len(got) != 0 {
				t.Fatalf("negative ttl left %v", got)
			}
		})
	}
}

func TestValuesAreNotAliased(t *testing.T) {
	t.Parallel()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			v := []byte("original")
			c.Set(ctx, "k", v, 0)
			copy(v, "CHANGED!")
			got := c.GetMulti(ctx, []string{"k"})["k"]
			if string(got) != "original" {
				t.Fatalf("value after caller changed its slice = %q", got)
			}
			copy(got, "CHANGED!")
			if again := c.GetMulti(ctx, []string{"k"})["k"]; string(again) != "original" {
				t.Fatalf("value after caller changed a returned slice = %q", again)
			}
		})
	}
}

func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c.Set(ctx, "short", []byte("x"), time.Second)
			c.Set(ctx, "sub-second", []byte("x"), time.Millisecond) // rounds up to 1s in memcached
			c.Set(ctx, "forever", []byte("y"), 0)
			if got := c.GetMulti(ctx, []string{"short"}); len(got) != 1 {
				t.Fatalf("entry with 1s ttl missing right after Set")
			}
			// memcached's clock ticks in whole seconds, so a 1s item lives between
			// about 1 and 2 seconds: poll rather than sleep an exact amount.
			deadline := time.Now().Add(5 * time.Second)
			for {
				got := c.GetMulti(ctx, []string{"short", "sub-second"})
				if len(got) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("entries with 1s ttl still there after 5s: %v", got)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got := c.GetMulti(ctx, []string{"forever"}); len(got) != 1 {
				t.Fatalf("entry without ttl expired")
			}
		})
	}
}

func TestOddKeys(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 300)
	keys := []string{
		long,
		long + "2", // must not collide with its neighbour
		"with space",
		"with\nnewline",
		"tab\there",
		"\x00nul",
		"ünïcødé",
		"",
		hashMarker + "0000", // looks like a hashed key; must not collide with one
		strings.Repeat("x", 250),
		strings.Repeat("x", 251),
	}
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			want := map[string][]byte{}
			for i, k := range keys {
				v := []byte(fmt.Sprintf("value-%d", i))
				c.Set(ctx, k, v, 0)
				want[k] = v
			}
			if diff := cmp.Diff(want, c.GetMulti(ctx, keys)); diff != "" {
				t.Fatalf("GetMulti (-want +got):\n%s", diff)
			}
			c.Delete(ctx, keys[:3]...)
			for _, k := range keys[:3] {
				delete(want, k)
			}
			if diff := cmp.Diff(want, c.GetMulti(ctx, keys)); diff != "" {
				t.Fatalf("after Delete (-want +got):\n%s", diff)
			}
			if mc, ok := c.(*Memcached); ok {
				if s := mc.Stats(); s.Errors != 0 {
					t.Fatalf("odd keys caused %d errors", s.Errors)
				}
			}
		})
	}
}

func TestWireKey(t *testing.T) {
	t.Parallel()
	m := NewMemcached(nil, Options{KeyPrefix: "testingd:", Logger: slog.New(slog.DiscardHandler)})
	if got := m.wireKey("drift"); got != "testingd:drift" {
		t.Errorf("wireKey(drift) = %q, want the prefixed key unchanged", got)
	}
	seen := map[string]string{}
	for _, k := range []string{strings.Repeat("a", 250), "a b", "é\x01", hashMarker + "x", "", "ok"} {
		w := m.wireKey(k)
		if !legalKey(w) {
			t.Errorf("wireKey(%q) = %q, not a legal memcached key", k, w)
		}
		if other, dup := seen[w]; dup {
			t.Errorf("wireKey(%q) == wireKey(%q) == %q", k, other, w)
		}
		seen[w] = k
	}
	// A prefix memcached cannot take is still part of the key, through the hash.
	bad1 := NewMemcached(nil, Options{KeyPrefix: "bad prefix ", Logger: slog.New(slog.DiscardHandler)})
	bad2 := NewMemcached(nil, Options{KeyPrefix: "bad prefix 2 ", Logger: slog.New(slog.DiscardHandler)})
	if w1, w2 := bad1.wireKey("k"), bad2.wireKey("k"); !legalKey(w1) || w1 == w2 {
		t.Errorf("illegal prefixes: wire keys %q and %q", w1, w2)
	}
}

func TestKeyPrefixSeparatesCaches(t *testing.T) {
	t.Parallel()
	addr := testmemcached.Start(t)
	ctx := t.Context()
	a := NewMemcached([]string{addr}, Options{KeyPrefix: "a:", Logger: testLogger(t)})
	b := NewMemcached([]string{addr}, Options{KeyPrefix: "b:", Logger: testLogger(t)})
	long := strings.Repeat("z", 260)
	a.Set(ctx, "k", []byte("from a"), 0)
	a.Set(ctx, long, []byte("from a"), 0)
	if got := b.GetMulti(ctx, []string{"k", long}); len(got) != 0 {
		t.Fatalf("b sees a's entries: %v", got)
	}
	if got := a.GetMulti(ctx, []string{"k", long}); len(got) != 2 {
		t.Fatalf("a lost its own entries: %v", got)
	}
}

func TestExpiration(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want int32
	}{
		{"none", 0, 0},
		{"sub-second rounds up", time.Millisecond, 1},
		{"seconds", 90 * time.Second, 90},
		{"fraction rounds up", 1500 * time.Millisecond, 2},
		{"exactly 30 days is relative", 30 * 24 * time.Hour, 2_592_000},
		{"beyond 30 days is absolute", 30*24*time.Hour + time.Second, 1_800_000_000 + 2_592_001},
		{"a year is absolute", 365 * 24 * time.Hour, 1_800_000_000 + 31_536_000},
		{"past 2038 clamps", 100 * 365 * 24 * time.Hour, 1<<31 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiration(tc.ttl, now); got != tc.want {
				t.Errorf("expiration(%v) = %d, want %d", tc.ttl, got, tc.want)
			}
		})
	}
}

func TestLongTTLIsKept(t *testing.T) {
	t.Parallel()
	// Sent as a relative number, 31 days would be read by memcached as a time in
	// January 1970 and the item would be gone at once.
	c := NewMemcached([]string{testmemcached.Start(t)}, Options{Logger: testLogger(t)})
	ctx := t.Context()
	c.Set(ctx, "month", []byte("v"), 31*24*time.Hour)
	c.Set(ctx, "year", []byte("v"), 365*24*time.Hour)
	if got := c.GetMulti(ctx, []string{"month", "year"}); len(got) != 2 {
		t.Fatalf("long-ttl entries = %v, want both", got)
	}
}

func TestLargeValues(t *testing.T) {
	t.Parallel()
	c := NewMemcached([]string{testmemcached.Start(t)}, Options{Timeout: time.Second, Logger: testLogger(t)})
	ctx := t.Context()

	c.Set(ctx, "big", bytes.Repeat([]byte("x"), 512<<10), 0)
	if got := c.GetMulti(ctx, []string{"big"}); len(got["big"]) != 512<<10 {
		t.Fatalf("512 KiB value not stored (got %d bytes)", len(got["big"]))
	}

	// Over the limit: dropped before it reaches the server.
	c.Set(ctx, "huge", make([]byte, MaxValueSize+1), 0)
	// Exactly the limit: memcached refuses it (the limit includes the item header).
	c.Set(ctx, "limit", make([]byte, MaxValueSize), 0)
	if got := c.GetMulti(ctx, []string{"huge", "limit"}); len(got) != 0 {
		t.Fatalf("oversized values stored: %d entries", len(got))
	}
	if s := c.Stats(); s.Errors != 2 {
		t.Fatalf("Errors = %d, want 2 (one per dropped value)", s.Errors)
	}
	// The refusal must not leave a broken connection behind.
	c.Set(ctx, "after", []byte("ok"), 0)
	if got := c.GetMulti(ctx, []string{"after", "big"}); len(got) != 2 {
		t.Fatalf("cache unusable after an oversized Set: %d entries", len(got))
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	for name, c := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c.Set(ctx, "a", []byte("1"), 0)
			c.GetMulti(ctx, []string{"a", "b", "c"})
			got := c.(interface{ Stats() Stats }).Stats()
			if diff := cmp.Diff(Stats{Hits: 1, Misses: 2}, got); diff != "" {
				t.Fatalf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemcachedKilledAndRestarted(t *testing.T) {
	t.Parallel()
	mc := testmemcached.New(t)
	logs := &recordingHandler{}
	timeout := 200 * time.Millisecond
	c := NewMemcached([]string{mc.Addr()}, Options{Timeout: timeout, Logger: slog.New(logs)})
	ctx := t.Context()

	c.Set(ctx, "k", []byte("v"), 0)
	if got := c.GetMulti(ctx, []string{"k"}); string(got["k"]) != "v" {
		t.Fatalf("before the kill: %v", got)
	}

	mc.Stop()
	for i := range 5 {
		start := time.Now()
		got := c.GetMulti(ctx, []string{"k", "other"})
		c.Set(ctx, "k2", []byte("v"), 0)
		c.Delete(ctx, "k", "k2")
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Fatalf("round %d with memcached down took %v", i, elapsed)
		}
		if len(got) != 0 {
			t.Fatalf("round %d: GetMulti with memcached down = %v, want empty", i, got)
		}
	}
	if s := c.Stats(); s.Errors < 5*3 {
		t.Fatalf("Errors = %d after 15 failed operations", s.Errors)
	}
	if n := logs.count(); n != 1 {
		t.Fatalf("%d log records for a burst of failures, want 1 (rate-limited)", n)
	}

	mc.Restart()
	// The first call after the restart may still meet a connection to the dead
	// server; within a few attempts the cache must work again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.Set(ctx, "k", []byte("again"), 0)
		if got := c.GetMulti(ctx, []string{"k"}); string(got["k"]) == "again" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache still failing 5s after memcached restarted; stats %+v", c.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServerThatNeverAnswers: a listener that accepts connections and then says
// nothing, the worst kind of failure, must cost about Timeout per call.
func TestServerThatNeverAnswers(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	c := NewMemcached([]string{addr}, Options{Timeout: 100 * time.Millisecond, Logger: testLogger(t)})
	ctx := t.Context()

	for _, tc := range []struct {
		name string
		op   func()
	}{
		{"GetMulti", func() {
			if got := c.GetMulti(ctx, []string{"a", "b"}); len(got) != 0 {
				t.Errorf("GetMulti = %v, want empty", got)
			}
		}},
		{"Set", func() { c.Set(ctx, "a", []byte("v"), time.Minute) }},
		{"Delete", func() { c.Delete(ctx, "a", "b", "c", "d", "e", "f") }},
	} {
		start := time.Now()
		tc.op()
		// Loose on purpose: about 100ms is expected, 2s means no timeout at all.
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("%s against a silent server took %v", tc.name, elapsed)
		}
	}
	if s := c.Stats(); s.Errors != 3 || s.Misses != 2 {
		t.Errorf("Stats = %+v, want 3 errors and 2 misses", s)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	c := NewMemcached([]string{addr}, Options{Timeout: 5 * time.Second, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if got := c.GetMulti(ctx, []string{"a"}); len(got) != 0 {
		t.Fatalf("GetMulti = %v", got)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("GetMulti ignored the cancelled context for %v", elapsed)
	}
	c.Set(ctx, "a", []byte("v"), 0) // already cancelled: returns at once
	if s := c.Stats(); s.Errors != 0 {
		t.Fatalf("a caller's cancellation counted as %d cache errors", s.Errors)
	}
}

func TestNoServers(t *testing.T) {
	t.Parallel()
	for _, servers := range [][]string{nil, {"no-such-host.invalid:11211"}} {
		c := NewMemcached(servers, Options{Logger: slog.New(slog.DiscardHandler)})
		ctx := t.Context()
		c.Set(ctx, "a", []byte("v"), 0)
		c.Delete(ctx, "a")
		if got := c.GetMulti(ctx, []string{"a"}); len(got) != 0 {
			t.Fatalf("servers %q: GetMulti = %v", servers, got)
		}
	}
}

// silentServer accepts connections, reads whatever comes, and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

type recordingHandler struct{ n atomic.Int64 }

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }
func (h *recordingHandler) count() int64                       { return h.n.Load() }
