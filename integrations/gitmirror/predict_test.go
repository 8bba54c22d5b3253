package gitmirror

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scenario is an upstream with a base history and one PR of every kind, fetched into
// a mirror.
type scenario struct {
	u     *upstream
	m     *Mirror
	base  string            // master's head
	pins  map[int]string    // the pin of each PR (PR 5's is an older commit of its branch)
	heads map[int]string    // refs/pull/N/head
	items []Item            // the deploy in state order
	want  map[int]wantOut   // the outcome of each PR in that order
	files map[string]string // master's files at M0
}

type wantOut struct {
	status Status
	with   int
	paths  []string
}

var (
	scenarioOnce sync.Once
	scenarioVal  *scenario
)

// newScenario builds the upstream once per test binary; each caller gets a fresh
// mirror (so caches and fetch state are its own).
func newScenario(t *testing.T) *scenario {
	t.Helper()
	scenarioOnce.Do(func() { scenarioVal = buildScenario(t) })
	if scenarioVal == nil {
		t.Fatal("scenario failed to build")
	}
	s := *scenarioVal
	s.m = cloneMirror(t, s.u, Options{})
	if _, err := s.m.Fetch(t.Context(), numbers(s.items)); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return &s
}

func numbers(items []Item) []int {
	var ns []int
	for _, it := range items {
		ns = append(ns, it.Number)
	}
	return ns
}

// buildScenario: master M0 → M1 (a.txt line 5) → M2 (dir/d.txt); PRs:
//
//	1  from M1: b.txt line 2, adds p1.txt                     clean
//	2  from M0: a.txt line 5                                  conflicts with the base (M1)
//	3  from M2: b.txt lines 2 and 8                           conflicts with PR 1
//	4  refs/pull/4/head = M1                                  empty (already in the base)
//	5  from M2: c.txt line 3, then a.txt line 5; pinned at the first commit: clean
//	   (its head would conflict with the base)
//	6  pinned at a commit that no ref reaches (force-pushed away); no refs/pull/6/head
//	7  from M2: b.txt line 2, c.txt line 3                    conflicts with PR 1 (earliest), and 5
//	8  an unrelated history                                   git refuses
//	9  stacked on PR 1: p1.txt                                clean after PR 1
//	10 pinned at PR 1's commit                                empty (contained after PR 1)
//	11 from M1: the same change to dir/d.txt as M2            clean, a merge that changes nothing
//	12 from M2: b.txt line 8 (like the skipped PR 3)          clean: a skipped PR is not merged
func buildScenario(t *testing.T) *scenario {
	u := newUpstream(t, sharedDir)
	files := map[string]string{"a.txt": lines(10), "b.txt": lines(10), "c.txt": lines(10), "dir/d.txt": "d\n"}
	m0 := u.commit("master", "", files)
	m1 := u.commit("master", "", map[string]string{"a.txt": lines(10, 5, "base five")})
	m2 := u.commit("master", "", map[string]string{"dir/d.txt": "d changed\n"})
	s := &scenario{u: u, base: m2, pins: map[int]string{}, heads: map[int]string{}, files: files}
	add := func(n int, pin, head string) {
		s.pins[n], s.heads[n] = pin, head
		if head != "" {
			u.pull(n, head)
		}
	}
	p1 := u.commit("pr1", m1, map[string]string{"b.txt": lines(10, 2, "pr1 two"), "p1.txt": "p1\n"})
	add(1, p1, p1)
	p2 := u.commit("pr2", m0, map[string]string{"a.txt": lines(10, 5, "pr2 five")})
	add(2, p2, p2)
	p3 := u.commit("pr3", m2, map[string]string{"b.txt": lines(10, 2, "pr3 two", 8, "pr3 eight")})
	add(3, p3, p3)
	add(4, m1, m1)
	p5a := u.commit("pr5", m2, map[string]string{"c.txt": lines(10, 3, "pr5 three")})
	p5b := u.commit("pr5", "", map[string]string{"a.txt": lines(10, 5, "pr5 five")})
	add(5, p5a, p5b)
	p6 := u.commit("gone", m2, map[string]string{"c.txt": lines(10, 6, "pr6 six")})
	git(t, u.dir, "checkout", "-q", "master")
	git(t, u.dir, "branch", "-q", "-D", "gone")
	add(6, p6, "")
	p7 := u.commit("pr7", m2, map[string]string{"b.txt": lines(10, 2, "pr7 two"), "c.txt": lines(10, 3, "pr7 three")})
	add(7, p7, p7)
	git(t, u.dir, "checkout", "-q", "--orphan", "pr8")
	git(t, u.dir, "rm", "-q", "-rf", ".")
	p8 := u.commit("", "", map[string]string{"z.txt": "unrelated\n"})
	add(8, p8, p8)
	p9 := u.commit("pr9", p1, map[string]string{"p1.txt": "p1 stacked\n"})
	add(9, p9, p9)
	add(10, p1, p1)
	p11 := u.commit("pr11", m1, map[string]string{"dir/d.txt": "d changed\n"})
	add(11, p11, p11)
	p12 := u.commit("pr12", m2, map[string]string{"b.txt": lines(10, 8, "pr12 eight")})
	add(12, p12, p12)
	git(t, u.dir, "checkout", "-q", "master")
	for n := 1; n <= 12; n++ {
		s.items = append(s.items, Item{Number: n, Pin: s.pins[n]})
	}
	s.want = map[int]wantOut{
		1:  {status: Clean},
		2:  {status: ConflictsBase, paths: []string{"a.txt"}},
		3:  {status: ConflictsPR, with: 1, paths: []string{"b.txt"}},
		4:  {status: Empty},
		5:  {status: Clean},
		6:  {status: Missing},
		7:  {status: ConflictsPR, with: 1, paths: []string{"b.txt", "c.txt"}},
		8:  {status: Refused},
		9:  {status: Clean},
		10: {status: Empty},
		11: {status: Clean},
		12: {status: Clean},
	}
	return s
}

