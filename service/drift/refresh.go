package drift

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/internetarchive/testingd/integrations/github"
)

// A flight is one refresh: the jobs one Resolve found to do, run on a context detached
// from the caller's (bounded by RefreshTimeout), so a client that gives up does not waste
// the GitHub answers already on their way; the next reader or OnUpdate gets them.
//
// Identical work is never done twice at once:
//   - per PR, a refresh is claimed (pullEntry.flight) under the lock by the first flight
//     that needs it; a later one that must wait for those facts waits on that flight
//     instead of asking again. Claims are taken atomically with scheduling, so a flight
//     only ever waits on older flights (no cycles).
//   - the listing, each GetPull and each Compare go through a singleflight.Group, and
//     each re-checks L1 inside it, so a lookup that has just been answered is not asked
//     again by a flight that arrives a moment late.
//
// That is finer than one singleflight for "the background refresh": two Resolves for
// different sets still share everything they have in common and miss nothing.
type flight struct {
	done     chan struct{}
	force    bool   // Refresh: bypass freshness
	seq      uint64 // when it was scheduled, against evictions and (force) older listings
	jobs     []job
	list     func() (*listing, error) // this flight's one look at the listing
	detached atomic.Bool              // nobody waits for the result: announce it
	changed  atomic.Bool              // it stored something
}

type job struct {
	number  int
	pin     string
	facts   bool    // fetch this PR's facts (claimed by this flight, or forced)
	checkL2 bool    // first look in L2: another instance may have refreshed it
	wait    *flight // first wait for the flight that is fetching these facts
}

// listing is one answer of ListOpenPulls. Membership means open.
type listing struct {
	seq   uint64
	at    time.Time
	pulls map[int]github.Pull
}

// schedule claims and starts the work the targets need. wait reports whether a caller
// must wait for it (some target has no usable answer yet).
func (r *Resolver) schedule(ctx context.Context, targets []Target, force bool) (fl *flight, wait bool) {
	now := r.now()
	limited := r.held(now) != nil
	r.mu.Lock()
	fl = &flight{done: make(chan struct{}), force: force, seq: r.seq.Add(1)}
	seen := make(map[int]bool, len(targets))
	for _, t := range targets {
		if t.Number <= 0 || seen[t.Number] {
			continue
		}
		seen[t.Number] = true
		_, nd := r.viewLocked(t, now, limited) // again: things may have moved since views
		if force {
			nd |= needFacts
		}
		if nd == 0 {
			continue
		}
		e := r.pulls[t.Number]
		if e == nil {
			e = &pullEntry{}
			r.pulls[t.Number] = e
		}
		j := job{number: t.Number, pin: t.Pin}
		switch {
		case force:
			// Force does not claim: it must not hand its caller an answer that an older
			// refresh was already fetching, so it waits for that one and then asks again.
			j.facts, j.wait = true, e.flight
		case nd&(needFacts|dueFacts) != 0 && e.flight == nil:
			e.flight = fl
			j.facts, j.checkL2 = true, nd&dueFacts != 0
		case nd&urgent != 0 && e.flight != nil:
			// Facts on their way (or a compare to do on the head they bring): wait for them.
			j.wait = e.flight
		case nd&(needCompare|dueCompare) == 0:
			continue
		}
		wait = wait || force || nd&urgent != 0
		fl.jobs = append(fl.jobs, j)
	}
	r.mu.Unlock()
	if len(fl.jobs) == 0 {
		return nil, false
	}
	if wait {
		r.stats.coldBlocks.Add(1)
	} else {
		r.stats.background.Add(1)
		fl.detached.Store(true)
	}
	r.flights.Add(1)
	go r.run(context.WithoutCancel(ctx), fl)
	return fl, wait
}

