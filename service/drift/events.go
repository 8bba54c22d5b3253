package drift

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/internetarchive/testingd/integrations/github"
)

// This file holds what keeps the facts current without polling: facts pushed by
// webhooks (Apply), the slow conditional sweep that catches what webhooks lost
// (Reconcile), GitHub's lazily computed mergeability, and the rate-limit budget that
// decides when the resolver stops asking on its own.

// BudgetError says GitHub's rate-limit budget is down to the reserve kept for people:
// the resolver asks nothing on its own until Reset and serves what it has, marked
// stale. It wraps github.ErrUnavailable.
type BudgetError struct {
	Remaining, Limit int
	Reset            time.Time
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("GitHub rate-limit budget low: %d of %d requests left until %s; showing cached data",
		e.Remaining, e.Limit, e.Reset.UTC().Format("15:04 UTC"))
}

func (e *BudgetError) Unwrap() error { return github.ErrUnavailable }

// held returns why the resolver must not ask GitHub on its own now (a rate limit that
// has not reset, or a budget at its reserve), or nil.
func (r *Resolver) held(now time.Time) error {
	if l := r.limited(now); l != nil {
		return l
	}
	if b := r.lowBudget(now); b != nil {
		return b
	}
	return nil
}

// LowBudget returns the budget when it is at or below the reserve (the resolver asks
// GitHub nothing on its own), else nil.
func (r *Resolver) LowBudget() *BudgetError { return r.lowBudget(r.now()) }

// lowBudget returns the budget when it is at or below the reserve, else nil.
func (r *Resolver) lowBudget(now time.Time) *BudgetError {
	if r.budget == nil || r.reserve < 0 {
		return nil
	}
	b := r.budget()
	if !b.Known || b.Limit <= 0 || !now.Before(b.Reset) {
		return nil
	}
	if b.Remaining > min(r.reserve, b.Limit/5) {
		return nil
	}
	return &BudgetError{Remaining: b.Remaining, Limit: b.Limit, Reset: b.Reset}
}

// Apply records what a webhook says of a PR the set holds (t is its row: number and
// pin) at once, without asking GitHub for it: the payload carries the same pull object
// as the REST API. A moved head needs a comparison; it is started here, in the
// background, and reads meanwhile show the new head with the drift pending (they do not
// wait for it); OnUpdate announces it. It reports whether the facts were taken (false
// when they are older than what is known — a late delivery — or t is not a valid row).
func (r *Resolver) Apply(ctx context.Context, t Target, p github.Pull) bool {
	if t.Number <= 0 || p.Number != t.Number {
		return false
	}
	rec := recordOf(p, r.now())
	var k cmpKey
	compare := false
	r.mu.Lock()
	e := r.pulls[p.Number]
	if e == nil {
		e = &pullEntry{}
		r.pulls[p.Number] = e
	}
	// GitHub does not deliver in order: a payload older than what is known (by
	// GitHub's own updated_at) is a late delivery, not news.
	if e.known && (rec.FetchedAt.Before(e.rec.FetchedAt) || rec.UpdatedAt.Before(e.rec.UpdatedAt)) {
		r.mu.Unlock()
		return false
	}
	if e.known {
		rec.inherit(&e.rec)
	}
	e.rec, e.known, e.err = rec, true, nil
	ask := r.wantsMergeableLocked(p.Number, e)
	if pin, err := normPin(t.Pin); err == nil && pin != "" && rec.wantsDrift() && rec.HeadSHA != "" && !trivial(pin, rec.HeadSHA) {
		k = cmpKey{pin, rec.HeadSHA}
		if c, ok := r.compares[k]; !ok || c.err != nil {
			compare = !r.pendingCmp[k]
			r.pendingCmp[k] = true
		}
	}
	r.mu.Unlock()
	r.cache.Set(ctx, r.pullKey(p.Number), encodePull(rec), max(factsExpiry, 10*r.freshFor()))
	r.askMergeable(ask)
	if compare {
		r.background(ctx, func(ctx context.Context, fl *flight) {
			defer func() {
				r.mu.Lock()
				delete(r.pendingCmp, k)
				r.mu.Unlock()
				fl.changed.Store(true) // the drift is no longer pending, whatever happened
			}()
			// Another instance may have compared these two commits already.
			if todo := r.comparesFromL2(ctx, []cmpKey{k}); len(todo) == 0 {
				return
			}
			r.compare(ctx, fl, k)
		})
	}
	return true
}

// ReconcileResult says what one Reconcile did.
type ReconcileResult struct {
	Asked   int   // PRs asked about (each a conditional GetPull)
	Skipped bool  // nothing was asked: GitHub is rate-limited or the budget is low
	Err     error // why it skipped, or the first failure
}

