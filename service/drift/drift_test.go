package drift

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/internetarchive/testingd/integrations/github"
)

var ignoreErr = cmpopts.IgnoreFields(Facts{}, "Err")

// resolveAsync runs Resolve in the background so a test can drive the fake's rounds.
func resolveAsync(ctx context.Context, r *Resolver, targets []Target) <-chan Result {
	done := make(chan Result, 1)
	go func() { done <- r.Resolve(ctx, targets) }()
	return done
}

func wantCalls(t *testing.T, gh *fakeGitHub, want map[string]int) {
	t.Helper()
	got := gh.count()
	maps.DeleteFunc(got, func(_ string, v int) bool { return v == 0 })
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GitHub calls (-want +got):\n%s", diff)
	}
}

// openFacts is what a fresh open PR of world() resolves to.
func openFacts(n int, at time.Time) Facts {
	return Facts{
		Number: n, Known: true, Title: fmt.Sprintf("PR %d", n),
		Author: "author", AuthorAvatar: "https://a/1", Assignee: "assignee", AssigneeAvatar: "https://a/2",
		HeadSHA: headOf(n), Drift: n%5 + 1, ResolvedAt: at,
	}
}

func TestColdSetIsOneListingThenAllComparesAtOnce(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 50)
	e := newEnv(t, gh, newMapCache(), newClock())
	gh.holdCalls()

	done := resolveAsync(t.Context(), e.r, targets)
	gh.round(t, map[string]int{"list": 1})     // round 1: the listing alone
	gh.round(t, map[string]int{"compare": 50}) // round 2: every compare together
	res := <-done

	wantCalls(t, gh, map[string]int{"list": 1, "compare": 50})
	if got := gh.maxInflight(); got != 50 {
		t.Errorf("max calls in flight = %d, want 50", got)
	}
	now := e.clock.Now()
	for _, tg := range targets {
		if diff := cmp.Diff(openFacts(tg.Number, now), res.PRs[tg.Number]); diff != "" {
			t.Errorf("PR %d (-want +got):\n%s", tg.Number, diff)
		}
	}
	if res.Stale || res.Err != nil || !res.ResolvedAt.Equal(now) || len(res.PRs) != 50 {
		t.Errorf("result: stale=%v err=%v resolvedAt=%v prs=%d", res.Stale, res.Err, res.ResolvedAt, len(res.PRs))
	}
	// L2: facts for a day (served stale across restarts), comparisons forever.
	if _, ttl, ok := e.cache.get("testingd/v1/internetarchive/openlibrary/pull/7"); !ok || ttl != 24*time.Hour {
		t.Errorf("pull/7 in L2: ok=%v ttl=%v, want 24h", ok, ttl)
	}
	if _, ttl, ok := e.cache.get("testingd/v1/internetarchive/openlibrary/compare/" + pinOf(7) + "..." + headOf(7)); !ok || ttl != 0 {
		t.Errorf("compare in L2: ok=%v ttl=%v, want forever", ok, ttl)
	}
	if s := e.r.Stats(); s.ColdBlocks != 1 || s.ListCalls != 1 || s.PullCalls != 0 || s.CompareCalls != 50 {
		t.Errorf("stats = %+v", s)
	}
}

