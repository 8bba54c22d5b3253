package gitmirror

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPairwise(t *testing.T) {
	s := newScenario(t)
	mx, err := s.m.Pairwise(t.Context(), s.base, s.items)
	if err != nil {
		t.Fatal(err)
	}
	alone := map[int]Status{}
	for _, o := range mx.Items {
		alone[o.Number] = o.Status
	}
	wantAlone := map[int]Status{1: Clean, 2: ConflictsBase, 3: Clean, 4: Empty, 5: Clean, 6: Missing, 7: Clean, 8: Refused, 9: Clean, 10: Clean, 11: Clean, 12: Clean}
	for n, w := range wantAlone {
		if alone[n] != w {
			t.Errorf("#%d alone: %v, want %v", n, alone[n], w)
		}
	}
	var got []string
	for _, p := range mx.Pairs {
		got = append(got, fmt.Sprintf("%v %q", p, p.Paths))
	}
	want := []string{
		`#1×#3 ["b.txt"]`, `#1×#7 ["b.txt"]`, `#3×#7 ["b.txt"]`, `#3×#9 ["b.txt"]`, `#3×#10 ["b.txt"]`,
		`#3×#12 ["b.txt"]`, `#5×#7 ["c.txt"]`, `#7×#9 ["b.txt"]`, `#7×#10 ["b.txt"]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("pairs:\n got %q\nwant %q", got, want)
	}

	// Every pair of PRs that merge alone, against real git merge in the same order.
	o := newOracle(t, s)
	conflicting := map[[2]int]bool{}
	for _, p := range mx.Pairs {
		conflicting[[2]int{p.A, p.B}] = true
	}
	for i, a := range s.items {
		for _, b := range s.items[i+1:] {
			if alone[a.Number] != Clean || alone[b.Number] != Clean {
				continue
			}
			steps, _ := o.run(t, s.base, []Item{a, b})
			if steps[0].class != "clean" {
				t.Fatalf("#%d alone: %s", a.Number, steps[0].class)
			}
			if c := steps[1].class == "conflict"; c != conflicting[[2]int{a.Number, b.Number}] {
				t.Errorf("#%d then #%d: git merge conflict=%v, matrix says %v", a.Number, b.Number, c, !c)
			}
		}
	}
}

// TestBatchAndSingleAgree: merging in `merge-tree --stdin` batches and one command
// per merge give the same predictions and matrices; a batch that git kills (an
// unrelated history in it) falls back to single merges.
func TestBatchAndSingleAgree(t *testing.T) {
	s := newScenario(t)
	if !s.m.batch {
		t.Skip("git without merge-tree --stdin")
	}
	single := cloneMirror(t, s.u, Options{})
	single.batch = false
	if _, err := single.Fetch(t.Context(), numbers(s.items)); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]Item{s.items, reversed(s.items)} {
		a, err := s.m.Predict(t.Context(), s.base, order)
		if err != nil {
			t.Fatal(err)
		}
		b, err := single.Predict(t.Context(), s.base, order)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("predict: batch vs single:\n%s", diff)
		}
		ma, err := s.m.Pairwise(t.Context(), s.base, order)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := single.Pairwise(t.Context(), s.base, order)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ma, mb); diff != "" {
			t.Errorf("pairwise: batch vs single:\n%s", diff)
		}
	}
	rs, err := s.m.mergeTrees(t.Context(), [][2]string{{s.base, s.pins[1]}, {s.base, s.pins[8]}, {s.base, s.pins[2]}})
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Clean || rs[1].Refused == "" || rs[2].Clean || rs[2].Refused != "" {
		t.Errorf("fallback: %+v", rs)
	}
}