// run does a flight's jobs, pipelined: comparisons for PRs found in the listing start
// as soon as it arrives, while PRs missing from it (merged or closed) are asked one by
// one; those are not compared (see Facts.Drift), unless GetPull finds one open.
//
// The errgroup has no SetLimit: goroutines here spawn more goroutines into the same
// group, and with a limit that nesting can deadlock (every slot held by a goroutine
// waiting for a slot). What must be bounded is GitHub requests, across all flights, and
// r.call does that with a semaphore held only around the request itself.
func (r *Resolver) run(parent context.Context, fl *flight) {
	defer r.flights.Done()
	ctx, cancel := context.WithTimeout(parent, r.refreshTimeout)
	defer cancel()
	fl.list = sync.OnceValues(func() (*listing, error) { return r.openPulls(ctx, fl) })

	var g errgroup.Group
	var facts, compares []job
	for _, j := range fl.jobs {
		switch {
		case j.wait != nil:
			g.Go(func() error {
				select {
				case <-j.wait.done:
				case <-ctx.Done():
					return nil
				}
				if j.facts {
					r.fetchFacts(ctx, fl, &g, []job{j})
				} else {
					r.compareJobs(ctx, fl, &g, []job{j}, true)
				}
				return nil
			})
		case j.facts:
			facts = append(facts, j)
		default:
			compares = append(compares, j)
		}
	}
	// Resolve has just looked in L2 for these comparisons.
	r.compareJobs(ctx, fl, &g, compares, false)
	r.fetchFacts(ctx, fl, &g, facts)
	_ = g.Wait() // every job records its own failure

	r.mu.Lock()
	for _, j := range fl.jobs {
		if e := r.pulls[j.number]; e != nil && e.flight == fl {
			e.flight = nil
		}
	}
	r.mu.Unlock()
	close(fl.done)
	if fl.detached.Load() && fl.changed.Load() && r.onUpdate != nil {
		r.onUpdate()
	}
}

// fetchFacts refreshes the facts of jobs and then their comparisons.
func (r *Resolver) fetchFacts(ctx context.Context, fl *flight, g *errgroup.Group, jobs []job) {
	jobs = r.factsFromL2(ctx, fl, g, jobs)
	if len(jobs) == 0 {
		return
	}
	snap, err := fl.list()
	var listed, single []job
	switch {
	case err == nil:
		for _, j := range jobs {
			if p, ok := snap.pulls[j.number]; ok {
				r.storeFacts(ctx, fl, j.number, recordOf(p, snap.at), snap.seq, nil)
				listed = append(listed, j)
			} else if r.reconfirm(ctx, fl, j.number, snap) {
				listed = append(listed, j)
			} else {
				single = append(single, j)
			}
		}
	case isRateLimit(err):
		// Asking each PR instead would only hit the same limit.
		for _, j := range jobs {
			r.storeFacts(ctx, fl, j.number, pullRecord{}, fl.seq, err)
		}
		return
	default:
		r.log.WarnContext(ctx, "listing open pull requests failed; asking for each", "err", err, "prs", len(jobs))
		single = jobs
	}
	r.compareJobs(ctx, fl, g, listed, true)
	for _, j := range single {
		g.Go(func() error {
			p, seq, at, err := r.getPull(ctx, j.number)
			r.storeFacts(ctx, fl, j.number, recordOf(p, at), seq, err)
			if err == nil {
				r.compareJobs(ctx, fl, g, []job{j}, true)
			}
			return nil
		})
	}
}

// reconfirm: a PR known to be merged or closed and still absent from the listing is still
// merged (final) or closed (a reopened PR would be listed), with the same head. Its facts
// are renewed at the listing's time without a GetPull, so a set full of merged PRs costs
// one listing per TTL, not one request per PR.
func (r *Resolver) reconfirm(ctx context.Context, fl *flight, n int, snap *listing) bool {
	r.mu.RLock()
	e := r.pulls[n]
	ok := e != nil && e.known && e.err == nil && (e.rec.Merged || e.rec.Closed)
	var rec pullRecord
	if ok {
		rec = e.rec
	}
	r.mu.RUnlock()
	if !ok {
		return false
	}
	if snap.at.After(rec.FetchedAt) {
		rec.FetchedAt = snap.at
	}
	r.storeFacts(ctx, fl, n, rec, snap.seq, nil)
	return true
}