// A merged or a closed PR leaves the box at the next deploy: its drift is not asked
// (Drift -1, not stale), so its GetPull, which can only start once the listing shows it
// missing, is the last round trip of a cold resolve, alongside the compares of the PRs
// that are open.
func TestMergedAndClosedAreNotCompared(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	gh.set(func(f *fakeGitHub) {
		f.pulls[4] = github.Pull{Number: 4, State: "closed", Merged: true, Title: "merged", HeadSHA: headOf(4)}
		f.pulls[5] = github.Pull{Number: 5, State: "closed", Title: "closed", HeadSHA: headOf(5), Mergeable: ptr(false)}
		f.compares[pinOf(5)+"..."+headOf(5)] = github.Comparison{Status: "diverged", AheadBy: 9, BehindBy: 1}
	})
	targets = append(targets, Target{4, pinOf(4)}, Target{5, pinOf(5)})
	e := newEnv(t, gh, newMapCache(), newClock())
	gh.holdCalls()

	done := resolveAsync(t.Context(), e.r, targets)
	gh.round(t, map[string]int{"list": 1})
	// Compares of the listed PRs run together with the GetPulls of the missing ones,
	// and nothing follows them.
	gh.round(t, map[string]int{"compare": 3, "pull": 2})
	var res Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve still waits after the last GitHub answer (for a compare never asked?)")
	}

	wantCalls(t, gh, map[string]int{"list": 1, "pull": 2, "compare": 3})
	if gh.pullCount(4) != 1 || gh.pullCount(5) != 1 {
		t.Errorf("GetPull calls: want one each for 4 and 5")
	}
	if f := res.PRs[4]; !f.Known || !f.Merged || f.Closed || f.Drift != -1 || f.Diverged || f.Stale || f.Err != nil || f.Mergeable != nil {
		t.Errorf("merged PR: %+v", f)
	}
	if f := res.PRs[5]; !f.Known || f.Merged || !f.Closed || f.Drift != -1 || f.Diverged || f.Stale || f.Err != nil || f.Mergeable == nil || *f.Mergeable {
		t.Errorf("closed PR: %+v", f)
	}
	if f := res.PRs[1]; f.Merged || f.Closed || f.Mergeable != nil || f.Drift != 2 {
		t.Errorf("open PR: %+v", f)
	}
	if res.Stale || res.Err != nil {
		t.Errorf("result: stale=%v err=%v", res.Stale, res.Err)
	}
	if _, _, ok := e.cache.get(e.r.compareKey(pinOf(4), headOf(4))); ok {
		t.Error("a comparison of the merged PR in L2")
	}

	// Read again: answered from memory, no flight, no wait.
	gh.unhold()
	if res := e.r.Resolve(t.Context(), targets); res.Stale || res.PRs[4].Drift != -1 {
		t.Errorf("second read: stale=%v merged PR %+v", res.Stale, res.PRs[4])
	}
	e.noUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 1, "pull": 2, "compare": 3})
	if s := e.r.Stats(); s.ColdBlocks != 1 || s.BackgroundRefreshes != 0 {
		t.Errorf("stats = %+v", s)
	}

	// Later, merged and closed PRs still absent from the listing stay merged and closed:
	// one listing renews everything, no GetPull, no compare. PR 1 is merged meanwhile:
	// its comparison, known already, is no longer its drift.
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[1]
		p.State, p.Merged = "closed", true
		f.pulls[1] = p
	})
	e.clock.Advance(61 * time.Second)
	if res := e.r.Resolve(t.Context(), targets); !res.Stale {
		t.Fatal("not stale after the TTL")
	}
	e.waitUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 2, "pull": 3, "compare": 3})
	res = e.r.Resolve(t.Context(), targets)
	if f := res.PRs[4]; res.Stale || !f.Merged || !f.ResolvedAt.Equal(e.clock.Now()) {
		t.Errorf("after refresh: stale=%v merged PR %+v", res.Stale, f)
	}
	if f := res.PRs[1]; !f.Merged || f.Drift != -1 || f.Stale {
		t.Errorf("after refresh: PR 1, merged since: %+v", f)
	}

	// The closed PR is reopened: it is in the listing again and compared then.
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[5]
		p.State = "open"
		f.pulls[5] = p
	})
	e.clock.Advance(61 * time.Second)
	e.r.Resolve(t.Context(), targets)
	e.waitUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 3, "pull": 3, "compare": 4})
	res = e.r.Resolve(t.Context(), targets)
	if f := res.PRs[5]; res.Stale || f.Closed || f.Drift != 9 || !f.Diverged || f.Stale {
		t.Errorf("reopened PR: stale=%v %+v", res.Stale, f)
	}
}

// A restarted instance finds a merged PR's facts in the shared cache: it answers at
// once, without looking for (or waiting on) a comparison.
func TestMergedFromTheCacheNeedsNoComparison(t *testing.T) {
	t.Parallel()
	gh1, gh2 := newFakeGitHub(), newFakeGitHub()
	targets := world(gh1, 1, 2)
	gh1.set(func(f *fakeGitHub) {
		f.pulls[3] = github.Pull{Number: 3, State: "closed", Merged: true, HeadSHA: headOf(3)}
	})
	targets = append(targets, Target{3, pinOf(3)})
	cache, clk := newMapCache(), newClock()
	a := newEnv(t, gh1, cache, clk)
	if res := a.r.Resolve(t.Context(), targets); res.Stale {
		t.Fatalf("A: stale, %v", res.Err)
	}
	wantCalls(t, gh1, map[string]int{"list": 1, "pull": 1, "compare": 2})

	b := newEnv(t, gh2, cache, clk)
	res := b.r.Resolve(t.Context(), targets)
	if f := res.PRs[3]; res.Stale || !f.Merged || f.Drift != -1 || f.Stale {
		t.Errorf("B: stale=%v merged PR %+v", res.Stale, f)
	}
	b.noUpdate(t)
	wantCalls(t, gh2, nil)
	// Three facts and two comparisons; none looked for the merged PR.
	if s := b.r.Stats(); s.L2Hits != 5 || s.L2Misses != 0 || s.ColdBlocks != 0 {
		t.Errorf("B stats: %+v", s)
	}
}

