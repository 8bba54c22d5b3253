package gitmirror

import (
	"context"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"
)

// pairwiseLimit bounds the merges Pairwise runs at once (the service shares two
// cores with everything else).
const pairwiseLimit = 2

// Matrix says which PRs conflict with each other.
type Matrix struct {
	Base string
	// Items is each PR merged alone onto the base: Clean, Empty, ConflictsBase,
	// Missing or Refused. Only Clean ones take part in pairs.
	Items []Outcome
	// Pairs are the conflicting pairs, A before B in the items' order.
	Pairs []Pair
}

// Pair is two PRs that each merge cleanly onto the base but not together.
type Pair struct {
	A, B  int
	Paths []string // conflicted paths of merging B after A
}

// Pairwise merges every PR alone onto the base, then, for every two that merge
// cleanly, B onto (base + A) where A comes first in items' order, as a deploy of
// those two would. Merging A and B's heads directly would also count the base
// changes between their forks as conflicts; this does not. At most two git commands
// run at a time (the pairs go in two `merge-tree --stdin` batches); each merge is
// memoized like Predict's.
func (m *Mirror) Pairwise(ctx context.Context, base string, items []Item) (*Matrix, error) {
	baseObj, objs, err := m.resolve(ctx, base, items)
	if err != nil {
		return nil, err
	}
	mx := &Matrix{Base: baseObj.commit, Items: make([]Outcome, len(items))}
	after := make([]string, len(items)) // base + item i, for Clean items

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pairwiseLimit)
	for i, it := range items {
		g.Go(func() error {
			s, err := m.step(gctx, baseObj, baseObj, nil, it, objs[i])
			if err != nil {
				return fmt.Errorf("pairwise #%d: %w", it.Number, err)
			}
			mx.Items[i] = s.out
			if s.out.Status == Clean {
				after[i] = s.after.commit
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	type pairJob struct{ a, b int }
	var jobs []pairJob
	for a := range items {
		for b := a + 1; b < len(items); b++ {
			if after[a] != "" && after[b] != "" {
				jobs = append(jobs, pairJob{a, b})
			}
		}
	}
	// The pairs go to git in pairwiseLimit batches, one `merge-tree --stdin` each.
	pairs := make([][2]string, len(jobs))
	for k, j := range jobs {
		pairs[k] = [2]string{after[j.a], objs[j.b].commit}
	}
	results := make([]mergeResult, len(jobs))
	chunk := max(1, (len(jobs)+pairwiseLimit-1)/pairwiseLimit)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(pairwiseLimit)
	for lo := 0; lo < len(jobs); lo += chunk {
		hi := min(lo+chunk, len(jobs))
		g.Go(func() error {
			rs, err := m.mergeTrees(gctx, pairs[lo:hi])
			if err != nil {
				return fmt.Errorf("pairwise: %w", err)
			}
			copy(results[lo:hi], rs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	found := make([]*Pair, len(jobs))
	for k, j := range jobs {
		if r := results[k]; !r.Clean || r.Refused != "" {
			found[k] = &Pair{A: items[j.a].Number, B: items[j.b].Number, Paths: r.Paths}
		}
	}
	for _, p := range found {
		if p != nil {
			mx.Pairs = append(mx.Pairs, *p)
		}
	}
	return mx, nil
}

// String is "#A×#B".
func (p Pair) String() string { return "#" + strconv.Itoa(p.A) + "×#" + strconv.Itoa(p.B) }
