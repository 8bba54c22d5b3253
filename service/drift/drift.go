// Package drift knows, for the set of pull requests on the testing server, what GitHub
// says of each one (head commit, title, people, merged or closed, mergeability) and how
// far its head has moved past the commit the set pins it to (its "drift").
//
// It exists to make that knowledge cheap enough to sit on every status read. Legacy asked
// GitHub one or two questions per PR, one after the other, on every cache miss, which made
// page loads take seconds. A Resolver answers a warm set from memory with no GitHub call
// at all, never makes a read wait for GitHub while older facts exist (it serves them
// marked stale and refreshes in the background), and refreshes a whole cold set in about
// two GitHub round trips: one listing of every open PR (its pages at once), then all the
// missing comparisons at once. Merged and closed PRs are not compared (see Facts.Drift).
//
// Layers, fastest first:
//
//   - L1, in-process maps under one RWMutex: per-PR facts and (pin, head) comparisons. A
//     warm Resolve reads only these: no JSON, no I/O, one map allocation for the answer.
//   - L2, the shared Cache (memcached, or in-process when none is configured): per-PR
//     facts as JSON with the time they were fetched, kept far longer than the TTL so a
//     restarted or second instance can serve them (stale if old) instead of waiting; and
//     comparisons, kept forever, because a comparison of two commits never changes.
//   - GitHub, through the GitHub interface, bounded to Options.Concurrency requests in
//     flight, with identical requests collapsed (also across concurrent Resolves), and
//     not asked at all while a rate limit has not reset.
//
// Freshness is decided by the fetched-at time inside an entry against Options.TTL, never
// by the cache's own expiry, so "stale" data stays available to serve.
package drift

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/internetarchive/testingd/integrations/github"
)

// GitHub is what the resolver asks GitHub (implemented by *github.Client).
type GitHub interface {
	// ListOpenPulls returns every open pull request of the repository (all pages).
	ListOpenPulls(ctx context.Context) ([]github.Pull, error)
	GetPull(ctx context.Context, number int) (github.Pull, error)
	Compare(ctx context.Context, base, head string) (github.Comparison, error)
}

// Cache is the shared second-level cache (implemented by integrations/memcache, over
// memcached or in-process). It never errors: a failure is a miss.
type Cache interface {
	GetMulti(ctx context.Context, keys []string) map[string][]byte
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) // ttl 0 = no expiry
	Delete(ctx context.Context, keys ...string)
}

// Options configure a Resolver. Zero values take the defaults given.
type Options struct {
	Repo           string        // "owner/name", part of every cache key
	TTL            time.Duration // how long resolved PR facts are fresh (default 60s)
	Concurrency    int           // max concurrent GitHub requests (default 100)
	RefreshTimeout time.Duration // bound of one background refresh (default 30s)
	Logger         *slog.Logger  // default: discard
	Now            func() time.Time
	// OnUpdate is called (never under a lock) after a refresh that nobody was waiting for
	// stored new facts or failures, so the service can push fresh status to watchers. It may
	// be called when nothing a reader sees changed; watchers should compare.
	OnUpdate func()
	// Budget reports GitHub's rate-limit budget (implemented by (*github.Client).Budget);
	// nil = unknown, never low.
	Budget func() github.Budget
	// Reserve is the part of the budget kept for people: at or below it (or a fifth of the
	// limit, whichever is smaller), no background refresh, reconcile or mergeability
	// question is sent and cached facts are served marked stale. Reads that have nothing
	// to show still ask. Default 100; negative = no reserve.
	Reserve int
	// Mergeability makes the resolver ask GetPull for open PRs whose mergeability is
	// not known (the listing does not carry it), and again after MergeableRetry, doubling,
	// while GitHub answers "not computed yet". Off by default.
	Mergeability bool
	// MergeableRetry is the first re-ask delay (default 3s); MergeableAsks bounds the
	// questions per head (default 5).
	MergeableRetry time.Duration
	MergeableAsks  int
	// CompareWait bounds how long a read waits for a comparison never asked before (a
	// head that moved, a pin just set) when the PR's facts are known: past it the read
	// answers with the drift pending (Stale) and the comparison, which goes on, is
	// announced through OnUpdate. Default 500ms; negative = do not wait at all. Reads
	// with no facts at all still wait for them (there is nothing to show).
	CompareWait time.Duration
}