func TestWarmSetMakesNoCalls(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 50)
	e := newEnv(t, gh, newMapCache(), newClock())
	first := e.r.Resolve(t.Context(), targets)
	before := gh.count()
	gets := e.cache.getMultiCalls()

	for range 3 {
		e.clock.Advance(10 * time.Second)
		res := e.r.Resolve(t.Context(), targets)
		if diff := cmp.Diff(first, res, cmpopts.EquateErrors()); diff != "" {
			t.Fatalf("warm result differs (-first +now):\n%s", diff)
		}
	}
	if got := gh.count(); !maps.Equal(got, before) {
		t.Errorf("warm resolves called GitHub: %v → %v", before, got)
	}
	if n := e.cache.getMultiCalls() - gets; n != 0 {
		t.Errorf("warm resolves asked L2 %d times", n)
	}
	e.noUpdate(t)
	if s := e.r.Stats(); s.Resolves != 4 || s.ColdBlocks != 1 || s.L1Hits != 150 {
		t.Errorf("stats = %+v", s)
	}
}

// TestL1MissesCounted: a PR memory cannot answer (no facts, a comparison never asked)
// is an L1 miss; an answer from memory, stale or not, a hit.
func TestL1MissesCounted(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) { o.CompareWait = time.Hour })
	e.r.Resolve(t.Context(), targets) // cold: 5 misses
	e.r.Resolve(t.Context(), targets) // warm: 5 hits
	targets[2].Pin = sha(31337)       // a comparison never asked: 1 miss, 4 hits
	e.r.Resolve(t.Context(), targets)
	if s := e.r.Stats(); s.L1Misses != 6 || s.L1Hits != 9 {
		t.Errorf("L1 misses %d, hits %d; want 6, 9", s.L1Misses, s.L1Hits)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)
	resolvedAt := e.clock.Now()

	// PR 1 moves on; time passes the TTL; GitHub becomes slow (every call parked).
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[1]
		p.HeadSHA = sha(777)
		f.pulls[1] = p
		f.compares[pinOf(1)+"..."+sha(777)] = github.Comparison{Status: "ahead", AheadBy: 5}
	})
	e.clock.Advance(61 * time.Second)
	gh.holdCalls()

	// The read does not wait: it gets the old facts, marked stale.
	res := e.r.Resolve(t.Context(), targets)
	if !res.Stale || res.Err != nil || !res.ResolvedAt.Equal(resolvedAt) {
		t.Errorf("stale read: stale=%v err=%v resolvedAt=%v", res.Stale, res.Err, res.ResolvedAt)
	}
	if f := res.PRs[1]; !f.Stale || f.HeadSHA != headOf(1) || f.Drift != 2 {
		t.Errorf("stale PR 1: %+v", f)
	}
	// A second read does not start a second refresh.
	e.r.Resolve(t.Context(), targets)

	gh.round(t, map[string]int{"list": 1})
	gh.round(t, map[string]int{"compare": 1}) // only PR 1's head moved
	e.waitUpdate(t)

	res = e.r.Resolve(t.Context(), targets)
	if res.Stale || !res.ResolvedAt.Equal(e.clock.Now()) {
		t.Errorf("after refresh: stale=%v resolvedAt=%v", res.Stale, res.ResolvedAt)
	}
	if f := res.PRs[1]; f.Stale || f.HeadSHA != sha(777) || f.Drift != 5 {
		t.Errorf("refreshed PR 1: %+v", f)
	}
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 6})
	if s := e.r.Stats(); s.BackgroundRefreshes != 1 {
		t.Errorf("background refreshes = %d, want 1", s.BackgroundRefreshes)
	}
}

