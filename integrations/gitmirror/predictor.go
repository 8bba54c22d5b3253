package gitmirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrOff is the answer of a predictor without a mirror.
var ErrOff = errors.New("deploy prediction is off")

// errNoGitDir is why a predictor without a mirror is off.
var errNoGitDir = fmt.Errorf("%w: start testingd with --git-dir", ErrOff)

const (
	defaultFetchInterval  = 10 * time.Minute
	defaultPredictTimeout = 2 * time.Minute
	defaultMaxResults     = 64
	// retryFailed is how long a failed computation is answered as failed before the
	// next read tries again.
	retryFailed = time.Minute
	jobQueue    = 16
)

// PredictorOptions configure a Predictor.
type PredictorOptions struct {
	Logger *slog.Logger // default: discard
	// OnUpdate is called (from Run's goroutines, never under a lock) when a
	// prediction or a matrix finishes, and after a fetch that changed something, so
	// that readers can ask again.
	OnUpdate func()
	// FetchInterval is how often Run fetches the wanted PRs and the base branch
	// (default 10m; negative: only when nudged).
	FetchInterval time.Duration
	// PredictTimeout bounds one computation (default 2m).
	PredictTimeout time.Duration
	// MaxResults bounds the predictions kept (default 64).
	MaxResults int
}

// Predictor answers "what will the deploy do" without ever blocking a read: it
// answers from a cache keyed by the exact inputs (the mirror's base commit and the
// ordered items) and computes missing answers in the background. Run must be running
// for anything to be fetched or computed. A nil *Predictor, or one made by Disabled,
// is off and says why.
type Predictor struct {
	m        *Mirror
	off      error // why it is off (wraps ErrOff)
	log      *slog.Logger
	onUpdate func()
	interval time.Duration
	timeout  time.Duration
	max      int

	jobs  chan job
	nudge chan struct{}
	sf    singleflight.Group

	mu       sync.Mutex
	want     []int              // PRs to fetch: those of the latest read, plus nudged ones
	results  map[string]*result // by inputs key
	order    []string           // results' keys, oldest first
	latest   map[string]string  // items key → inputs key of the latest result for those items
	inflight map[string]bool
	asked    map[Item]bool // missing pins a fetch was already asked for
	matrices map[string]*Matrix
	fetchFP  string // what the last fetch saw, to tell whether it changed anything
}

type job struct {
	key, itemsKey, base string
	items               []Item
}

type result struct {
	p   *Prediction
	err error
	at  time.Time
	gen int64 // the mirror's fetch generation when computed
}

// AnswerState says how far along a Prediction is.
type AnswerState int

const (
	// Off: no mirror (Reason says why).
	Off AnswerState = iota + 1
	// Pending: being computed (or waiting for the first fetch); Prediction may hold
	// the latest one for the same items on older inputs (Stale).
	Pending
	// Ready: Prediction is for exactly these inputs.
	Ready
	// Failed: the computation or the fetch failed (Reason); it is retried.
	Failed
)

var answerStateNames = [...]string{"", "off", "pending", "ready", "failed"}