func TestPredictScenario(t *testing.T) {
	s := newScenario(t)
	p, err := s.m.Predict(t.Context(), s.m.BaseSHA(), s.items)
	if err != nil {
		t.Fatal(err)
	}
	if p.Base != s.base {
		t.Errorf("base = %s, want %s", p.Base, s.base)
	}
	for _, o := range p.Items {
		w := s.want[o.Number]
		t.Run(fmt.Sprintf("#%d", o.Number), func(t *testing.T) {
			got := wantOut{status: o.Status, with: o.With, paths: o.Paths}
			if diff := cmp.Diff(w, got, cmp.AllowUnexported(wantOut{})); diff != "" {
				t.Errorf("outcome (-want +got):\n%s\n%+v", diff, o)
			}
			if (o.Status == Missing) != (o.Commit == "") {
				t.Errorf("commit %q with status %v", o.Commit, o.Status)
			}
			if (o.Status == Missing || o.Status == Refused) != (o.Detail != "") {
				t.Errorf("detail %q with status %v", o.Detail, o.Status)
			}
		})
	}
	checkOracle(t, s, s.items, p)
}

// TestPredictOrders checks the prediction against real `git merge` for many orders
// and subsets of the PRs.
func TestPredictOrders(t *testing.T) {
	s := newScenario(t)
	w := newOracle(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	orders := [][]Item{slices.Clone(s.items), reversed(s.items)}
	for range 6 {
		o := slices.Clone(s.items)
		rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		orders = append(orders, o[:4+rng.IntN(len(o)-3)])
	}
	orders = append(orders, nil)
	for i, order := range orders {
		t.Run(fmt.Sprintf("order%d", i), func(t *testing.T) {
			p, err := s.m.Predict(t.Context(), s.base, order)
			if err != nil {
				t.Fatal(err)
			}
			w.check(t, order, p)
		})
	}
}

func reversed(items []Item) []Item {
	o := slices.Clone(items)
	slices.Reverse(o)
	return o
}

func checkOracle(t *testing.T, s *scenario, items []Item, p *Prediction) {
	t.Helper()
	newOracle(t, s).check(t, items, p)
}

// oracle runs the deploy script's algorithm with real `git merge` in a work tree
// cloned from the upstream (not from the mirror).
type oracle struct {
	dir  string
	base string
}

func newOracle(t *testing.T, s *scenario) *oracle {
	dir := filepath.Join(t.TempDir(), "work")
	git(t, t.TempDir(), "clone", "-q", "--no-local", s.u.dir, dir)
	git(t, dir, "fetch", "-q", "origin", "+refs/pull/*/head:refs/remotes/origin/pull/*")
	return &oracle{dir: dir, base: s.base}
}

type oracleStep struct {
	class string // clean, empty, conflict, missing, refused
	paths []string
	after string // HEAD after the step
}

// run does what make-integration-branch.sh does: start at the base, `git merge` each
// pin, abort and skip on conflict.
func (o *oracle) run(t *testing.T, start string, items []Item) ([]oracleStep, string) {
	t.Helper()
	git(t, o.dir, "checkout", "-q", "--detach", "-f", start)
	var steps []oracleStep
	for _, it := range items {
		before := git(t, o.dir, "rev-parse", "HEAD")
		if _, err := gitTry(t, o.dir, nil, "cat-file", "-e", it.Pin+"^{commit}"); err != nil {
			steps = append(steps, oracleStep{class: "missing", after: before})
			continue
		}
		_, err := gitTry(t, o.dir, nil, "merge", "-q", "--no-edit", it.Pin)
		st := oracleStep{}
		switch {
		case err == nil:
			st.class = "clean"
			if git(t, o.dir, "rev-parse", "HEAD") == before {
				st.class = "empty"
			}
		case hasMergeHead(t, o.dir):
			st.class = "conflict"
			if u := git(t, o.dir, "diff", "--name-only", "--diff-filter=U"); u != "" {
				st.paths = strings.Split(u, "\n")
			}
			git(t, o.dir, "merge", "--abort")
		default:
			st.class = "refused"
		}
		st.after = git(t, o.dir, "rev-parse", "HEAD")
		steps = append(steps, st)
	}
	return steps, git(t, o.dir, "rev-parse", "HEAD^{tree}")
}

func hasMergeHead(t *testing.T, dir string) bool {
	_, err := gitTry(t, dir, nil, "rev-parse", "-q", "--verify", "MERGE_HEAD")
	return err == nil
}

// conflictsOnto reports whether merging pin onto start conflicts, with real git.
func (o *oracle) conflictsOnto(t *testing.T, start, pin string) bool {
	steps, _ := o.run(t, start, []Item{{Pin: pin}})
	return steps[0].class == "conflict"
}

var classOf = map[Status]string{Clean: "clean", Empty: "empty", ConflictsBase: "conflict", ConflictsPR: "conflict", Missing: "missing", Refused: "refused"}

// check compares a prediction with what git does in the same order, including the
// attribution of every conflict (see the package doc).
func (o *oracle) check(t *testing.T, items []Item, p *Prediction) {
	t.Helper()
	steps, tree := o.run(t, o.base, items)
	if len(p.Items) != len(items) {
		t.Fatalf("%d outcomes for %d items", len(p.Items), len(items))
	}
	if p.Tree != tree {
		t.Errorf("final tree %s, git merge made %s", p.Tree, tree)
	}
	var merged []int // indexes of clean merges so far
	for i, out := range p.Items {
		st := steps[i]
		if classOf[out.Status] != st.class {
			t.Errorf("#%d: predicted %v, git merge: %s", out.Number, out.Status, st.class)
			continue
		}
		if !slices.Equal(sorted(out.Paths), sorted(st.paths)) {
			t.Errorf("#%d: paths %q, git merge: %q", out.Number, out.Paths, st.paths)
		}
		switch out.Status {
		case ConflictsBase:
			if !o.conflictsOnto(t, o.base, items[i].Pin) {
				t.Errorf("#%d: conflicts-base, but merges cleanly onto the base", out.Number)
			}
		case ConflictsPR:
			if o.conflictsOnto(t, o.base, items[i].Pin) {
				t.Errorf("#%d: conflicts-pr, but conflicts with the base alone", out.Number)
			}
			found := false
			for _, j := range merged {
				c := o.conflictsOnto(t, steps[j].after, items[i].Pin)
				if items[j].Number == out.With {
					found = true
					if !c {
						t.Errorf("#%d: attributed to #%d, but merges cleanly after it", out.Number, out.With)
					}
					break
				}
				if c {
					t.Errorf("#%d: attributed to #%d, but already conflicts after #%d", out.Number, out.With, items[j].Number)
				}
			}
			if !found {
				t.Errorf("#%d: attributed to #%d, which is not an earlier merged PR", out.Number, out.With)
			}
		case Clean:
			merged = append(merged, i)
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestPredictBaseMissing(t *testing.T) {
	s := newScenario(t)
	for _, base := range []string{"", "HEAD", strings.Repeat("0", 40), "master"} {
		_, err := s.m.Predict(t.Context(), base, s.items)
		if !errors.Is(err, ErrBaseMissing) {
			t.Errorf("base %q: err = %v, want ErrBaseMissing", base, err)
		}
	}
}

func TestPredictShortAndOddPins(t *testing.T) {
	s := newScenario(t)
	items := []Item{
		{Number: 1, Pin: strings.ToUpper(s.pins[1][:12])}, // short, upper case: resolves
		{Number: 2, Pin: "HEAD"},                          // a revision, not a commit id
		{Number: 3, Pin: ""},
		{Number: 4, Pin: "--all"},
		{Number: 5, Pin: s.pins[5]},
	}
	p, err := s.m.Predict(t.Context(), s.base, items)
	if err != nil {
		t.Fatal(err)
	}
	got := []Status{}
	for _, o := range p.Items {
		got = append(got, o.Status)
	}
	want := []Status{Clean, Missing, Missing, Missing, Clean}
	if !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if p.Items[0].Commit != s.pins[1] {
		t.Errorf("short pin resolved to %q, want %q", p.Items[0].Commit, s.pins[1])
	}
}

// TestPredictIncremental: a second prediction that shares a prefix reuses it (no git
// runs for the prefix), and gives the same answer as a cold mirror.
func TestPredictIncremental(t *testing.T) {
	s := newScenario(t)
	first := s.items[:8]
	if _, err := s.m.Predict(t.Context(), s.base, first); err != nil {
		t.Fatal(err)
	}
	changed := slices.Clone(s.items)
	changed[10], changed[11] = changed[11], changed[10]
	if _, err := s.m.Predict(t.Context(), s.base, s.items); err != nil {
		t.Fatal(err)
	}
	// Only the last two steps are new: one lookup, then a merge-tree and a
	// commit-tree for each, and the ancestry check of #11 (a merge that changes
	// nothing).
	before := s.m.git.runs.Load()
	warm, err := s.m.Predict(t.Context(), s.base, changed)
	if err != nil {
		t.Fatal(err)
	}
	if runs := s.m.git.runs.Load() - before; runs > 6 {
		t.Errorf("%d git commands for a changed suffix of two", runs)
	}
	before = s.m.git.runs.Load()
	if _, err := s.m.Predict(t.Context(), s.base, changed); err != nil {
		t.Fatal(err)
	}
	if runs := s.m.git.runs.Load() - before; runs != 1 {
		t.Errorf("%d git commands for the same inputs, want the one lookup", runs)
	}
	cold := cloneMirror(t, s.u, Options{})
	if _, err := cold.Fetch(t.Context(), numbers(s.items)); err != nil {
		t.Fatal(err)
	}
	want, err := cold.Predict(t.Context(), s.base, changed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, warm); diff != "" {
		t.Errorf("incremental differs from cold (-cold +incremental):\n%s", diff)
	}
	checkOracle(t, s, changed, warm)
}