// Target is one row of the set: a PR number and the commit it is pinned to (a full or
// short SHA; "" or garbage is possible in a broken state file).
type Target struct {
	Number int
	Pin    string
}

// Facts is what is known of one PR.
type Facts struct {
	Number int
	Known  bool // GitHub facts exist (fresh or stale)
	Title  string
	// Author, Assignee and their avatars; Assignee is "" when GitHub says unassigned.
	Author, AuthorAvatar     string
	Assignee, AssigneeAvatar string
	HeadSHA                  string
	Merged, Closed           bool  // Closed = closed without merging
	Mergeable                *bool // nil = unknown (always for a PR only seen in the open listing)
	// MergeableState is GitHub's word ("clean", "dirty", "blocked", "behind", "unstable",
	// "draft", "unknown" while computing); "" when never asked.
	MergeableState string
	// Drift is how many commits the head is ahead of the pin: 0 when the pin is the head
	// (or a prefix of it), -1 when unknown, including for an empty pin.
	//
	// It is always -1 for a PR that is merged or closed, and that is no staleness (Stale
	// stays false for it): such a PR leaves the box at the next deploy (the plan removes
	// it), so how far it moved is meaningless and no comparison is asked for it, which
	// spares a GitHub round trip (and a rate-limited request) on the path of a cold read.
	// A closed PR that is reopened is in the open listing again and is compared then.
	Drift    int
	Diverged bool // compare status "diverged": the pin is not an ancestor of the head (force-push); false when Drift is -1
	// ResolvedAt is when these facts were fetched from GitHub.
	ResolvedAt time.Time
	// Stale: not fresh. Older than the TTL, not resolved yet, or the last refresh failed
	// because GitHub did not answer (unavailable, rate-limited). GitHub answering "no such
	// PR or commit" is an answer, not staleness: Err says so and Stale stays false.
	Stale bool
	// Err is why facts or drift are missing or old: an error wrapping github.ErrNotFound
	// or github.ErrUnavailable (a *github.RateLimitError is one), or ErrInvalidPin /
	// ErrInvalidNumber for a broken row. nil when the last refresh of this PR succeeded.
	Err error
}

// Result is the answer for a set of targets.
type Result struct {
	PRs        map[int]Facts // one per target number
	ResolvedAt time.Time     // the oldest ResolvedAt among known facts (zero if none)
	Stale      bool          // some target is stale, or unknown for want of GitHub
	Err        error         // when Stale, a representative cause (a *github.RateLimitError if there is one)
}

// Stats are cumulative counters, for metrics and tests.
type Stats struct {
	Resolves            int64 // Resolve and Refresh calls
	ColdBlocks          int64 // calls that waited for a refresh (no facts, a pin never compared, or Refresh)
	BackgroundRefreshes int64 // refreshes started that no caller waited for
	ListCalls           int64 // GitHub requests sent, by kind
	PullCalls           int64
	CompareCalls        int64
	RateLimitedSkips    int64 // GitHub requests not sent because a rate limit had not reset
	L1Hits              int64 // targets answered from memory without waiting
	L1Misses            int64 // targets memory could not answer without asking (no facts, or a comparison never asked)
	L2Hits              int64 // entries found in the shared cache
	L2Misses            int64 // entries looked for in the shared cache and not found
}

// Errors a Facts.Err can hold besides the github package's.
var (
	ErrInvalidPin    = errors.New("drift: pinned commit is not a commit SHA")
	ErrInvalidNumber = errors.New("drift: invalid pull request number")
)

const (
	defaultTTL            = 60 * time.Second
	defaultReserve        = 100
	defaultMergeableRetry = 3 * time.Second
	defaultMergeableAsks  = 5
	defaultCompareWait    = 500 * time.Millisecond
	defaultConcurrency    = 100
	defaultRefreshTimeout = 30 * time.Second
	// factsExpiry is how long per-PR facts live in L2: far beyond the TTL, so that an
	// instance that restarts while GitHub is down still has something to show.
	factsExpiry = 24 * time.Hour
	// rateLimitWait is how long GitHub is left alone after a rate limit with no reset time.
	rateLimitWait = time.Minute
	// maxCompares bounds L1's comparisons; on overflow L1 forgets them all (L2 keeps them).
	maxCompares = 8192
)