func TestDriftRules(t *testing.T) {
	t.Parallel()
	const head = "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
	pin := sha(42)
	tests := []struct {
		name         string
		pin          string
		cmp          *github.Comparison
		cmpErr       error
		wantDrift    int
		wantDiverged bool
		wantErr      error
		wantStale    bool
		wantCompares int
	}{
		{name: "pin is head", pin: head, wantDrift: 0},
		{name: "short pin is a prefix of head", pin: head[:7], wantDrift: 0},
		{name: "upper-case short pin", pin: strings.ToUpper(head[:10]), wantDrift: 0},
		{name: "empty pin is unknown, not 0", pin: "", wantDrift: -1},
		{name: "garbage pin never reaches GitHub", pin: "main; rm -rf", wantDrift: -1, wantErr: ErrInvalidPin},
		{name: "ahead", pin: pin, cmp: &github.Comparison{Status: "ahead", AheadBy: 3}, wantDrift: 3, wantCompares: 1},
		{name: "diverged", pin: pin, cmp: &github.Comparison{Status: "diverged", AheadBy: 4, BehindBy: 2}, wantDrift: 4, wantDiverged: true, wantCompares: 1},
		{name: "head behind the pin", pin: pin, cmp: &github.Comparison{Status: "behind", BehindBy: 3}, wantDrift: 0, wantCompares: 1},
		{name: "short pin not a prefix is compared", pin: "1234567", cmp: &github.Comparison{Status: "ahead", AheadBy: 7}, wantDrift: 7, wantCompares: 1},
		{name: "pin gone (compare 404)", pin: pin, cmpErr: github.ErrNotFound, wantDrift: -1, wantErr: github.ErrNotFound, wantCompares: 1},
		{name: "compare unavailable", pin: pin, cmpErr: github.ErrUnavailable, wantDrift: -1, wantErr: github.ErrUnavailable, wantStale: true, wantCompares: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub()
			p, _ := normPin(tc.pin)
			gh.set(func(f *fakeGitHub) {
				f.pulls[1] = github.Pull{Number: 1, State: "open", HeadSHA: head}
				if tc.cmp != nil {
					f.compares[p+"..."+head] = *tc.cmp
				}
				if tc.cmpErr != nil {
					f.cmpErr[p+"..."+head] = fmt.Errorf("compare: %w", tc.cmpErr)
				}
			})
			e := newEnv(t, gh, newMapCache(), newClock())
			res := e.r.Resolve(t.Context(), []Target{{1, tc.pin}})
			f := res.PRs[1]
			if !f.Known || f.Drift != tc.wantDrift || f.Diverged != tc.wantDiverged || f.Stale != tc.wantStale || res.Stale != tc.wantStale {
				t.Errorf("got %+v (result stale %v), want drift %d diverged %v stale %v", f, res.Stale, tc.wantDrift, tc.wantDiverged, tc.wantStale)
			}
			if !errors.Is(f.Err, tc.wantErr) || (tc.wantErr == nil) != (f.Err == nil) {
				t.Errorf("err = %v, want %v", f.Err, tc.wantErr)
			}
			if got := gh.count()["compare"]; got != tc.wantCompares {
				t.Errorf("compares = %d, want %d", got, tc.wantCompares)
			}
			// A failed compare is not asked again on every read.
			e.r.Resolve(t.Context(), []Target{{1, tc.pin}})
			e.r.flights.Wait()
			if got := gh.count()["compare"]; got != tc.wantCompares {
				t.Errorf("compares after a second read = %d, want %d", got, tc.wantCompares)
			}
		})
	}
}

func TestComparisonsOutliveTheTTL(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 10)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 1, "compare": 10})

	e.clock.Advance(61 * time.Second)
	e.r.Resolve(t.Context(), targets)
	e.waitUpdate(t)
	// Heads unchanged: the refresh is one listing and no compare.
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 10})
	if res := e.r.Resolve(t.Context(), targets); res.Stale || res.PRs[3].Drift != 4 {
		t.Errorf("after refresh: stale=%v PR 3 %+v", res.Stale, res.PRs[3])
	}
}

func TestPinMovedAsksOnlyTheNewCompare(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	// Within CompareWait a read waits for the new comparison (the round below
	// releases it); see TestNeverAskedCompareAnswersPending for past it.
	e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) { o.CompareWait = time.Hour })
	e.r.Resolve(t.Context(), targets)

	targets[2].Pin = sha(31337)
	gh.holdCalls()
	done := resolveAsync(t.Context(), e.r, targets)
	gh.round(t, map[string]int{"compare": 1})
	res := <-done
	wantCalls(t, gh, map[string]int{"list": 1, "compare": 6})
	if got := gh.compareCounts(); got[sha(31337)+"..."+headOf(3)] != 1 {
		t.Errorf("compare calls: %v", got)
	}
	if f := res.PRs[3]; f.Drift != 2 || f.Stale || res.Stale {
		t.Errorf("PR 3 after the pin moved: %+v", f)
	}
}

// A comparison never asked (a pin just set, a head that moved) holds a read for
// CompareWait at most: then the read answers with everything known (the head, the
// title) and the drift pending, and the comparison, which goes on, is announced
// through OnUpdate.
func TestNeverAskedCompareAnswersPending(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wait time.Duration
	}{
		{"no wait", -1},
		{"a short wait", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub()
			targets := world(gh, 1, 5)
			e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) { o.CompareWait = tc.wait })
			e.r.Resolve(t.Context(), targets)

			targets[2].Pin = sha(31337)
			gh.holdCalls() // GitHub hangs: the comparison is parked until released
			res := e.r.Resolve(t.Context(), targets)
			f := res.PRs[3]
			if !f.Known || f.HeadSHA != headOf(3) || f.Title != "PR 3" || f.Drift != -1 || !f.Stale || f.Err != nil || !res.Stale {
				t.Errorf("PR 3 while its comparison hangs: %+v (result stale=%v); want the known facts, drift pending", f, res.Stale)
			}
			if f := res.PRs[2]; f.Drift != openFacts(2, f.ResolvedAt).Drift || f.Stale {
				t.Errorf("PR 2 (nothing to ask): %+v", f)
			}
			// A second read while it is under way does not ask again.
			e.r.Resolve(t.Context(), targets)
			gh.round(t, map[string]int{"compare": 1})
			e.waitUpdate(t)
			if f := e.r.Resolve(t.Context(), targets).PRs[3]; f.Drift != 2 || f.Stale {
				t.Errorf("PR 3 after the comparison: %+v", f)
			}
			if got := gh.compareCounts(); got[sha(31337)+"..."+headOf(3)] != 1 {
				t.Errorf("compare calls: %v; want the new one asked once", got)
			}
		})
	}
}

