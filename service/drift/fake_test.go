package drift

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/internal/fakeclock"
)

// fakeGitHub is a handwritten in-memory GitHub. It records every call by kind, counts
// the calls in flight, can answer after a latency (honouring ctx), fail on demand, and,
// in hold mode, park every call until the test releases a "round", so a test can see
// exactly which calls were in flight together and how many sequential rounds a resolve
// took.
type fakeGitHub struct {
	mu       sync.Mutex
	pulls    map[int]github.Pull          // every PR; State "open" ones are listed
	compares map[string]github.Comparison // "base...head"; missing: ahead by 2
	listErr  error
	pullErr  map[int]error
	cmpErr   map[string]error
	latency  time.Duration

	calls     map[string]int // kind → calls
	cmpCalls  map[string]int // "base...head" → calls
	pullCalls map[int]int
	inflight  int
	maxIn     int

	hold   bool
	gate   chan struct{}
	parked map[string]int // kind → calls parked at the gate
	rounds int
}

func newFakeGitHub() *fakeGitHub {
	return &fakeGitHub{
		pulls:     map[int]github.Pull{},
		compares:  map[string]github.Comparison{},
		pullErr:   map[int]error{},
		cmpErr:    map[string]error{},
		calls:     map[string]int{},
		cmpCalls:  map[string]int{},
		pullCalls: map[int]int{},
		parked:    map[string]int{},
		gate:      make(chan struct{}),
	}
}

func (f *fakeGitHub) enter(ctx context.Context, kind string) (leave func(), err error) {
	f.mu.Lock()
	f.calls[kind]++
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	hold, gate, latency := f.hold, f.gate, f.latency
	if hold {
		f.parked[kind]++
	}
	f.mu.Unlock()
	leave = func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}
	if hold {
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		f.parked[kind]--
		f.mu.Unlock()
		if err != nil {
			leave()
			return nil, err
		}
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	return leave, nil
}

func (f *fakeGitHub) ListOpenPulls(ctx context.Context) ([]github.Pull, error) {
	leave, err := f.enter(ctx, "list")
	if err != nil {
		return nil, err
	}
	defer leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []github.Pull
	for _, p := range f.pulls {
		if p.State == "open" {
			p.Mergeable, p.MergeableState = nil, "" // the listing does not carry them
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeGitHub) GetPull(ctx context.Context, n int) (github.Pull, error) {
	leave, err := f.enter(ctx, "pull")
	if err != nil {
		return github.Pull{}, err
	}
	defer leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pullCalls[n]++
	if err := f.pullErr[n]; err != nil {
		return github.Pull{}, err
	}
	p, ok := f.pulls[n]
	if !ok {
		return github.Pull{}, fmt.Errorf("pull %d: %w", n, github.ErrNotFound)
	}
	return p, nil
}

func (f *fakeGitHub) Compare(ctx context.Context, base, head string) (github.Comparison, error) {
	leave, err := f.enter(ctx, "compare")
	if err != nil {
		return github.Comparison{}, err
	}
	defer leave()
	f.mu.Lock()
	defer f.mu.Unlock()
	k := base + "..." + head
	f.cmpCalls[k]++
	if err := f.cmpErr[k]; err != nil {
		return github.Comparison{}, err
	}
	if c, ok := f.compares[k]; ok {
		return c, nil
	}
	return github.Comparison{Status: "ahead", AheadBy: 2}, nil
}

// set changes the fake under its lock.
func (f *fakeGitHub) set(fn func(f *fakeGitHub)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeGitHub) count() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

func (f *fakeGitHub) pullCount(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pullCalls[n]
}

func (f *fakeGitHub) compareCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.cmpCalls)
}

func (f *fakeGitHub) maxInflight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

// holdCalls parks every later call until release.
func (f *fakeGitHub) holdCalls() { f.set(func(f *fakeGitHub) { f.hold = true }) }

// unhold lets every parked and later call through.
func (f *fakeGitHub) unhold() {
	f.set(func(f *fakeGitHub) {
		if f.hold {
			f.hold = false
			close(f.gate)
			f.gate = make(chan struct{})
		}
	})
}

// round waits until exactly want (kind → calls) are parked together, then releases them
// as one round.
func (f *fakeGitHub) round(t *testing.T, want map[string]int) {
	t.Helper()
	f.waitParked(t, want)
	f.set(func(f *fakeGitHub) {
		close(f.gate)
		f.gate = make(chan struct{})
		f.rounds++
	})
}