// openPulls returns a listing usable by fl: for a normal refresh, any listing younger
// than the TTL (one listing serves every PR added later, and a flight arriving just after
// another's listing reuses it); for a forced one, only a listing started after fl.
func (r *Resolver) openPulls(ctx context.Context, fl *flight) (*listing, error) {
	usable := func(s *listing) bool {
		if s == nil {
			return false
		}
		if fl.force {
			return s.seq > fl.seq
		}
		return r.now().Sub(s.at) < r.freshFor()
	}
	current := func() *listing {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.listing
	}
	for attempt := 0; ; attempt++ {
		if s := current(); usable(s) {
			return s, nil
		}
		v, err, _ := r.sf.Do("list", func() (any, error) {
			if s := current(); usable(s) {
				return s, nil
			}
			seq, at := r.seq.Add(1), r.now()
			var pulls []github.Pull
			err := r.call(ctx, kindList, func(ctx context.Context) (err error) {
				pulls, err = r.gh.ListOpenPulls(ctx)
				return err
			})
			if err != nil {
				return nil, err
			}
			s := &listing{seq: seq, at: at, pulls: make(map[int]github.Pull, len(pulls))}
			for _, p := range pulls {
				s.pulls[p.Number] = p
			}
			r.mu.Lock()
			if seq > r.listFloor && (r.listing == nil || r.listing.seq < seq) {
				r.listing = s
			}
			r.mu.Unlock()
			return s, nil
		})
		if err != nil {
			return nil, err
		}
		// A forced flight that joined a listing started before it asks once more.
		if s := v.(*listing); usable(s) || attempt > 0 {
			return s, nil
		}
	}
}

func (r *Resolver) getPull(ctx context.Context, n int) (github.Pull, uint64, time.Time, error) {
	type answer struct {
		p   github.Pull
		seq uint64
		at  time.Time
	}
	v, err, _ := r.sf.Do("pull/"+strconv.Itoa(n), func() (any, error) {
		a := answer{seq: r.seq.Add(1), at: r.now()}
		err := r.call(ctx, kindPull, func(ctx context.Context) (err error) {
			a.p, err = r.gh.GetPull(ctx, n)
			return err
		})
		return a, err
	})
	a, _ := v.(answer)
	return a.p, a.seq, a.at, err
}

// storeFacts records a fetch of PR n started at seq: facts, or the failure err. A fetch
// started before an eviction of n is dropped.
func (r *Resolver) storeFacts(ctx context.Context, fl *flight, n int, rec pullRecord, seq uint64, err error) {
	now := r.now()
	r.mu.Lock()
	e := r.pulls[n]
	if e == nil {
		e = &pullEntry{}
		r.pulls[n] = e
	}
	if e.flight == fl {
		e.flight = nil
	}
	if seq <= e.evictSeq || seq <= r.evictAllSeq {
		r.mu.Unlock()
		return
	}
	var ask mergeAsk
	if err != nil {
		e.err, e.errAt = classify(err), now
	} else {
		if !e.known || !rec.FetchedAt.Before(e.rec.FetchedAt) {
			if e.known {
				rec.inherit(&e.rec)
			}
			e.rec, e.known = rec, true
		}
		e.err = nil
		ask = r.wantsMergeableLocked(n, e)
	}
	r.mu.Unlock()
	r.askMergeable(ask)
	fl.changed.Store(true)
	if err == nil {
		r.cache.Set(ctx, r.pullKey(n), encodePull(rec), max(factsExpiry, 10*r.freshFor()))
	}
}

