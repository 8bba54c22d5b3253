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
// changes between their forks as conflicts; this does not. Merges run at most two at
// a time; each is memoized like Predict's.
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
	found := make([]*Pair, len(jobs))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(pairwiseLimit)
	for k, j := range jobs {
		g.Go(func() error {
			r, err := m.mergeTree(gctx, after[j.a], objs[j.b].commit)
			if err != nil {
				return fmt.Errorf("pairwise #%d #%d: %w", items[j.a].Number, items[j.b].Number, err)
			}
			if !r.Clean || r.Refused != "" {
				found[k] = &Pair{A: items[j.a].Number, B: items[j.b].Number, Paths: r.Paths}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
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