// Reconcile asks GitHub about every target again with conditional requests (one
// GetPull each: free when the PR did not change), stores what changed and compares
// moved heads. It is the safety net under webhooks, which GitHub does not redeliver,
// and the check Deploy makes of the PRs it deploys. It waits for the answers until ctx
// ends. When GitHub is rate-limited, or the budget is at its reserve and force is
// false, it asks nothing.
func (r *Resolver) Reconcile(ctx context.Context, targets []Target, force bool) ReconcileResult {
	now := r.now()
	if l := r.limited(now); l != nil {
		return ReconcileResult{Skipped: true, Err: l}
	}
	if b := r.lowBudget(now); b != nil && !force {
		return ReconcileResult{Skipped: true, Err: b}
	}
	var res ReconcileResult
	done := make(chan struct{})
	seen := make(map[int]bool, len(targets))
	var jobs []job
	for _, t := range targets {
		if t.Number > 0 && !seen[t.Number] {
			seen[t.Number] = true
			jobs = append(jobs, job{number: t.Number, pin: t.Pin, facts: true})
		}
	}
	res.Asked = len(jobs)
	if len(jobs) == 0 {
		return res
	}
	errs := make([]error, len(jobs))
	r.background(ctx, func(ctx context.Context, fl *flight) {
		defer close(done)
		var g errgroup.Group
		for i, j := range jobs {
			g.Go(func() error {
				p, seq, at, err := r.getPull(ctx, j.number)
				r.storeFacts(ctx, fl, j.number, recordOf(p, at), seq, err)
				if err == nil {
					r.compareJobs(ctx, fl, &g, []job{j}, true)
				}
				errs[i] = err
				return nil
			})
		}
		_ = g.Wait()
	})
	select {
	case <-done:
		for _, err := range errs {
			if err != nil {
				res.Err = err
				break
			}
		}
	case <-ctx.Done():
		res.Err = ctx.Err()
	}
	return res
}

// background runs fn on a detached flight, bounded by RefreshTimeout, and announces
// what it stored through OnUpdate.
func (r *Resolver) background(ctx context.Context, fn func(context.Context, *flight)) {
	fl := &flight{done: make(chan struct{}), seq: r.seq.Add(1)}
	fl.detached.Store(true)
	r.flights.Add(1)
	go func() {
		defer r.flights.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.refreshTimeout)
		defer cancel()
		fn(ctx, fl)
		close(fl.done)
		if fl.changed.Load() && r.onUpdate != nil {
			r.onUpdate()
		}
	}()
}

// mergeAsk is a mergeability question to schedule: PR number at head, after delay.
type mergeAsk struct {
	number int
	head   string
	delay  time.Duration
}

// wantsMergeableLocked decides whether e's mergeability must be asked about and claims
// the question (one per head at a time). A record from the listing (no word at all) is
// asked about at once; one where GitHub said "not computed yet" after a short wait.
// Callers hold r.mu and pass the result to askMergeable after unlocking.
func (r *Resolver) wantsMergeableLocked(n int, e *pullEntry) mergeAsk {
	rec := &e.rec
	if !r.mergeability || !e.known || !rec.wantsDrift() || rec.Mergeable != nil || rec.HeadSHA == "" || e.mergeHead == rec.HeadSHA {
		return mergeAsk{}
	}
	e.mergeHead = rec.HeadSHA
	a := mergeAsk{number: n, head: rec.HeadSHA}
	if rec.MergeableState != "" {
		a.delay = r.mergeRetry
	}
	return a
}

// askMergeable schedules the question a (none when a is zero).
func (r *Resolver) askMergeable(a mergeAsk) {
	if a.number == 0 {
		return
	}
	r.flights.Add(1)
	time.AfterFunc(a.delay, func() { r.mergeableTick(a, 1) })
}

// mergeableTick asks GitHub for PR a.number while its head is still a.head and its
// mergeability unknown, and asks again later (doubling the wait) while GitHub is
// still computing it, up to MergeableAsks questions. The reconcile loop asks again
// later for anything left unknown.
func (r *Resolver) mergeableTick(a mergeAsk, asked int) {
	defer r.flights.Done()
	release := func() {
		r.mu.Lock()
		if e := r.pulls[a.number]; e != nil && e.mergeHead == a.head {
			e.mergeHead = ""
		}
		r.mu.Unlock()
	}
	r.mu.RLock()
	e := r.pulls[a.number]
	wanted := e != nil && e.known && e.mergeHead == a.head && e.rec.HeadSHA == a.head && e.rec.wantsDrift() && e.rec.Mergeable == nil
	r.mu.RUnlock()
	if !wanted || r.held(r.now()) != nil {
		release()
		return
	}
	again := false
	fl := &flight{done: make(chan struct{}), seq: r.seq.Add(1)}
	fl.detached.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), r.refreshTimeout)
	p, seq, at, err := r.getPull(ctx, a.number)
	cancel()
	r.storeFacts(ctx, fl, a.number, recordOf(p, at), seq, err)
	if err == nil && p.HeadSHA == a.head && p.State == "open" && p.Mergeable == nil && asked < r.mergeAsks {
		again = true
	}
	close(fl.done)
	if fl.changed.Load() && r.onUpdate != nil && (err != nil || p.Mergeable != nil || p.HeadSHA != a.head) {
		r.onUpdate()
	}
	if !again {
		release()
		return
	}
	r.flights.Add(1)
	time.AfterFunc(r.mergeRetry<<(asked-1), func() { r.mergeableTick(a, asked+1) })
}