func TestAddedPRUsesTheRecentListing(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 6)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets[:5])
	e.clock.Advance(20 * time.Second)

	// PR 6 was in the listing 20 s ago: its facts are free, only its compare is asked.
	res := e.r.Resolve(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 1, "compare": 6})
	if f := res.PRs[6]; !f.Known || f.Drift != 2 || !f.ResolvedAt.Equal(e.clock.Now().Add(-20*time.Second)) {
		t.Errorf("PR 6: %+v", f)
	}
	if res.Stale {
		t.Error("stale")
	}
}

func TestConcurrentColdResolvesShareEverything(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 30)
	gh.set(func(f *fakeGitHub) {
		f.latency = 2 * time.Millisecond
		f.pulls[31] = github.Pull{Number: 31, State: "closed", Merged: true, HeadSHA: headOf(31)}
	})
	targets = append(targets, Target{31, pinOf(31)})
	e := newEnv(t, gh, newMapCache(), newClock())

	var wg sync.WaitGroup
	results := make([]Result, 20)
	start := make(chan struct{})
	for i := range results {
		wg.Go(func() {
			<-start
			results[i] = e.r.Resolve(t.Context(), targets)
		})
	}
	close(start)
	wg.Wait()

	wantCalls(t, gh, map[string]int{"list": 1, "pull": 1, "compare": 30}) // the merged PR is not compared
	for k, n := range gh.compareCounts() {
		if n != 1 {
			t.Errorf("compare %s asked %d times", k, n)
		}
	}
	for i, res := range results {
		if res.Stale || len(res.PRs) != 31 || res.PRs[31].Drift != -1 || !res.PRs[31].Merged || res.PRs[30].Drift != 1 {
			t.Errorf("result %d: stale=%v PR 31 %+v", i, res.Stale, res.PRs[31])
		}
	}
}

// slowMissCache is a shared cache whose next GetMulti, once armed, answers a miss only
// when released: a slow memcached round trip.
type slowMissCache struct {
	*mapCache
	mu               sync.Mutex
	armed            bool
	entered, release chan struct{}
	releaseOnce      sync.Once
}

func (c *slowMissCache) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
}

func (c *slowMissCache) unblock() { c.releaseOnce.Do(func() { close(c.release) }) }

func (c *slowMissCache) GetMulti(ctx context.Context, keys []string) map[string][]byte {
	c.mu.Lock()
	armed := c.armed
	c.armed = false
	c.mu.Unlock()
	if !armed {
		return c.mapCache.GetMulti(ctx, keys)
	}
	close(c.entered)
	<-c.release
	return nil
}

