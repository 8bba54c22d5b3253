package drift

import (
	"errors"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
)

// A webhook's facts are taken without asking GitHub for them; a moved head is compared
// in the background while reads show the new head at once, and OnUpdate announces the
// drift.
func TestApplyWebhookFacts(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	e := newEnv(t, gh, newMapCache(), newClock())
	ctx := t.Context()
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait()
	before := gh.count()

	// A push to #2: the new head is 7 commits ahead of the pin.
	moved := sha(99)
	p := gh.pulls[2]
	p.HeadSHA, p.Title = moved, "PR 2, retitled"
	gh.set(func(f *fakeGitHub) {
		f.pulls[2] = p
		f.compares[pinOf(2)+"..."+moved] = github.Comparison{Status: "ahead", AheadBy: 7}
	})
	gh.holdCalls() // the comparison waits at the gate: reads must not
	if !e.r.Apply(ctx, targets[1], p) {
		t.Fatal("Apply refused fresh facts")
	}
	res := e.r.Resolve(ctx, targets)
	f := res.PRs[2]
	if f.HeadSHA != moved || f.Title != "PR 2, retitled" || f.Drift != -1 || !f.Stale {
		t.Errorf("while comparing: head %s title %q drift %d stale %v; want the new head and title, drift pending", f.HeadSHA, f.Title, f.Drift, f.Stale)
	}
	gh.waitParked(t, map[string]int{"compare": 1})
	gh.unhold()
	e.waitUpdate(t)
	e.r.flights.Wait()
	if f := e.r.Resolve(ctx, targets).PRs[2]; f.Drift != 7 || f.Stale {
		t.Errorf("after the comparison: drift %d stale %v; want 7, fresh", f.Drift, f.Stale)
	}
	after := gh.count()
	if after["pull"] != before["pull"] || after["list"] != before["list"] || after["compare"] != before["compare"]+1 {
		t.Errorf("GitHub calls %v → %v; want exactly one more compare", before, after)
	}

	// A merge: no comparison, the PR is merged at once.
	p.Merged, p.State = true, "closed"
	e.r.Apply(ctx, targets[1], p)
	if f := e.r.Resolve(ctx, targets).PRs[2]; !f.Merged || f.Drift != -1 {
		t.Errorf("after a merge webhook: merged %v drift %d", f.Merged, f.Drift)
	}
	e.r.flights.Wait()
	if got := gh.count()["compare"]; got != after["compare"] {
		t.Errorf("a merged PR was compared (%d compares)", got)
	}
}

// Apply keeps the newest facts: a webhook older than what a fetch brought is dropped,
// and a row that does not match the pull is refused.
func TestApplyOrder(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 1)
	clk := newClock()
	e := newEnv(t, gh, newMapCache(), clk)
	ctx := t.Context()
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait()
	clk.Advance(-time.Second) // the webhook was stamped before the fetch
	old := gh.pulls[1]
	old.Title = "old title"
	if e.r.Apply(ctx, targets[0], old) {
		t.Error("Apply took facts older than the fetched ones")
	}
	if f := e.r.Resolve(ctx, targets).PRs[1]; f.Title != "PR 1" {
		t.Errorf("title %q; want the fetched one", f.Title)
	}
	if e.r.Apply(ctx, Target{Number: 2, Pin: pinOf(1)}, old) {
		t.Error("Apply took PR 1's facts for row 2")
	}
	// Deliveries out of order: the later push arrives first, then the earlier one.
	clk.Advance(time.Minute)
	later, earlier := gh.pulls[1], gh.pulls[1]
	later.HeadSHA, later.UpdatedAt = sha(31), clk.Now().Add(-10*time.Second)
	earlier.HeadSHA, earlier.UpdatedAt = sha(30), clk.Now().Add(-20*time.Second)
	if !e.r.Apply(ctx, targets[0], later) {
		t.Fatal("Apply refused the later push")
	}
	if e.r.Apply(ctx, targets[0], earlier) {
		t.Error("Apply took a delivery older (updated_at) than the one applied")
	}
	if f := e.r.Resolve(ctx, targets).PRs[1]; f.HeadSHA != sha(31) {
		t.Errorf("head %s; want the later push's", f.HeadSHA)
	}
}

