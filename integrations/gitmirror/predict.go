package gitmirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrBaseMissing is returned when the base commit is not in the mirror (not fetched
// yet, or not a commit id).
var ErrBaseMissing = errors.New("base commit not in the mirror")

// Item is one active PR of the deploy, in state order: its number and the commit the
// deploy merges (the pin after the plan is applied).
type Item struct {
	Number int
	Pin    string // a commit id, full or abbreviated (old state files hold short ones)
}

// Status is what the deploy will do with one PR.
type Status int

const (
	// Clean: the pin merges without conflict; the deploy merges it.
	Clean Status = iota + 1
	// ConflictsBase: the pin conflicts with the base branch itself; skipped.
	ConflictsBase
	// ConflictsPR: the pin merges cleanly onto the base but conflicts with what an
	// earlier PR of the deploy merged (Outcome.With); skipped.
	ConflictsPR
	// Missing: the pin is not in the mirror (not fetched, force-pushed away, not a
	// commit id): the deploy prints "Pinned commit … unavailable — skipping".
	Missing
	// Empty: the pin is already contained in the integration branch ("Already up to
	// date."): nothing to merge, nothing skipped.
	Empty
	// Refused: git refused the merge for another reason (unrelated histories); the
	// deploy skips it like a conflict.
	Refused
)

var statusNames = [...]string{"", "clean", "conflicts-base", "conflicts-pr", "missing", "empty", "refused"}

func (s Status) String() string {
	if s > 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Merged reports whether the PR ends up in the integration branch (clean or already
// contained).
func (s Status) Merged() bool { return s == Clean || s == Empty }

// Outcome is the prediction for one Item.
type Outcome struct {
	Number int
	Pin    string // as given
	Commit string // the pin resolved to a full id; "" when Missing
	Status Status
	// With is the earlier PR that the merge conflicts with (ConflictsPR only).
	With int
	// Paths are the conflicted paths of the merge the deploy attempts: this PR's pin
	// into the integration branch as built so far (ConflictsBase, ConflictsPR).
	Paths []string
	// Detail says why, for Missing and Refused.
	Detail string
}

// Prediction is the simulated deploy.
type Prediction struct {
	Base  string    // the base commit the deploy starts from
	Items []Outcome // one per Item, in order
	// Head and Tree are the simulated integration branch after every merge.
	Head, Tree string
}

// Conflicts returns the outcomes that the deploy will skip.
func (p *Prediction) Conflicts() []Outcome {
	var out []Outcome
	for _, o := range p.Items {
		if !o.Status.Merged() {
			out = append(out, o)
		}
	}
	return out
}

// state is the integration branch between two merges.
type state struct{ commit, tree string }

// step is the memoized result of merging one more item onto a prefix.
type step struct {
	out   Outcome
	after state
}

// mergedStep is one clean merge of the chain, for attribution.
type mergedStep struct {
	number int
	after  string // the integration commit right after this PR's merge
}

// Predict simulates the deploy script on the mirror: start from base, merge each
// item's pin in order, skip one that conflicts. See the package documentation for
// the exact algorithm and how a conflict is attributed.
//
// Every step is memoized by its exact prefix (base commit + the ordered items up to
// it), so a prediction whose items share a prefix with an earlier one only merges the
// changed suffix. The error is for the prediction as a whole (base missing, git
// failing, ctx); per-PR results are in the outcomes.
func (m *Mirror) Predict(ctx context.Context, base string, items []Item) (*Prediction, error) {
	baseObj, objs, err := m.resolve(ctx, base, items)
	if err != nil {
		return nil, err
	}
	p := &Prediction{Base: baseObj.commit, Items: make([]Outcome, len(items))}
	cur := baseObj
	var chain []mergedStep
	key := prefixKey(baseObj.commit)
	for i, it := range items {
		key = nextKey(key, it, objs[i])
		var s step
		if v, ok := m.memo.get(key); ok {
			s = v.(step)
		} else {
			s, err = m.step(ctx, baseObj, cur, chain, it, objs[i])
			if err != nil {
				return nil, fmt.Errorf("predict #%d: %w", it.Number, err)
			}
			m.memo.put(key, s)
		}
		p.Items[i] = s.out
		if s.out.Status == Clean {
			chain = append(chain, mergedStep{number: it.Number, after: s.after.commit})
		}
		cur = s.after
	}
	p.Head, p.Tree = cur.commit, cur.tree
	return p, nil
}

func prefixKey(base string) string {
	h := sha256.Sum256([]byte("testingd/gitmirror predict v1\x00" + base))
	return hex.EncodeToString(h[:])
}

func nextKey(prev string, it Item, obj resolved) string {
	id := obj.commit
	if id == "" {
		id = "missing:" + it.Pin
	}
	h := sha256.Sum256([]byte(prev + "\x00" + strconv.Itoa(it.Number) + "\x00" + id))
	return hex.EncodeToString(h[:])
}

// step merges one item onto cur, the way `git merge` would, and attributes a
// conflict.
func (m *Mirror) step(ctx context.Context, base, cur state, chain []mergedStep, it Item, obj resolved) (step, error) {
	out := Outcome{Number: it.Number, Pin: it.Pin, Commit: obj.commit}
	if obj.commit == "" {
		out.Status, out.Detail = Missing, obj.detail
		return step{out: out, after: cur}, nil
	}
	r, err := m.mergeTree(ctx, cur.commit, obj.commit)
	if err != nil {
		return step{}, err
	}
	switch {
	case r.Refused != "":
		out.Status, out.Detail = Refused, r.Refused
		return step{out: out, after: cur}, nil
	case r.Clean:
		// Same tree as before: either the pin is already contained ("Already up to
		// date.", no commit) or it merges to no change (git still commits).
		if r.Tree == cur.tree {
			anc, err := m.isAncestor(ctx, obj.commit, cur.commit)
			if err != nil {
				return step{}, err
			}
			if anc {
				out.Status = Empty
				return step{out: out, after: cur}, nil
			}
		}
		c, err := m.commitTree(ctx, r.Tree, cur.commit, obj.commit, "Merge PR #"+strconv.Itoa(it.Number))
		if err != nil {
			return step{}, err
		}
		out.Status = Clean
		return step{out: out, after: state{commit: c, tree: r.Tree}}, nil
	}
	out.Paths = r.Paths
	with, err := m.attribute(ctx, base, chain, obj.commit)
	if err != nil {
		return step{}, err
	}
	if with == 0 {
		out.Status = ConflictsBase
	} else {
		out.Status, out.With = ConflictsPR, with
	}
	return step{out: out, after: cur}, nil
}

// attribute finds why pin conflicts with the integration branch: 0 when it conflicts
// with the base alone, else the number of the earliest merged PR after whose merge it
// conflicts (replaying the chain's own intermediate commits, so the answer is about
// this exact deploy). The last commit of the chain is the one that conflicted, so a
// PR is always found; the fallback keeps a broken invariant from panicking.
func (m *Mirror) attribute(ctx context.Context, base state, chain []mergedStep, pin string) (int, error) {
	// All the merges at once (one `merge-tree --stdin`): the pin onto the base, then
	// onto each intermediate commit.
	pairs := make([][2]string, 0, 1+len(chain))
	pairs = append(pairs, [2]string{base.commit, pin})
	for _, s := range chain {
		pairs = append(pairs, [2]string{s.after, pin})
	}
	rs, err := m.mergeTrees(ctx, pairs)
	if err != nil {
		return 0, err
	}
	for i, r := range rs {
		if !r.Clean || r.Refused != "" {
			if i == 0 {
				return 0, nil
			}
			return chain[i-1].number, nil
		}
	}
	if len(chain) > 0 {
		return chain[len(chain)-1].number, nil
	}
	return 0, nil
}

// resolved is an item's pin (or the base) in the mirror.
type resolved struct {
	commit, tree string // "" when missing
	detail       string // why it is missing
}

// resolve looks the base and every pin up in one `git cat-file --batch-check`.
func (m *Mirror) resolve(ctx context.Context, base string, items []Item) (state, []resolved, error) {
	ids := make([]string, 0, 1+len(items))
	ids = append(ids, base)
	for _, it := range items {
		ids = append(ids, it.Pin)
	}
	objs, err := m.lookup(ctx, ids)
	if err != nil {
		return state{}, nil, err
	}
	if objs[0].commit == "" {
		return state{}, nil, fmt.Errorf("%w: %q: %s", ErrBaseMissing, base, objs[0].detail)
	}
	return state{commit: objs[0].commit, tree: objs[0].tree}, objs[1:], nil
}

// lookup resolves commit ids to their commit and tree.
func (m *Mirror) lookup(ctx context.Context, ids []string) ([]resolved, error) {
	out := make([]resolved, len(ids))
	var q strings.Builder
	var asked []int
	for i, id := range ids {
		id = strings.ToLower(strings.TrimSpace(id))
		if len(id) < 4 || len(id) > 64 || !isHex(id) {
			out[i].detail = "not a commit id"
			continue
		}
		asked = append(asked, i)
		q.WriteString(id + "^{commit}\n" + id + "^{tree}\n")
	}
	if len(asked) == 0 {
		return out, nil
	}
	raw, err := m.git.run(ctx, 0, []byte(q.String()), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, fmt.Errorf("look up commits: %w", err)
	}
	objs, err := parseBatchCheck(raw, 2*len(asked))
	if err != nil {
		return nil, fmt.Errorf("look up commits: %w", err)
	}
	for k, i := range asked {
		c, t := objs[2*k], objs[2*k+1]
		switch {
		case c.Type == "ambiguous":
			out[i].detail = "ambiguous abbreviated id"
		case c.Type != "commit" || t.Type != "tree":
			out[i].detail = "not in the mirror"
		default:
			out[i] = resolved{commit: c.ID, tree: t.ID}
		}
	}
	return out, nil
}

// mergeTree merges two commits without a work tree; the merge base is git's. Results
// are memoized: they depend on nothing but the two commits.
func (m *Mirror) mergeTree(ctx context.Context, a, b string) (mergeResult, error) {
	key := "merge-tree " + a + " " + b
	if v, ok := m.memo.get(key); ok {
		return v.(mergeResult), nil
	}
	out, err := m.git.run(ctx, 0, nil, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", a, b)
	var r mergeResult
	switch code := exitCode(err); {
	case err == nil || code == 1:
		if r, err = parseMergeTree(out, err == nil); err != nil {
			return mergeResult{}, err
		}
	case code > 1 && refusal(err) != "":
		r = mergeResult{Refused: refusal(err)}
	default:
		return mergeResult{}, fmt.Errorf("merge-tree: %w", err)
	}
	m.memo.put(key, r)
	return r, nil
}

// mergeTrees is mergeTree for many pairs of commits, all merged by one `git
// merge-tree --stdin` where git has it (2.39; one process instead of one per merge).
// The batch dies as a whole on a merge git refuses, so a failed batch falls back to
// one command per merge, which reports each refusal.
func (m *Mirror) mergeTrees(ctx context.Context, pairs [][2]string) ([]mergeResult, error) {
	rs := make([]mergeResult, len(pairs))
	var todo []int
	for i, p := range pairs {
		if v, ok := m.memo.get("merge-tree " + p[0] + " " + p[1]); ok {
			rs[i] = v.(mergeResult)
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) > 1 && m.batch {
		var in strings.Builder
		for _, i := range todo {
			in.WriteString(pairs[i][0] + " " + pairs[i][1] + "\n")
		}
		out, err := m.git.run(ctx, 0, []byte(in.String()), "merge-tree", "--stdin", "--name-only", "--no-messages", "-z")
		if err == nil {
			var batch []mergeResult
			if batch, err = parseMergeTreeBatch(out, len(todo)); err == nil {
				for k, i := range todo {
					rs[i] = batch[k]
					m.memo.put("merge-tree "+pairs[i][0]+" "+pairs[i][1], batch[k])
				}
				return rs, nil
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("merge-tree --stdin: %w", err)
		}
		m.log.Debug("merge-tree --stdin failed; merging one by one", "merges", len(todo), "err", err)
	}
	for _, i := range todo {
		r, err := m.mergeTree(ctx, pairs[i][0], pairs[i][1])
		if err != nil {
			return nil, err
		}
		rs[i] = r
	}
	return rs, nil
}

// refusal is why git refused a merge outright, when it is a property of the two
// commits rather than a failure of git.
func refusal(err error) string {
	var ge *GitError
	if errors.As(err, &ge) && strings.Contains(ge.Stderr, "refusing to merge unrelated histories") {
		return "refusing to merge unrelated histories"
	}
	return ""
}

func (m *Mirror) isAncestor(ctx context.Context, a, b string) (bool, error) {
	_, err := m.git.run(ctx, 0, nil, "merge-base", "--is-ancestor", a, b)
	switch {
	case err == nil:
		return true, nil
	case exitCode(err) == 1:
		return false, nil
	}
	return false, fmt.Errorf("merge-base: %w", err)
}

// commitTree makes the merge commit `git merge` would make (two parents, in the
// deploy's order), with the runner's fixed identity and date.
func (m *Mirror) commitTree(ctx context.Context, tree, p1, p2, msg string) (string, error) {
	out, err := m.git.run(ctx, 0, nil, "commit-tree", tree, "-p", p1, "-p", p2, "-m", msg)
	if err != nil {
		return "", fmt.Errorf("commit-tree: %w", err)
	}
	id := strings.TrimSpace(string(out))
	if !isHex(id) {
		return "", fmt.Errorf("commit-tree: %w: %q", errMalformed, id)
	}
	return id, nil
}

const (
	defaultMemoEntries = 1 << 14
	// defaultMemoTTL keeps memoized commits well inside gc's two-week grace for
	// unreachable objects: the simulated merge commits are referenced by no ref.
	defaultMemoTTL = 24 * time.Hour
)

// memo is a bounded map whose entries expire.
type memo struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	data map[string]memoEntry
}

type memoEntry struct {
	v  any
	at time.Time
}

func newMemo(max int, ttl time.Duration) *memo {
	return &memo{max: max, ttl: ttl, data: make(map[string]memoEntry)}
}

func (c *memo) get(k string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.data[k]
	if !ok || time.Since(e.at) > c.ttl {
		return nil, false
	}
	return e.v, true
}

func (c *memo) put(k string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.data) >= c.max {
		now := time.Now()
		for k, e := range c.data {
			if now.Sub(e.at) > c.ttl {
				delete(c.data, k)
			}
		}
		// Still full: drop an arbitrary half; whatever is needed is recomputed.
		for k := range c.data {
			if len(c.data) < c.max/2 {
				break
			}
			delete(c.data, k)
		}
	}
	c.data[k] = memoEntry{v: v, at: time.Now()}
}