// A read that finds facts or comparisons missing looks in L2 and then schedules; a
// refresh already under way can store the last of them in between (here: the merged PR's
// facts, the last answer of a cold refresh, since it is not compared), leaving nothing to
// schedule or wait for. The read must then answer with what is stored now, not with what
// it saw before looking in L2.
func TestResolveRereadsWhatLandedWhileItLookedInL2(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	gh.set(func(f *fakeGitHub) {
		f.pulls[4] = github.Pull{Number: 4, State: "closed", Merged: true, Title: "merged", HeadSHA: headOf(4)}
	})
	targets = append(targets, Target{4, pinOf(4)})
	cache := &slowMissCache{mapCache: newMapCache(), entered: make(chan struct{}), release: make(chan struct{})}
	r := New(gh, cache, Options{Repo: testRepo, TTL: time.Minute, Now: newClock().Now})
	t.Cleanup(func() {
		cache.unblock()
		gh.unhold()
		r.flights.Wait()
	})
	recv := func(ch <-chan Result, what string) Result {
		t.Helper()
		select {
		case res := <-ch:
			return res
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", what)
			return Result{}
		}
	}

	gh.holdCalls()
	first := resolveAsync(t.Context(), r, targets)
	gh.round(t, map[string]int{"list": 1})
	gh.waitParked(t, map[string]int{"compare": 3, "pull": 1})

	// The second read sees PR 4 unknown and PRs 1-3 not compared, and looks in L2.
	cache.arm()
	second := resolveAsync(t.Context(), r, targets)
	select {
	case <-cache.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the second read did not look in L2")
	}
	// Meanwhile the last round lands and the first read's refresh ends.
	gh.unhold()
	if res := recv(first, "first read"); res.Stale || !res.PRs[4].Known {
		t.Fatalf("first read: stale=%v PR 4 %+v", res.Stale, res.PRs[4])
	}
	cache.unblock()
	res := recv(second, "second read")

	if res.Stale || res.Err != nil {
		t.Errorf("second read: stale=%v err=%v", res.Stale, res.Err)
	}
	if f := res.PRs[4]; !f.Known || !f.Merged || f.Drift != -1 || f.Stale {
		t.Errorf("second read: merged PR %+v", f)
	}
	if f := res.PRs[1]; !f.Known || f.Drift != 2 || f.Stale {
		t.Errorf("second read: PR 1 %+v", f)
	}
	wantCalls(t, gh, map[string]int{"list": 1, "pull": 1, "compare": 3})
	if s := r.Stats(); s.ColdBlocks != 1 || s.BackgroundRefreshes != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)
	resolvedAt := e.clock.Now()

	e.clock.Advance(61 * time.Second)
	reset := e.clock.Now().Add(10 * time.Minute)
	gh.set(func(f *fakeGitHub) { f.listErr = &github.RateLimitError{Reset: reset} })
	e.r.Resolve(t.Context(), targets)
	e.waitUpdate(t) // the refresh ran into the limit
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 5})

	check := func(res Result) {
		t.Helper()
		rl, ok := errors.AsType[*github.RateLimitError](res.Err)
		if !res.Stale || !ok || !rl.Reset.Equal(reset) || !res.ResolvedAt.Equal(resolvedAt) {
			t.Errorf("result: stale=%v err=%v resolvedAt=%v", res.Stale, res.Err, res.ResolvedAt)
		}
		if f := res.PRs[2]; !f.Known || f.Drift != 3 || !f.Stale || !isRateLimit(f.Err) {
			t.Errorf("PR 2: %+v", f)
		}
	}
	check(e.r.Resolve(t.Context(), targets))
	// Until the reset, nothing is asked, not even by a forced refresh.
	e.clock.Advance(5 * time.Minute)
	check(e.r.Resolve(t.Context(), targets))
	check(e.r.Refresh(t.Context(), targets))
	e.r.flights.Wait()
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 5})
	if s := e.r.Stats(); s.RateLimitedSkips == 0 {
		t.Error("no skipped request counted")
	}

	// After the reset GitHub is asked again.
	e.clock.Advance(6 * time.Minute)
	gh.set(func(f *fakeGitHub) { f.listErr = nil })
	for e.r.Resolve(t.Context(), targets).Stale {
		e.r.flights.Wait()
	}
	wantCalls(t, gh, map[string]int{"list": 3, "compare": 5})
	if res := e.r.Resolve(t.Context(), targets); res.Err != nil || res.PRs[2].Err != nil {
		t.Errorf("after the reset: %v / %v", res.Err, res.PRs[2].Err)
	}
}

func TestRateLimitedCold(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	e := newEnv(t, gh, newMapCache(), newClock())
	gh.set(func(f *fakeGitHub) { f.listErr = &github.RateLimitError{} }) // no reset given
	for range 3 {
		res := e.r.Resolve(t.Context(), targets)
		if f := res.PRs[1]; !res.Stale || !isRateLimit(res.Err) || f.Known || f.Drift != -1 {
			t.Errorf("stale=%v err=%v PR 1 %+v", res.Stale, res.Err, f)
		}
		if rl, _ := errors.AsType[*github.RateLimitError](res.Err); rl.Reset.IsZero() {
			t.Error("a rate limit without a reset time gets one")
		}
	}
	wantCalls(t, gh, map[string]int{"list": 1})
}

func TestListingUnavailableFallsBackToGetPull(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	gh.set(func(f *fakeGitHub) {
		f.listErr = fmt.Errorf("list: %w", github.ErrUnavailable)
		for n, p := range f.pulls {
			p.Mergeable = ptr(n%2 == 0)
			f.pulls[n] = p
		}
	})
	e := newEnv(t, gh, newMapCache(), newClock())
	gh.holdCalls()
	done := resolveAsync(t.Context(), e.r, targets)
	gh.round(t, map[string]int{"list": 1})
	gh.round(t, map[string]int{"pull": 5})
	gh.round(t, map[string]int{"compare": 5})
	res := <-done
	wantCalls(t, gh, map[string]int{"list": 1, "pull": 5, "compare": 5})
	if res.Stale {
		t.Errorf("stale: %v", res.Err)
	}
	for _, tg := range targets {
		want := openFacts(tg.Number, e.clock.Now())
		want.Mergeable = ptr(tg.Number%2 == 0) // GetPull carries it
		if diff := cmp.Diff(want, res.PRs[tg.Number]); diff != "" {
			t.Errorf("PR %d (-want +got):\n%s", tg.Number, diff)
		}
	}
}