// Reconcile asks every PR once (GetPull, conditional at the wire), stores what changed
// and compares moved heads; it asks nothing while rate-limited or, unforced, when the
// budget is at its reserve.
func TestReconcile(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 4)
	var budget github.Budget
	e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) {
		o.Budget = func() github.Budget { return budget }
	})
	ctx := t.Context()
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait()

	// A webhook lost: #3 was pushed to and #4 merged, and nobody told us.
	moved := sha(77)
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[3]
		p.HeadSHA = moved
		f.pulls[3] = p
		f.compares[pinOf(3)+"..."+moved] = github.Comparison{Status: "ahead", AheadBy: 9}
		p = f.pulls[4]
		p.State, p.Merged = "closed", true
		f.pulls[4] = p
	})
	before := gh.count()
	res := e.r.Reconcile(ctx, targets, false)
	if res.Asked != 4 || res.Skipped || res.Err != nil {
		t.Fatalf("Reconcile = %+v; want 4 asked", res)
	}
	after := gh.count()
	if after["pull"]-before["pull"] != 4 || after["compare"]-before["compare"] != 1 || after["list"] != before["list"] {
		t.Errorf("calls %v → %v; want 4 pulls and 1 compare", before, after)
	}
	got := e.r.Resolve(ctx, targets).PRs
	if got[3].HeadSHA != moved || got[3].Drift != 9 || !got[4].Merged {
		t.Errorf("after Reconcile: #3 head %s drift %d, #4 merged %v", got[3].HeadSHA, got[3].Drift, got[4].Merged)
	}

	// The budget at its reserve: an unforced reconcile asks nothing, a forced one (a
	// deploy's check) still does.
	budget = github.Budget{Known: true, Limit: 5000, Remaining: 50, Reset: e.clock.Now().Add(time.Hour)}
	res = e.r.Reconcile(ctx, targets, false)
	if be, ok := errors.AsType[*BudgetError](res.Err); !res.Skipped || !ok || be.Remaining != 50 {
		t.Errorf("low budget: Reconcile = %+v; want skipped with a BudgetError", res)
	}
	if gh.count()["pull"] != after["pull"] {
		t.Error("a skipped reconcile asked GitHub")
	}
	if res := e.r.Reconcile(ctx, targets, true); res.Skipped || res.Asked != 4 {
		t.Errorf("forced Reconcile at a low budget = %+v; want it to ask", res)
	}
}

// With the budget at its reserve, stale facts are served (marked stale, saying why)
// and not refreshed in the background, but a PR never seen is still asked about.
func TestLowBudgetServesCached(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 3)
	var budget github.Budget
	e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) {
		o.Budget = func() github.Budget { return budget }
	})
	ctx := t.Context()
	e.r.Resolve(ctx, targets[:2])
	e.r.flights.Wait()
	budget = github.Budget{Known: true, Limit: 5000, Remaining: 80, Reset: e.clock.Now().Add(2 * time.Hour)}
	e.clock.Advance(2 * time.Minute) // everything is stale
	before := gh.count()
	res := e.r.Resolve(ctx, targets)
	e.r.flights.Wait()
	if !res.PRs[1].Stale || !res.PRs[1].Known || res.PRs[1].Drift < 0 {
		t.Errorf("#1: %+v; want the cached facts, marked stale", res.PRs[1])
	}
	if !res.PRs[3].Known {
		t.Errorf("#3 (never seen) was not asked about at a low budget: %+v", res.PRs[3])
	}
	if _, ok := errors.AsType[*BudgetError](res.Err); !ok || !res.Stale {
		t.Errorf("result error %v (stale %v); want a BudgetError", res.Err, res.Stale)
	}
	after := gh.count()
	if after["pull"]+after["list"]-before["pull"]-before["list"] > 1 {
		t.Errorf("calls %v → %v; want at most the one look-up for #3", before, after)
	}
	// A reserve of a fifth of a small limit: anonymous, 60 an hour, 12 kept.
	budget = github.Budget{Known: true, Limit: 60, Remaining: 13, Reset: e.clock.Now().Add(time.Hour)}
	if e.r.lowBudget(e.clock.Now()) != nil {
		t.Error("13 of 60 left is above the reserve of 12")
	}
	budget.Remaining = 12
	if e.r.lowBudget(e.clock.Now()) == nil {
		t.Error("12 of 60 left is the reserve")
	}
	// Past the reset the budget is full again whatever was last read.
	e.clock.Advance(2 * time.Hour)
	if e.r.lowBudget(e.clock.Now()) != nil {
		t.Error("the budget is still low after its reset")
	}
}

