package drift

import (
	"log/slog"
	"maps"
	"testing"
	"time"
)

// BenchmarkResolveWarm50 is the hot path of every GetStatus: a set of 50 PRs whose
// facts and comparisons are all fresh in memory.
func BenchmarkResolveWarm50(b *testing.B) {
	gh := newFakeGitHub()
	targets := world(gh, 1, 50)
	e := newEnv(b, gh, newMapCache(), newClock())
	if res := e.r.Resolve(b.Context(), targets); res.Stale {
		b.Fatal("cold resolve failed")
	}
	before := gh.count()
	b.ReportAllocs()
	for b.Loop() {
		e.r.Resolve(b.Context(), targets)
	}
	if !maps.Equal(before, gh.count()) {
		b.Fatal("warm resolves called GitHub")
	}
}

// BenchmarkResolveWarm50Parallel is the same under concurrent readers (the read lock and
// the counters must not serialise them).
func BenchmarkResolveWarm50Parallel(b *testing.B) {
	gh := newFakeGitHub()
	targets := world(gh, 1, 50)
	e := newEnv(b, gh, newMapCache(), newClock())
	e.r.Resolve(b.Context(), targets)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.r.Resolve(b.Context(), targets)
		}
	})
}

// BenchmarkResolveCold50 is a first resolve of 50 open PRs (a fresh Resolver and an
// empty cache every time) against a zero-latency GitHub: the resolver's own overhead
// for one listing and 50 comparisons, L2 writes included.
func BenchmarkResolveCold50(b *testing.B) {
	gh := newFakeGitHub()
	targets := world(gh, 1, 50)
	clk := newClock()
	opts := Options{Repo: testRepo, TTL: time.Minute, Logger: slog.New(slog.DiscardHandler), Now: clk.Now}
	b.ReportAllocs()
	for b.Loop() {
		r := New(gh, newMapCache(), opts)
		if res := r.Resolve(b.Context(), targets); res.Stale {
			b.Fatal("stale")
		}
	}
}