func (s AnswerState) String() string {
	if s > 0 && int(s) < len(answerStateNames) {
		return answerStateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Answer is a read of the predictor.
type Answer struct {
	State  AnswerState
	Reason string // for people: why off, pending or failed
	// Prediction is the answer (Ready), or the latest earlier one for the same
	// items while a new one is computed (Pending, Stale).
	Prediction *Prediction
	Stale      bool
	// Mirror is the mirror's state (base commit, fetch errors); zero when off.
	Mirror Info
}

// NewPredictor returns a Predictor over m; a nil m gives a predictor that is off.
func NewPredictor(m *Mirror, opts PredictorOptions) *Predictor {
	p := &Predictor{
		m:        m,
		log:      opts.Logger,
		onUpdate: opts.OnUpdate,
		interval: opts.FetchInterval,
		timeout:  opts.PredictTimeout,
		max:      opts.MaxResults,
		jobs:     make(chan job, jobQueue),
		nudge:    make(chan struct{}, 1),
		results:  map[string]*result{},
		latest:   map[string]string{},
		inflight: map[string]bool{},
		asked:    map[Item]bool{},
		matrices: map[string]*Matrix{},
	}
	if m == nil {
		p.off = errNoGitDir
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.onUpdate == nil {
		p.onUpdate = func() {}
	}
	if p.interval == 0 {
		p.interval = defaultFetchInterval
	}
	if p.timeout <= 0 {
		p.timeout = defaultPredictTimeout
	}
	if p.max <= 0 {
		p.max = defaultMaxResults
	}
	return p
}

// Disabled returns a predictor that is off because of err (git missing or too old,
// the directory not a repository): every read says so.
func Disabled(err error) *Predictor {
	p := NewPredictor(nil, PredictorOptions{})
	p.off = fmt.Errorf("%w: %w", ErrOff, err)
	return p
}

// Enabled reports whether the predictor has a mirror.
func (p *Predictor) Enabled() bool { return p != nil && p.m != nil }

// offErr is why the predictor is off; it wraps ErrOff.
func (p *Predictor) offErr() error {
	if p == nil || p.off == nil {
		return errNoGitDir
	}
	return p.off
}

// Prediction returns what the deploy of items (the active PRs in state order, with
// their post-deploy pins) will do, on the mirror's latest base commit. It never waits:
// an answer not computed yet is started in the background and reported Pending. The
// items' PRs become the ones Run fetches.
func (p *Predictor) Prediction(items []Item) Answer {
	if !p.Enabled() {
		return Answer{State: Off, Reason: p.offErr().Error()}
	}
	items = slices.Clone(items)
	p.wantPRs(items)
	info := p.m.Info()
	a := Answer{Mirror: info}
	if info.BaseSHA == "" {
		if info.FetchErr != nil {
			a.State, a.Reason = Failed, "fetch failed: "+info.FetchErr.Error()
			return a
		}
		a.State, a.Reason = Pending, "waiting for the first fetch of "+info.BaseBranch
		return a
	}
	ik := itemsKey(items)
	key := info.BaseSHA + " " + ik
	gen := info.Generation

	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.results[key]
	switch {
	case r != nil && r.err == nil && (r.gen == gen || !hasMissing(r.p)):
		a.State, a.Prediction = Ready, r.p
		return a
	case r != nil && r.err != nil && time.Since(r.at) < retryFailed:
		a.State, a.Reason = Failed, r.err.Error()
		return a
	}
	// Not computed, or computed before a fetch that may have brought a missing pin.
	p.enqueueLocked(job{key: key, itemsKey: ik, base: info.BaseSHA, items: items})
	a.State, a.Reason = Pending, "computing"
	if old := p.results[p.latest[ik]]; old != nil && old.p != nil {
		a.Prediction, a.Stale = old.p, true
	}
	return a
}

func hasMissing(pr *Prediction) bool {
	return slices.ContainsFunc(pr.Items, func(o Outcome) bool { return o.Status == Missing })
}

// itemsKey is the exact ordered items, as text.
func itemsKey(items []Item) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(strconv.Itoa(it.Number) + ":" + it.Pin + ",")
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// enqueueLocked starts a computation unless one for key runs (singleflight); when the
// queue is full the next read tries again.
func (p *Predictor) enqueueLocked(j job) {
	if p.inflight[j.key] {
		return
	}
	select {
	case p.jobs <- j:
		p.inflight[j.key] = true
	default:
	}
}

// wantPRs makes items' PRs the fetched ones, and asks for a fetch when one was never
// fetched.
func (p *Predictor) wantPRs(items []Item) {
	ns := make([]int, 0, len(items))
	for _, it := range items {
		ns = append(ns, it.Number)
	}
	slices.Sort(ns)
	ns = slices.Compact(ns)
	p.mu.Lock()
	changed := !slices.Equal(p.want, ns)
	if changed {
		p.want = ns
	}
	p.mu.Unlock()
	if !changed {
		return
	}
	info := p.m.Info()
	for _, n := range ns {
		if info.PRs[n].FetchedAt.IsZero() {
			p.Nudge()
			return
		}
	}
}

// Nudge asks Run for a fetch of the wanted PRs and the base branch now (after a
// webhook, a new pin). Nudges coalesce.
func (p *Predictor) Nudge() {
	if !p.Enabled() {
		return
	}
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Run fetches (at start, every FetchInterval, and when nudged) and computes the
// predictions that reads asked for, one at a time, until ctx is done.
func (p *Predictor) Run(ctx context.Context) {
	if !p.Enabled() {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.fetchLoop(ctx) })
	wg.Go(func() { p.computeLoop(ctx) })
	wg.Wait()
}

func (p *Predictor) fetchLoop(ctx context.Context) {
	var tick <-chan time.Time
	if p.interval > 0 {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		tick = t.C
	}
	p.Nudge() // fetch at start
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-p.nudge:
		}
		p.mu.Lock()
		prs := slices.Clone(p.want)
		p.mu.Unlock()
		// Fetch bounds itself; a failure is recorded in the mirror's Info and shown
		// by the next read.
		_, _ = p.m.Fetch(ctx, prs)
		fp := fingerprint(p.m.Info())
		p.mu.Lock()
		changed := fp != p.fetchFP
		p.fetchFP = fp
		p.mu.Unlock()
		if changed {
			p.onUpdate()
		}
	}
}

// fingerprint is what a fetch can change that readers see.
func fingerprint(info Info) string {
	var b strings.Builder
	b.WriteString(info.BaseSHA)
	if info.FetchErr != nil {
		b.WriteString(" err=" + info.FetchErr.Error())
	}
	for _, n := range slices.Sorted(maps.Keys(info.PRs)) {
		r := info.PRs[n]
		fmt.Fprintf(&b, " %d=%s", n, r.SHA)
		if r.Err != nil {
			b.WriteString("!" + r.Err.Error())
		}
	}
	return b.String()
}

func (p *Predictor) computeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-p.jobs:
			p.compute(ctx, j)
		}
	}
}