// Mergeability: a PR known from the listing is asked about with GetPull; "not computed
// yet" is asked again after a short wait, a bounded number of times; a listing that
// comes later does not forget the answer.
func TestMergeability(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 2)
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[1]
		p.Mergeable, p.MergeableState = ptr(false), "dirty"
		f.pulls[1] = p
		p = f.pulls[2]
		p.MergeableState = "unknown" // GitHub still computing
		f.pulls[2] = p
	})
	e := newEnvWith(t, gh, newMapCache(), newClock(), func(o *Options) {
		o.Mergeability = true
		o.MergeableRetry = time.Millisecond
		o.MergeableAsks = 3
	})
	ctx := t.Context()
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait() // the questions and their re-asks
	got := e.r.Resolve(ctx, targets).PRs
	if m := got[1].Mergeable; m == nil || *m || got[1].MergeableState != "dirty" {
		t.Errorf("#1 mergeable %v %q; want false, dirty", m, got[1].MergeableState)
	}
	if got[2].Mergeable != nil || got[2].MergeableState != "unknown" {
		t.Errorf("#2 mergeable %v %q; want unknown", got[2].Mergeable, got[2].MergeableState)
	}
	if n1, n2 := gh.pullCount(1), gh.pullCount(2); n1 != 1 || n2 != 3 {
		t.Errorf("GetPull #1 ×%d, #2 ×%d; want 1 and 3 (MergeableAsks)", n1, n2)
	}

	// The listing refreshes (TTL) with the same heads: mergeability is kept, not asked again.
	e.clock.Advance(2 * time.Minute)
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait()
	if m := e.r.Resolve(ctx, targets).PRs[1].Mergeable; m == nil || *m {
		t.Errorf("after a listing: #1 mergeable %v; want still false", m)
	}
	if n := gh.pullCount(1); n != 1 {
		t.Errorf("GetPull #1 ×%d after a listing of the same head; want 1", n)
	}

	// GitHub computes #2; a webhook for a new head of #1 asks again after the wait.
	gh.set(func(f *fakeGitHub) {
		p := f.pulls[2]
		p.Mergeable, p.MergeableState = ptr(true), "clean"
		f.pulls[2] = p
	})
	p := gh.pulls[1]
	p.HeadSHA, p.Mergeable, p.MergeableState = sha(55), nil, "unknown"
	gh.set(func(f *fakeGitHub) {
		q := p
		q.Mergeable, q.MergeableState = ptr(true), "clean"
		f.pulls[1] = q
	})
	e.r.Apply(ctx, targets[0], p)
	e.r.flights.Wait()
	if m := e.r.Resolve(ctx, targets).PRs[1].Mergeable; m == nil || !*m {
		t.Errorf("after a push to #1: mergeable %v; want true once GitHub computed it", m)
	}
}

// SetTTL lengthens freshness: facts younger than it are not refreshed.
func TestSetTTL(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	targets := world(gh, 1, 2)
	e := newEnv(t, gh, newMapCache(), newClock())
	ctx := t.Context()
	e.r.Resolve(ctx, targets)
	e.r.flights.Wait()
	e.r.SetTTL(5 * time.Minute)
	e.r.SetTTL(0) // ignored
	if e.r.TTL() != 5*time.Minute {
		t.Fatalf("TTL = %v", e.r.TTL())
	}
	e.clock.Advance(2 * time.Minute)
	before := gh.count()
	if res := e.r.Resolve(ctx, targets); res.Stale {
		t.Error("2-minute-old facts are stale under a 5-minute TTL")
	}
	e.noUpdate(t)
	if after := gh.count(); after["list"] != before["list"] {
		t.Error("fresh facts were refreshed")
	}
}