// compareJobs starts the comparisons the jobs' (pin, current head) need, after one L2
// look-up for all of them when checkL2. Merged and closed PRs need none.
func (r *Resolver) compareJobs(ctx context.Context, fl *flight, g *errgroup.Group, jobs []job, checkL2 bool) {
	if len(jobs) == 0 {
		return
	}
	now := r.now()
	var todo []cmpKey
	seen := make(map[cmpKey]bool, len(jobs))
	r.mu.RLock()
	for _, j := range jobs {
		e := r.pulls[j.number]
		pin, err := normPin(j.pin)
		if e == nil || !e.known || !e.rec.wantsDrift() || err != nil || pin == "" || e.rec.HeadSHA == "" || trivial(pin, e.rec.HeadSHA) {
			continue
		}
		k := cmpKey{pin, e.rec.HeadSHA}
		if c, ok := r.compares[k]; ok && (c.err == nil || (!fl.force && now.Sub(c.at) < r.backoff(c.err))) {
			continue
		}
		if !seen[k] {
			seen[k] = true
			todo = append(todo, k)
		}
	}
	r.mu.RUnlock()
	if checkL2 {
		todo = r.comparesFromL2(ctx, todo)
	}
	for _, k := range todo {
		g.Go(func() error {
			r.compare(ctx, fl, k)
			return nil
		})
	}
}

// compare asks GitHub how far k.head is ahead of k.pin and records the answer (forever,
// in L1 and L2) or the failure (in L1, retried after a backoff).
func (r *Resolver) compare(ctx context.Context, fl *flight, k cmpKey) {
	key := r.compareKey(k.pin, k.head)
	v, _, _ := r.sf.Do(key, func() (any, error) {
		r.mu.RLock()
		c, ok := r.compares[k]
		r.mu.RUnlock()
		if ok && c.err == nil {
			return false, nil
		}
		at := r.now()
		var cmp github.Comparison
		err := r.call(ctx, kindCompare, func(ctx context.Context) (err error) {
			cmp, err = r.gh.Compare(ctx, k.pin, k.head)
			return err
		})
		r.mu.Lock()
		if len(r.compares) >= maxCompares {
			clear(r.compares)
		}
		r.compares[k] = cmpEntry{cmp: cmp, err: classify(err), at: at}
		r.mu.Unlock()
		if err == nil {
			r.cache.Set(ctx, key, encodeComparison(cmp), 0)
		}
		return true, nil
	})
	if stored, _ := v.(bool); stored {
		fl.changed.Store(true)
	}
}

type callKind int

const (
	kindList callKind = iota
	kindPull
	kindCompare
)

// call sends one GitHub request, unless GitHub's rate limit has not reset (then it
// returns that *github.RateLimitError without asking), holding one of the Concurrency
// slots. A rate limit in the answer holds every later request back until it resets.
func (r *Resolver) call(ctx context.Context, kind callKind, fn func(context.Context) error) error {
	if l := r.limited(r.now()); l != nil {
		r.stats.rateLimitedSkips.Add(1)
		return l
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	if l := r.limited(r.now()); l != nil { // it may have arrived while we queued
		r.stats.rateLimitedSkips.Add(1)
		return l
	}
	switch kind {
	case kindList:
		r.stats.list.Add(1)
	case kindPull:
		r.stats.pull.Add(1)
	case kindCompare:
		r.stats.compare.Add(1)
	}
	err := fn(ctx)
	if rl, ok := errors.AsType[*github.RateLimitError](err); ok {
		until := rl.Reset
		if until.IsZero() {
			// Say when GitHub will be asked again, so the UI can too.
			until = r.now().Add(rateLimitWait)
			rl = &github.RateLimitError{Reset: until}
			err = rl
		}
		if old := r.limit.Load(); old == nil || old.Reset.Before(until) {
			r.limit.Store(rl)
			r.log.WarnContext(ctx, "GitHub rate limit reached; serving cached drift until it resets", "reset", until)
		}
	}
	return err
}

// classify makes every failure one of the github package's: a context that ended (the
// refresh's timeout) or an unexpected error is GitHub being unavailable.
func classify(err error) error {
	if err == nil || errors.Is(err, github.ErrNotFound) || errors.Is(err, github.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", github.ErrUnavailable, err)
}