// Resolver resolves the GitHub facts and drift of sets of PRs. It is safe for
// concurrent use.
type Resolver struct {
	gh             GitHub
	cache          Cache
	ttl            atomic.Int64 // time.Duration; SetTTL changes it
	budget         func() github.Budget
	reserve        int
	mergeability   bool
	mergeRetry     time.Duration
	mergeAsks      int
	retry          time.Duration // how soon a failure for want of GitHub is retried
	compareWait    time.Duration // see Options.CompareWait
	refreshTimeout time.Duration
	log            *slog.Logger
	now            func() time.Time
	onUpdate       func()
	keyPrefix      string
	sem            chan struct{} // bounds GitHub requests in flight, across all refreshes
	sf             singleflight.Group
	seq            atomic.Uint64                         // orders fetches against evictions
	limit          atomic.Pointer[github.RateLimitError] // set while GitHub's rate limit has not reset
	flights        sync.WaitGroup                        // running refreshes (tests wait on it)
	stats          counters

	mu          sync.RWMutex
	pulls       map[int]*pullEntry
	compares    map[cmpKey]cmpEntry
	pendingCmp  map[cmpKey]bool // comparisons Apply started: reads do not wait for them
	listing     *listing        // the last open-PR listing: facts for PRs added later, for free
	evictAllSeq uint64          // fetches started before this Evict(all) are dropped
	evictAllAt  time.Time       // L2 entries fetched before this are ignored
	listFloor   uint64          // a listing started before the last Evict is not kept
}

// pullEntry is L1's knowledge of one PR. Guarded by Resolver.mu.
type pullEntry struct {
	rec      pullRecord
	known    bool      // rec holds facts GitHub gave
	err      error     // the last refresh failed (classified: wraps a github sentinel)
	errAt    time.Time // when
	flight   *flight   // the refresh of this PR in progress, if any
	evictSeq uint64    // fetches started before this Evict are dropped
	evictAt  time.Time // L2 entries fetched before this are ignored
	// mergeHead is the head whose mergeability is being asked about (a timer or a
	// request is pending); "" when none.
	mergeHead string
}

type cmpKey struct{ pin, head string }

type cmpEntry struct {
	cmp github.Comparison
	err error     // the compare failed (nil: cmp is GitHub's answer, valid forever)
	at  time.Time // when it was asked
}

type counters struct {
	resolves, coldBlocks, background      atomic.Int64
	list, pull, compare, rateLimitedSkips atomic.Int64
	l1Hits, l1Misses, l2Hits, l2Misses    atomic.Int64
}