func (p *Predictor) compute(ctx context.Context, j job) {
	gen := p.m.Generation()
	started := time.Now()
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	pr, err := p.m.Predict(cctx, j.base, j.items)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: nothing to record
	}
	if err != nil {
		p.log.Warn("predict failed", "items", len(j.items), "err", err)
	} else {
		p.log.Debug("predicted", "items", len(j.items), "conflicts", len(pr.Conflicts()), "took", time.Since(started))
	}
	fetch := false
	p.mu.Lock()
	delete(p.inflight, j.key)
	p.storeLocked(j, &result{p: pr, err: err, at: time.Now(), gen: gen})
	if pr != nil {
		for _, o := range pr.Items {
			it := Item{Number: o.Number, Pin: o.Pin}
			if o.Status == Missing && !p.asked[it] {
				// Maybe not fetched yet: one fetch per missing pin, then it is missing.
				if len(p.asked) > 10000 {
					clear(p.asked)
				}
				p.asked[it] = true
				fetch = true
			}
		}
	}
	p.mu.Unlock()
	if fetch {
		p.Nudge()
	}
	p.onUpdate()
}

func (p *Predictor) storeLocked(j job, r *result) {
	if _, ok := p.results[j.key]; !ok {
		p.order = append(p.order, j.key)
	}
	p.results[j.key] = r
	if r.err == nil {
		p.latest[j.itemsKey] = j.key
	}
	for len(p.order) > p.max {
		old := p.order[0]
		p.order = p.order[1:]
		delete(p.results, old)
	}
	for ik, k := range p.latest {
		if _, ok := p.results[k]; !ok {
			delete(p.latest, ik)
		}
	}
}

// Matrix returns which pairs of items conflict with each other on the mirror's
// latest base commit (see Mirror.Pairwise). It computes on demand and waits for the
// answer (or ctx); identical concurrent calls share one computation, and answers are
// cached by their exact inputs. It does not need Run. The error wraps ErrOff when
// off, ErrBaseMissing before the first fetch.
func (p *Predictor) Matrix(ctx context.Context, items []Item) (*Matrix, error) {
	if !p.Enabled() {
		return nil, p.offErr()
	}
	base := p.m.BaseSHA()
	if base == "" {
		return nil, fmt.Errorf("%w: %s not fetched yet", ErrBaseMissing, p.m.base)
	}
	key := base + " " + itemsKey(items)
	p.mu.Lock()
	mx, ok := p.matrices[key]
	p.mu.Unlock()
	if ok {
		return mx, nil
	}
	ch := p.sf.DoChan(key, func() (any, error) {
		// Not the caller's ctx: one caller giving up must not fail the others.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
		defer cancel()
		mx, err := p.m.Pairwise(cctx, base, slices.Clone(items))
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		if len(p.matrices) >= p.max {
			clear(p.matrices)
		}
		p.matrices[key] = mx
		p.mu.Unlock()
		p.onUpdate()
		return mx, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Matrix), nil
	}
}
