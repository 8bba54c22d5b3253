package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/internetarchive/testingd/integrations/github"
)

// pullRecord is what is kept of one PR, in L1 and (as JSON) in L2.
type pullRecord struct {
	Title          string `json:"title,omitempty"`
	Author         string `json:"author,omitempty"`
	AuthorAvatar   string `json:"author_avatar,omitempty"`
	Assignee       string `json:"assignee,omitempty"`
	AssigneeAvatar string `json:"assignee_avatar,omitempty"`
	HeadSHA        string `json:"head_sha"`
	Merged         bool   `json:"merged,omitempty"`
	Closed         bool   `json:"closed,omitempty"`
	Mergeable      *bool  `json:"mergeable,omitempty"`
	MergeableState string `json:"mergeable_state,omitempty"`
	// UpdatedAt is GitHub's updated_at: it orders webhook deliveries, which GitHub
	// does not promise to deliver in order.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	FetchedAt time.Time `json:"fetched_at"`
}

// inherit keeps what old knew of the mergeability of the same head when rec does not
// say (the open-PR listing never does): a listing must not forget what GetPull learnt.
func (rec *pullRecord) inherit(old *pullRecord) {
	if rec.Mergeable == nil && rec.MergeableState == "" && old.HeadSHA == rec.HeadSHA {
		rec.Mergeable, rec.MergeableState = old.Mergeable, old.MergeableState
	}
}

// wantsDrift: the PR is open, so its drift matters. A merged or closed one leaves the box
// at the next deploy; it is never compared (see Facts.Drift).
func (rec *pullRecord) wantsDrift() bool { return !rec.Merged && !rec.Closed }

func recordOf(p github.Pull, at time.Time) pullRecord {
	return pullRecord{
		Title:          p.Title,
		Author:         p.Author,
		AuthorAvatar:   p.AuthorAvatar,
		Assignee:       p.Assignee,
		AssigneeAvatar: p.AssigneeAvatar,
		HeadSHA:        p.HeadSHA,
		Merged:         p.Merged,
		Closed:         p.Closed(),
		Mergeable:      p.Mergeable,
		MergeableState: p.MergeableState,
		UpdatedAt:      p.UpdatedAt,
		FetchedAt:      at,
	}
}

func encodePull(rec pullRecord) []byte {
	b, _ := json.Marshal(rec) // cannot fail: plain strings, bools and a time
	return b
}

func decodePull(b []byte) (pullRecord, bool) {
	var rec pullRecord
	if json.Unmarshal(b, &rec) != nil || rec.FetchedAt.IsZero() || rec.HeadSHA == "" {
		return pullRecord{}, false
	}
	return rec, true
}

type storedComparison struct {
	Status   string `json:"status"`
	AheadBy  int    `json:"ahead_by"`
	BehindBy int    `json:"behind_by"`
}

func encodeComparison(c github.Comparison) []byte {
	b, _ := json.Marshal(storedComparison(c))
	return b
}

func decodeComparison(b []byte) (github.Comparison, bool) {
	var c storedComparison
	if json.Unmarshal(b, &c) != nil || c.Status == "" {
		return github.Comparison{}, false
	}
	return github.Comparison(c), true
}

// pullKey is the L2 key of PR n's facts: testingd/v1/{repo}/pull/{n}.
func (r *Resolver) pullKey(n int) string {
	return safeKey(r.keyPrefix + "pull/" + strconv.Itoa(n))
}

// compareKey is the L2 key of a comparison: testingd/v1/{repo}/compare/{pin}...{head}.
// It is also the singleflight key of the request.
func (r *Resolver) compareKey(pin, head string) string {
	return safeKey(r.keyPrefix + "compare/" + pin + "..." + head)
}

// safeKey returns key if memcached accepts it (at most 250 bytes, no spaces or control
// characters), else a fixed-length digest of it. Pins are hex by then; only an odd
// Options.Repo or a very long one can trigger this.
func safeKey(key string) string {
	ok := len(key) <= 250
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] > ' ' && key[i] < 0x7f
	}
	if ok {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "testingd/v1/sha256/" + hex.EncodeToString(sum[:])
}

// loadL2 fills L1 from the shared cache for the targets that would otherwise wait for
// GitHub: facts missing from L1 and their comparisons (one GetMulti, and a second one
// only for comparisons of heads the first brought). It reports whether it found anything.
func (r *Resolver) loadL2(ctx context.Context, targets []Target) bool {
	var pullKeys, cmpKeys []string
	pullNums := map[string]int{}
	cmpOf := map[string]cmpKey{}
	r.mu.RLock()
	for _, t := range targets {
		if t.Number <= 0 {
			continue
		}
		e := r.pulls[t.Number]
		if e == nil || (!e.known && e.err == nil) {
			k := r.pullKey(t.Number)
			if _, dup := pullNums[k]; !dup {
				pullNums[k] = t.Number
				pullKeys = append(pullKeys, k)
			}
			continue
		}
		if e.known && e.rec.wantsDrift() {
			cmpKeys = r.missingCompareLocked(t.Pin, e.rec.HeadSHA, cmpKeys, cmpOf)
		}
	}
	r.mu.RUnlock()
	if len(pullKeys)+len(cmpKeys) == 0 {
		return false
	}
	found := false
	got := r.cache.GetMulti(ctx, append(pullKeys, cmpKeys...))
	var fetched map[int]bool
	for _, k := range pullKeys {
		rec, ok := decodePull(got[k])
		r.countL2(ok)
		if ok && r.adoptPull(nil, pullNums[k], rec) {
			found = true
			if fetched == nil {
				fetched = map[int]bool{}
			}
			fetched[pullNums[k]] = true
		}
	}
	found = r.adoptComparisons(cmpKeys, cmpOf, got) || found

	// Comparisons for the heads just learnt from L2.
	if len(fetched) == 0 {
		return found
	}
	cmpKeys = cmpKeys[:0]
	r.mu.RLock()
	for _, t := range targets {
		if e := r.pulls[t.Number]; fetched[t.Number] && e != nil && e.known && e.rec.wantsDrift() {
			cmpKeys = r.missingCompareLocked(t.Pin, e.rec.HeadSHA, cmpKeys, cmpOf)
		}
	}
	r.mu.RUnlock()
	if len(cmpKeys) > 0 {
		r.adoptComparisons(cmpKeys, cmpOf, r.cache.GetMulti(ctx, cmpKeys))
	}
	return found
}