// New returns a Resolver asking gh, sharing facts through cache (nil: none).
func New(gh GitHub, cache Cache, opts Options) *Resolver {
	if opts.TTL <= 0 {
		opts.TTL = defaultTTL
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = defaultRefreshTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Reserve == 0 {
		opts.Reserve = defaultReserve
	}
	if opts.MergeableRetry <= 0 {
		opts.MergeableRetry = defaultMergeableRetry
	}
	if opts.MergeableAsks <= 0 {
		opts.MergeableAsks = defaultMergeableAsks
	}
	if opts.CompareWait == 0 {
		opts.CompareWait = defaultCompareWait
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cache == nil {
		cache = noCache{}
	}
	r := &Resolver{
		gh:             gh,
		cache:          cache,
		budget:         opts.Budget,
		reserve:        opts.Reserve,
		mergeability:   opts.Mergeability,
		mergeRetry:     opts.MergeableRetry,
		mergeAsks:      opts.MergeableAsks,
		retry:          min(max(opts.TTL/4, time.Second), 15*time.Second),
		refreshTimeout: opts.RefreshTimeout,
		compareWait:    max(opts.CompareWait, 0),
		log:            logger.With("component", "drift"),
		now:            opts.Now,
		onUpdate:       opts.OnUpdate,
		keyPrefix:      "testingd/v1/" + opts.Repo + "/",
		sem:            make(chan struct{}, opts.Concurrency),
		pulls:          make(map[int]*pullEntry),
		compares:       make(map[cmpKey]cmpEntry),
		pendingCmp:     make(map[cmpKey]bool),
	}
	r.ttl.Store(int64(opts.TTL))
	return r
}

// SetTTL changes how long facts are fresh. The service lengthens it while webhooks
// arrive (they bring every change at once, and the reconcile loop covers lost ones)
// and shortens it back when they stop. d <= 0 is ignored.
func (r *Resolver) SetTTL(d time.Duration) {
	if d > 0 {
		r.ttl.Store(int64(d))
	}
}

// TTL returns how long facts are fresh now.
func (r *Resolver) TTL() time.Duration { return r.freshFor() }

func (r *Resolver) freshFor() time.Duration { return time.Duration(r.ttl.Load()) }

// Resolve answers for targets from what is known, without waiting for GitHub when
// anything is known. Fresh facts are returned as they are; stale ones are returned marked
// Stale while one background refresh replaces them. Only targets with no facts at all,
// or whose (pin, head) comparison was never asked, wait for GitHub, and only until ctx
// ends: the refresh itself goes on (bounded by RefreshTimeout) and OnUpdate reports it.
func (r *Resolver) Resolve(ctx context.Context, targets []Target) Result {
	return r.resolve(ctx, targets, false)
}

// Refresh asks GitHub again about every target, whatever the freshness of what is known
// (comparisons that succeeded are kept: they never change), and waits for the answers
// until ctx ends.
func (r *Resolver) Refresh(ctx context.Context, targets []Target) Result {
	return r.resolve(ctx, targets, true)
}

// Evict forgets the facts of the given PRs (nil or empty: of every PR), here and in the
// shared cache, so the next Resolve asks GitHub again. Successful comparisons stay (they
// are facts about two immutable commits); failed ones are forgotten so they are retried.
// Refreshes in flight that started before Evict do not bring the old facts back. Other
// instances sharing the cache keep their in-memory facts until their TTL runs out.
func (r *Resolver) Evict(ctx context.Context, numbers []int) {
	now := r.now()
	var keys []string
	r.mu.Lock()
	seq := r.seq.Add(1)
	if len(numbers) == 0 {
		for n := range r.pulls {
			keys = append(keys, r.pullKey(n))
		}
		r.pulls = make(map[int]*pullEntry)
		r.evictAllSeq, r.evictAllAt = seq, now
	} else {
		for _, n := range numbers {
			if n > 0 {
				r.pulls[n] = &pullEntry{evictSeq: seq, evictAt: now}
				keys = append(keys, r.pullKey(n))
			}
		}
	}
	// The listing would hand the evicted facts straight back.
	r.listing, r.listFloor = nil, seq
	for k, c := range r.compares {
		if c.err != nil {
			delete(r.compares, k)
		}
	}
	r.mu.Unlock()
	if len(keys) > 0 {
		r.cache.Delete(ctx, keys...)
	}
}

// Learn records pull requests the caller has just fetched from GitHub itself (AddPRs
// and StagePRs look PRs up directly, concurrently, to pin them), so the next Resolve of
// those PRs answers from memory instead of asking GitHub again.
func (r *Resolver) Learn(ctx context.Context, pulls []github.Pull) {
	at := r.now()
	// The shared cache is written in the background, in one goroutine: a sick
	// memcached must not make the write that learnt these PRs wait one timeout per PR.
	type entry struct {
		key string
		val []byte
	}
	var shared []entry
	defer func() {
		if len(shared) == 0 {
			return
		}
		ttl := max(factsExpiry, 10*r.freshFor())
		r.flights.Add(1)
		go func() {
			defer r.flights.Done()
			ctx := context.WithoutCancel(ctx)
			for _, e := range shared {
				r.cache.Set(ctx, e.key, e.val, ttl)
			}
		}()
	}()
	for _, p := range pulls {
		if p.Number <= 0 {
			continue
		}
		rec := recordOf(p, at)
		r.mu.Lock()
		e := r.pulls[p.Number]
		if e == nil {
			e = &pullEntry{}
			r.pulls[p.Number] = e
		}
		var ask mergeAsk
		if !e.known || !rec.FetchedAt.Before(e.rec.FetchedAt) {
			if e.known {
				rec.inherit(&e.rec)
			}
			e.rec, e.known, e.err = rec, true, nil
			ask = r.wantsMergeableLocked(p.Number, e)
		}
		r.mu.Unlock()
		r.askMergeable(ask)
		shared = append(shared, entry{r.pullKey(p.Number), encodePull(rec)})
	}
}

// Stats returns the counters so far.
func (r *Resolver) Stats() Stats {
	c := &r.stats
	return Stats{
		Resolves:            c.resolves.Load(),
		ColdBlocks:          c.coldBlocks.Load(),
		BackgroundRefreshes: c.background.Load(),
		ListCalls:           c.list.Load(),
		PullCalls:           c.pull.Load(),
		CompareCalls:        c.compare.Load(),
		RateLimitedSkips:    c.rateLimitedSkips.Load(),
		L1Hits:              c.l1Hits.Load(),
		L1Misses:            c.l1Misses.Load(),
		L2Hits:              c.l2Hits.Load(),
		L2Misses:            c.l2Misses.Load(),
	}
}

// need says what a target still needs beyond what L1 holds.
type need uint8

const (
	needFacts   need = 1 << iota // no facts at all: the caller waits for GitHub
	needCompare                  // facts, but its (pin, head) was never compared: the caller waits, at most compareWait
	dueFacts                     // facts stale or failed, retry due: refresh in the background
	dueCompare                   // the comparison failed, retry due: retry in the background

	urgent = needFacts | needCompare
)

func (r *Resolver) resolve(ctx context.Context, targets []Target, force bool) Result {
	r.stats.resolves.Add(1)
	res := Result{PRs: make(map[int]Facts, len(targets))}

	// The warm path: one read lock, no allocation beyond the answer's map.
	all, hits := r.views(targets, &res)
	r.stats.l1Hits.Add(int64(hits))
	r.stats.l1Misses.Add(int64(len(targets) - hits))
	if all == 0 && !force {
		return res
	}

	if all&urgent != 0 && !force && r.loadL2(ctx, targets) {
		// A restarted or second instance: the shared cache may have it all.
		all, _ = r.views(targets, &res)
		if all == 0 {
			return res
		}
	}

	fl, wait := r.schedule(ctx, targets, force)
	if !wait {
		if all&urgent != 0 {
			// res was read before schedule looked again, and what it lacked (facts, a
			// comparison) was stored in between by a refresh already under way, so there
			// was nothing left to wait for: read it again, or it is answered as missing.
			r.views(targets, &res)
		}
		return res
	}
	// With every PR's facts known, only comparisons are awaited: for compareWait at
	// most, then the drift is answered pending (a slow GitHub must not hold a read
	// that has everything else to show).
	var bound <-chan time.Time
	if all&needFacts == 0 && !force {
		t := time.NewTimer(r.compareWait)
		defer t.Stop()
		bound = t.C
	}
	select {
	case <-fl.done:
	case <-bound:
		fl.detached.Store(true)
	case <-ctx.Done():
		// The refresh goes on; whatever it stores is announced through OnUpdate. Marking
		// it before reading L1 below means either we see its facts or it announces them.
		fl.detached.Store(true)
	}
	r.views(targets, &res)
	return res
}

// views fills res from L1 and says what the targets still need and how many needed
// nothing.
func (r *Resolver) views(targets []Target, res *Result) (all need, hits int) {
	now := r.now()
	limit := r.held(now)
	res.ResolvedAt, res.Stale, res.Err = time.Time{}, false, nil
	var rateLimited error
	r.mu.RLock()
	for _, t := range targets {
		f, nd := r.viewLocked(t, now, limit != nil)
		res.PRs[t.Number] = f
		all |= nd
		if nd&urgent == 0 {
			hits++
		}
		if f.Known && (res.ResolvedAt.IsZero() || f.ResolvedAt.Before(res.ResolvedAt)) {
			res.ResolvedAt = f.ResolvedAt
		}
		if f.Stale {
			res.Stale = true
			if transient(f.Err) {
				if res.Err == nil {
					res.Err = f.Err
				}
				if rateLimited == nil && isRateLimit(f.Err) {
					rateLimited = f.Err
				}
			}
		}
	}
	r.mu.RUnlock()
	switch {
	case rateLimited != nil:
		res.Err = rateLimited
	case res.Stale && limit != nil:
		// Stale because refreshes are held back until the limit resets (or the budget
		// is at its reserve): say until when.
		res.Err = limit
	}
	return all, hits
}

// viewLocked is one target's Facts from L1 and what it still needs. limited: GitHub is
// not to be asked now, so no retry is due. Callers hold r.mu.
func (r *Resolver) viewLocked(t Target, now time.Time, limited bool) (Facts, need) {
	f := Facts{Number: t.Number, Drift: -1}
	if t.Number <= 0 {
		f.Err = ErrInvalidNumber
		return f, 0
	}
	e := r.pulls[t.Number]
	if e == nil || (!e.known && e.err == nil) {
		f.Stale = true // not resolved yet
		return f, needFacts
	}

	var nd need
	old := true
	if e.known {
		rec := &e.rec
		f.Known = true
		f.Title, f.Author, f.AuthorAvatar = rec.Title, rec.Author, rec.AuthorAvatar
		f.Assignee, f.AssigneeAvatar = rec.Assignee, rec.AssigneeAvatar
		f.HeadSHA, f.Merged, f.Closed = rec.HeadSHA, rec.Merged, rec.Closed
		if rec.Mergeable != nil {
			m := *rec.Mergeable // a copy: callers must not reach into L1
			f.Mergeable = &m
		}
		f.MergeableState = rec.MergeableState
		f.ResolvedAt = rec.FetchedAt
		old = now.Sub(rec.FetchedAt) >= r.freshFor()
		f.Stale = old
	}
	if e.err != nil {
		f.Err = e.err
		f.Stale = f.Stale || transient(e.err)
	}
	if (old || e.err != nil) && e.flight == nil && !limited &&
		(e.err == nil || now.Sub(e.errAt) >= r.backoff(e.err)) {
		nd |= dueFacts
	}

	pin, err := normPin(t.Pin)
	switch {
	case err != nil:
		if f.Err == nil {
			f.Err = err
		}
	case f.Merged || f.Closed:
		// No drift for a PR on its way out (see Facts.Drift): nothing to wait for.
	case pin == "", f.HeadSHA == "":
		// No pin (legacy called this 0, wrongly) or no head: unknown.
	case trivial(pin, f.HeadSHA):
		f.Drift = 0
	default:
		k := cmpKey{pin, f.HeadSHA}
		c, ok := r.compares[k]
		switch {
		case !ok && r.pendingCmp[k]:
			// A webhook moved the head and its comparison is under way: show the new
			// head at once, the drift follows through OnUpdate.
			f.Stale = true
		case !ok:
			f.Stale = true
			nd |= needCompare
		case c.err == nil:
			f.Drift = c.cmp.AheadBy
			f.Diverged = c.cmp.Status == "diverged"
		default:
			if f.Err == nil {
				f.Err = c.err
			}
			f.Stale = f.Stale || transient(c.err)
			if !limited && now.Sub(c.at) >= r.backoff(c.err) {
				nd |= dueCompare
			}
		}
	}
	return f, nd
}

// backoff is how long after a failure its retry is due. GitHub saying "no such thing" is
// an answer, asked again like fresh facts; GitHub not answering is retried sooner.
func (r *Resolver) backoff(err error) time.Duration {
	if errors.Is(err, github.ErrNotFound) {
		return r.freshFor()
	}
	return r.retry
}

// limited returns the rate limit GitHub is under, or nil when it may be asked.
func (r *Resolver) limited(now time.Time) *github.RateLimitError {
	if l := r.limit.Load(); l != nil && now.Before(l.Reset) {
		return l
	}
	return nil
}

// normPin returns the pin as lower-case hex, "" for no pin, or ErrInvalidPin. Only hex
// reaches GitHub (a pin is pasted into a URL path) and cache keys (which must not hold
// spaces). It allocates only for an upper-case pin.
func normPin(pin string) (string, error) {
	pin = strings.TrimSpace(pin)
	if pin == "" {
		return "", nil
	}
	if len(pin) < 4 || len(pin) > 64 {
		return "", ErrInvalidPin
	}
	upper := false
	for i := 0; i < len(pin); i++ {
		switch c := pin[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return "", ErrInvalidPin
		}
	}
	if upper {
		pin = strings.ToLower(pin)
	}
	return pin, nil
}

// trivial: the pin is the head (or a short form of it), so the drift is 0 without asking.
func trivial(pin, head string) bool { return strings.HasPrefix(head, pin) }

// transient: the error is GitHub not answering (try again later), not GitHub's answer.
func transient(err error) bool { return err != nil && errors.Is(err, github.ErrUnavailable) }

func isRateLimit(err error) bool {
	_, ok := errors.AsType[*github.RateLimitError](err)
	return ok
}