// waitParked waits until exactly want (kind → calls) are parked. It fails the test if
// that state is not reached (a guard against hanging, not a timing check).
func (f *fakeGitHub) waitParked(t *testing.T, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := map[string]int{}
		for k, v := range f.parked {
			if v != 0 {
				got[k] = v
			}
		}
		f.mu.Unlock()
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked calls %v, want %v", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// mapCache is a Cache over a map, recording what it was asked.
type mapCache struct {
	mu      sync.Mutex
	m       map[string][]byte
	ttl     map[string]time.Duration
	getMany int // GetMulti calls
}

func newMapCache() *mapCache {
	return &mapCache{m: map[string][]byte{}, ttl: map[string]time.Duration{}}
}

func (c *mapCache) GetMulti(_ context.Context, keys []string) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.getMany++
	out := map[string][]byte{}
	for _, k := range keys {
		if v, ok := c.m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func (c *mapCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key], c.ttl[key] = value, ttl
}

func (c *mapCache) Delete(_ context.Context, keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.m, k)
	}
}

func (c *mapCache) getMultiCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getMany
}

func (c *mapCache) get(key string) ([]byte, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, c.ttl[key], ok
}

// clock is a fake clock for Options.Now.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New(time.Date(2026, 8, 6, 15, 0, 0, 0, time.UTC)) }

const testRepo = "internetarchive/openlibrary"

// env is one resolver under test with its fakes.
type env struct {
	gh      *fakeGitHub
	cache   *mapCache
	clock   *clock
	r       *Resolver
	updates chan struct{}
}

func newEnv(t testing.TB, gh *fakeGitHub, cache *mapCache, clk *clock) *env {
	return newEnvWith(t, gh, cache, clk, nil)
}

// newEnvWith is newEnv with the options changed by mod.
func newEnvWith(t testing.TB, gh *fakeGitHub, cache *mapCache, clk *clock, mod func(*Options)) *env {
	e := &env{gh: gh, cache: cache, clock: clk, updates: make(chan struct{}, 100)}
	opts := Options{
		Repo:   testRepo,
		TTL:    time.Minute,
		Logger: slog.New(slog.DiscardHandler),
		Now:    clk.Now,
		OnUpdate: func() {
			select {
			case e.updates <- struct{}{}:
			default:
			}
		},
	}
	if mod != nil {
		mod(&opts)
	}
	e.r = New(gh, cache, opts)
	t.Cleanup(func() {
		gh.unhold()
		e.r.flights.Wait() // no refresh outlives its test
	})
	return e
}

// waitUpdate waits for OnUpdate (a guard against hanging, not a timing check).
func (e *env) waitUpdate(t *testing.T) {
	t.Helper()
	select {
	case <-e.updates:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnUpdate")
	}
}

func (e *env) noUpdate(t *testing.T) {
	t.Helper()
	e.r.flights.Wait()
	select {
	case <-e.updates:
		t.Fatal("unexpected OnUpdate")
	default:
	}
}

// sha is a deterministic full SHA.
func sha(i int) string { return fmt.Sprintf("%040x", i) }

// pinOf and headOf are the pin and the head of PR n in the standard world.
func pinOf(n int) string  { return sha(n*1000 + 1) }
func headOf(n int) string { return sha(n*1000 + 2) }

// world adds open PRs numbered from..to, each head ahead of its pin by n%5+1 commits,
// and returns the targets pinning them.
func world(gh *fakeGitHub, from, to int) []Target {
	var ts []Target
	gh.set(func(f *fakeGitHub) {
		for n := from; n <= to; n++ {
			f.pulls[n] = github.Pull{
				Number: n, State: "open", Title: fmt.Sprintf("PR %d", n), HeadSHA: headOf(n),
				Author: "author", AuthorAvatar: "https://a/1", Assignee: "assignee", AssigneeAvatar: "https://a/2",
			}
			f.compares[pinOf(n)+"..."+headOf(n)] = github.Comparison{Status: "ahead", AheadBy: n%5 + 1}
			ts = append(ts, Target{Number: n, Pin: pinOf(n)})
		}
	})
	return ts
}

func ptr[T any](v T) *T { return &v }