// missingCompareLocked appends the L2 key of (pin, head) if that comparison is needed and
// not in L1. Callers hold r.mu.
func (r *Resolver) missingCompareLocked(rawPin, head string, keys []string, of map[string]cmpKey) []string {
	pin, err := normPin(rawPin)
	if err != nil || pin == "" || head == "" || trivial(pin, head) {
		return keys
	}
	k := cmpKey{pin, head}
	if _, ok := r.compares[k]; ok {
		return keys
	}
	key := r.compareKey(pin, head)
	if _, dup := of[key]; dup {
		return keys
	}
	of[key] = k
	return append(keys, key)
}

func (r *Resolver) adoptComparisons(keys []string, of map[string]cmpKey, got map[string][]byte) bool {
	found := false
	for _, key := range keys {
		c, ok := decodeComparison(got[key])
		r.countL2(ok)
		if !ok {
			continue
		}
		found = true
		r.mu.Lock()
		if len(r.compares) >= maxCompares {
			clear(r.compares)
		}
		r.compares[of[key]] = cmpEntry{cmp: c, at: r.now()}
		r.mu.Unlock()
	}
	return found
}

// adoptPull puts facts read from L2 into L1 unless L1 knows better: newer facts, or an
// eviction after they were fetched. It releases fl's claim on the PR when it adopts them.
func (r *Resolver) adoptPull(fl *flight, n int, rec pullRecord) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.pulls[n]
	if e == nil {
		e = &pullEntry{}
		r.pulls[n] = e
	}
	if rec.FetchedAt.Before(e.evictAt) || rec.FetchedAt.Before(r.evictAllAt) ||
		(e.known && !rec.FetchedAt.After(e.rec.FetchedAt)) {
		return false
	}
	e.rec, e.known, e.err = rec, true, nil
	if fl != nil && e.flight == fl {
		e.flight = nil
	}
	return true
}

// factsFromL2 takes from L2 the facts of jobs marked checkL2 that another instance has
// refreshed within the TTL, starts their comparisons, and returns the jobs left for
// GitHub. Two instances sharing a cache thus ask GitHub about once per TTL between them.
func (r *Resolver) factsFromL2(ctx context.Context, fl *flight, g *errgroup.Group, jobs []job) []job {
	var keys []string
	for _, j := range jobs {
		if j.checkL2 {
			keys = append(keys, r.pullKey(j.number))
		}
	}
	if len(keys) == 0 {
		return jobs
	}
	got := r.cache.GetMulti(ctx, keys)
	now := r.now()
	var rest, adopted []job
	for _, j := range jobs {
		if j.checkL2 {
			rec, ok := decodePull(got[r.pullKey(j.number)])
			r.countL2(ok)
			if ok && now.Sub(rec.FetchedAt) < r.freshFor() && r.adoptPull(fl, j.number, rec) {
				fl.changed.Store(true)
				adopted = append(adopted, j)
				continue
			}
		}
		rest = append(rest, j)
	}
	r.compareJobs(ctx, fl, g, adopted, true)
	return rest
}

// comparesFromL2 moves the comparisons found in L2 into L1 and returns the rest.
func (r *Resolver) comparesFromL2(ctx context.Context, todo []cmpKey) []cmpKey {
	if len(todo) == 0 {
		return todo
	}
	keys := make([]string, len(todo))
	of := make(map[string]cmpKey, len(todo))
	for i, k := range todo {
		keys[i] = r.compareKey(k.pin, k.head)
		of[keys[i]] = k
	}
	got := r.cache.GetMulti(ctx, keys)
	r.adoptComparisons(keys, of, got)
	rest := todo[:0]
	for i, k := range todo {
		if _, ok := decodeComparison(got[keys[i]]); !ok {
			rest = append(rest, k)
		}
	}
	return rest
}

func (r *Resolver) countL2(hit bool) {
	if hit {
		r.stats.l2Hits.Add(1)
	} else {
		r.stats.l2Misses.Add(1)
	}
}

// noCache is the Cache when none is given.
type noCache struct{}

func (noCache) GetMulti(context.Context, []string) map[string][]byte { return nil }
func (noCache) Set(context.Context, string, []byte, time.Duration)   {}
func (noCache) Delete(context.Context, ...string)                    {}