func TestGitHubDownServesStaleWithoutHammering(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)

	e.clock.Advance(61 * time.Second)
	down := fmt.Errorf("502: %w", github.ErrUnavailable)
	gh.set(func(f *fakeGitHub) {
		f.listErr = down
		for n := range f.pulls {
			f.pullErr[n] = down
		}
	})
	e.r.Resolve(t.Context(), targets)
	e.waitUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 2, "pull": 3, "compare": 3})

	res := e.r.Resolve(t.Context(), targets)
	if !res.Stale || !errors.Is(res.Err, github.ErrUnavailable) || isRateLimit(res.Err) || res.PRs[1].Drift != 2 {
		t.Errorf("stale=%v err=%v PR 1 %+v", res.Stale, res.Err, res.PRs[1])
	}
	e.noUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 2, "pull": 3, "compare": 3})

	e.clock.Advance(e.r.retry)
	e.r.Resolve(t.Context(), targets)
	e.waitUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 3, "pull": 6, "compare": 3})
}

func TestOnePRNotFound(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := append(world(gh, 1, 4), Target{99, sha(99)})
	e := newEnv(t, gh, newMapCache(), newClock())
	res := e.r.Resolve(t.Context(), targets)

	if f := res.PRs[99]; f.Known || f.Drift != -1 || !errors.Is(f.Err, github.ErrNotFound) || f.Stale {
		t.Errorf("PR 99: %+v", f)
	}
	for n := 1; n <= 4; n++ {
		if diff := cmp.Diff(openFacts(n, e.clock.Now()), res.PRs[n]); diff != "" {
			t.Errorf("PR %d (-want +got):\n%s", n, diff)
		}
	}
	// GitHub answered for every PR: nothing is stale.
	if res.Stale || res.Err != nil {
		t.Errorf("result: stale=%v err=%v", res.Stale, res.Err)
	}
	// The answer is kept like any other: not asked again within the TTL.
	e.r.Resolve(t.Context(), targets)
	e.noUpdate(t)
	wantCalls(t, gh, map[string]int{"list": 1, "pull": 1, "compare": 4})
}

func TestEvict(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)

	gh.set(func(f *fakeGitHub) {
		p := f.pulls[2]
		p.Title = "renamed"
		f.pulls[2] = p
	})
	e.r.Evict(t.Context(), nil)
	if _, _, ok := e.cache.get(e.r.pullKey(2)); ok {
		t.Error("evicted facts still in L2")
	}
	if _, _, ok := e.cache.get(e.r.compareKey(pinOf(2), headOf(2))); !ok {
		t.Error("comparison evicted from L2")
	}
	res := e.r.Resolve(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 5}) // facts again, compares kept
	if f := res.PRs[2]; f.Title != "renamed" || f.Drift != 3 || res.Stale {
		t.Errorf("PR 2 after Evict: %+v", f)
	}

	e.r.Evict(t.Context(), []int{4})
	res = e.r.Resolve(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 3, "compare": 5})
	if s := e.r.Stats(); s.ColdBlocks != 3 || res.Stale {
		t.Errorf("stale=%v stats %+v", res.Stale, s)
	}
}

func TestEvictDropsARefreshAlreadyInFlight(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 2)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)

	e.clock.Advance(61 * time.Second)
	gh.holdCalls()
	e.r.Resolve(t.Context(), targets) // stale: a background refresh starts
	gh.waitParked(t, map[string]int{"list": 1})
	e.r.Evict(t.Context(), nil)
	gh.round(t, map[string]int{"list": 1}) // its answer predates the Evict
	e.noUpdate(t)
	if _, _, ok := e.cache.get(e.r.pullKey(1)); ok {
		t.Error("a refresh started before Evict wrote L2 after it")
	}

	gh.unhold()
	res := e.r.Resolve(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 3, "compare": 2})
	if res.Stale || !res.PRs[1].Known {
		t.Errorf("after Evict: %+v", res)
	}
}

func TestRefreshBypassesFreshness(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	e := newEnv(t, gh, newMapCache(), newClock())
	e.r.Resolve(t.Context(), targets)
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[1]
		p.Assignee, p.AssigneeAvatar = "", "" // unassigned on GitHub
		f.pulls[1] = p
	})
	e.clock.Advance(time.Second)

	res := e.r.Refresh(t.Context(), targets)
	wantCalls(t, gh, map[string]int{"list": 2, "compare": 3})
	if f := res.PRs[1]; f.Assignee != "" || f.AssigneeAvatar != "" || !f.ResolvedAt.Equal(e.clock.Now()) || res.Stale {
		t.Errorf("PR 1 after Refresh: %+v", f)
	}
}

func TestContextEndsDuringColdResolve(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 5)
	e := newEnv(t, gh, newMapCache(), newClock())
	gh.holdCalls()

	ctx, cancel := context.WithCancel(t.Context())
	done := resolveAsync(ctx, e.r, targets)
	gh.waitParked(t, map[string]int{"list": 1})
	cancel()
	res := <-done // returns although GitHub has not answered
	for _, tg := range targets {
		if f := res.PRs[tg.Number]; f.Known || f.Drift != -1 || !f.Stale {
			t.Errorf("PR %d: %+v", tg.Number, f)
		}
	}
	if !res.Stale || !res.ResolvedAt.IsZero() {
		t.Errorf("result: %+v", res)
	}

	// The refresh goes on without the caller and announces its result.
	gh.round(t, map[string]int{"list": 1})
	gh.round(t, map[string]int{"compare": 5})
	e.waitUpdate(t)
	res = e.r.Resolve(t.Context(), targets)
	if res.Stale || res.PRs[5].Drift != 1 {
		t.Errorf("after the refresh: %+v", res.PRs[5])
	}
	wantCalls(t, gh, map[string]int{"list": 1, "compare": 5})
}

func TestTwoInstancesShareTheCache(t *testing.T) {
	t.Parallel()
	gh1, gh2 := newFakeGitHub(), newFakeGitHub()
	targets := world(gh1, 1, 5)
	world(gh2, 1, 5)
	cache, clk := newMapCache(), newClock()
	a := newEnv(t, gh1, cache, clk)
	b := newEnv(t, gh2, cache, clk)

	resA := a.r.Resolve(t.Context(), targets)
	resB := b.r.Resolve(t.Context(), targets)
	if diff := cmp.Diff(resA, resB, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("B differs from A (-A +B):\n%s", diff)
	}
	wantCalls(t, gh2, nil)
	if s := b.r.Stats(); s.L2Hits != 10 || s.ColdBlocks != 0 {
		t.Errorf("B stats: %+v", s)
	}

	// After the TTL, A refreshes from GitHub; B's background refresh finds A's facts in
	// the shared cache and asks GitHub nothing.
	clk.Advance(61 * time.Second)
	a.r.Resolve(t.Context(), targets)
	a.waitUpdate(t)
	if !b.r.Resolve(t.Context(), targets).Stale {
		t.Error("B not stale after the TTL")
	}
	b.waitUpdate(t)
	if res := b.r.Resolve(t.Context(), targets); res.Stale || !res.ResolvedAt.Equal(clk.Now()) {
		t.Errorf("B after A's refresh: stale=%v resolvedAt=%v", res.Stale, res.ResolvedAt)
	}
	wantCalls(t, gh1, map[string]int{"list": 2, "compare": 5})
	wantCalls(t, gh2, nil)
}

func TestInvalidTargets(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	e := newEnv(t, gh, newMapCache(), newClock())
	res := e.r.Resolve(t.Context(), []Target{{0, sha(1)}, {-3, ""}})
	if f := res.PRs[0]; f.Known || f.Drift != -1 || !errors.Is(f.Err, ErrInvalidNumber) {
		t.Errorf("PR 0: %+v", f)
	}
	if res.Stale || len(res.PRs) != 2 {
		t.Errorf("result: %+v", res)
	}
	if res := e.r.Resolve(t.Context(), nil); len(res.PRs) != 0 || res.Stale {
		t.Errorf("empty set: %+v", res)
	}
	wantCalls(t, gh, nil)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	r := New(newFakeGitHub(), nil, Options{Repo: testRepo})
	if got, want := r.pullKey(13269), "testingd/v1/internetarchive/openlibrary/pull/13269"; got != want {
		t.Errorf("pull key = %q, want %q", got, want)
	}
	if got, want := r.compareKey("1d23364", headOf(1)), "testingd/v1/internetarchive/openlibrary/compare/1d23364..."+headOf(1); got != want {
		t.Errorf("compare key = %q, want %q", got, want)
	}
	for _, repo := range []string{strings.Repeat("o", 100) + "/" + strings.Repeat("n", 100), "owner/a name", "ow\nner/x"} {
		r := New(newFakeGitHub(), nil, Options{Repo: repo})
		for _, k := range []string{r.pullKey(1), r.compareKey(sha(1), sha(2))} {
			if len(k) > 250 || strings.ContainsAny(k, " \n\r\t") {
				t.Errorf("repo %q: unsafe key %q", repo, k)
			}
		}
		if r.compareKey(sha(1), sha(2)) == r.compareKey(sha(1), sha(3)) {
			t.Error("hashed keys collide")
		}
	}
}

func TestCacheGarbageIsAMiss(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 2)
	cache := newMapCache()
	e := newEnv(t, gh, cache, newClock())
	cache.Set(t.Context(), e.r.pullKey(1), []byte("{not json"), 0)
	cache.Set(t.Context(), e.r.compareKey(pinOf(2), headOf(2)), []byte(`{}`), 0)
	res := e.r.Resolve(t.Context(), targets)
	if diff := cmp.Diff(openFacts(1, e.clock.Now()), res.PRs[1], ignoreErr); diff != "" || res.Stale {
		t.Errorf("PR 1 (-want +got):\n%s", diff)
	}
	wantCalls(t, gh, map[string]int{"list": 1, "compare": 2})
}
