package gitmirror

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// A repository of realistic size for the benchmarks: 3,000 files in 30 directories,
// 2,000 commits on master (three one-line edits each), and 20 PRs of two commits
// forked from the last 300 commits. Every fifth PR edits a line that master changes
// after its fork (conflicts with the base); every fourth edits a line the PR before
// it edits (conflicts with it); PR 20 is pinned at its first commit.
const (
	benchFiles   = 3000
	benchLines   = 20
	benchCommits = 2000
	benchPRs     = 20
)

type benchRepo struct {
	upstream string // bare
	base     string
	items    []Item
	older    map[int]string // each PR's first commit
}

var (
	benchOnce sync.Once
	benchVal  *benchRepo
)

func benchPath(f int) string { return fmt.Sprintf("pkg%02d/mod%04d.py", f%30, f) }

type edit struct{ file, line int }

// genBenchRepo writes the repository with one `git fast-import`.
func genBenchRepo(tb testing.TB, root string) *benchRepo {
	rng := rand.New(rand.NewPCG(7, 11))
	changes := make([][]edit, benchCommits)
	for i := 1; i < benchCommits; i++ {
		for range 3 {
			changes[i] = append(changes[i], edit{rng.IntN(benchFiles), rng.IntN(benchLines)})
		}
	}
	type pr struct {
		fork  int
		edits [2][]edit
	}
	prs := make([]pr, benchPRs+1)
	for k := 1; k <= benchPRs; k++ {
		p := pr{fork: benchCommits - 1 - rng.IntN(300)}
		for c := range 2 {
			for range 2 {
				p.edits[c] = append(p.edits[c], edit{rng.IntN(benchFiles), rng.IntN(benchLines)})
			}
		}
		if k%5 == 0 && p.fork < benchCommits-1 {
			// A line master changes after the fork.
			p.edits[0][0] = changes[p.fork+1+rng.IntN(benchCommits-1-p.fork)][0]
		}
		if k%4 == 0 {
			p.edits[1][0] = prs[k-1].edits[0][1]
		}
		prs[k] = p
	}
	forksAt := map[int][]int{}
	for k := 1; k <= benchPRs; k++ {
		forksAt[prs[k].fork] = append(forksAt[prs[k].fork], k)
	}

	content := make([][]string, benchFiles)
	for f := range content {
		content[f] = make([]string, benchLines)
		for l := range content[f] {
			content[f][l] = fmt.Sprintf("def f%d_%d(): return %d", f, l, l)
		}
	}
	var s bytes.Buffer
	file := func(path string, lines []string) {
		data := strings.Join(lines, "\n") + "\n"
		fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", path, len(data), data)
	}
	commit := func(ref string, mark, from int, when int, msg string) {
		fmt.Fprintf(&s, "commit %s\nmark :%d\nauthor Dev <dev@example.org> %d +0000\ncommitter Dev <dev@example.org> %d +0000\ndata %d\n%s\n",
			ref, mark, 1_600_000_000+when*600, 1_600_000_000+when*600, len(msg), msg)
		if from > 0 {
			fmt.Fprintf(&s, "from :%d\n", from)
		}
	}
	// Snapshots of the files each PR touches, taken at its fork.
	snap := make([]map[int][]string, benchPRs+1)
	takeSnaps := func(i int) {
		for _, k := range forksAt[i] {
			snap[k] = map[int][]string{}
			for _, es := range prs[k].edits {
				for _, e := range es {
					snap[k][e.file] = slices.Clone(content[e.file])
				}
			}
		}
	}
	commit("refs/heads/master", 1, 0, 0, "initial")
	for f := range content {
		file(benchPath(f), content[f])
	}
	takeSnaps(0)
	for i := 1; i < benchCommits; i++ {
		commit("refs/heads/master", i+1, i, i, fmt.Sprintf("master %d", i))
		for _, e := range changes[i] {
			content[e.file][e.line] = fmt.Sprintf("# master %d", i)
			file(benchPath(e.file), content[e.file])
		}
		takeSnaps(i)
	}
	mark := benchCommits + 1
	for k := 1; k <= benchPRs; k++ {
		from := prs[k].fork + 1
		for c, es := range prs[k].edits {
			mark++
			commit(fmt.Sprintf("refs/pull/%d/head", k), mark, from, benchCommits+k, fmt.Sprintf("pr %d commit %d", k, c))
			for _, e := range es {
				snap[k][e.file][e.line] = fmt.Sprintf("# pr %d commit %d", k, c)
				file(benchPath(e.file), snap[k][e.file])
			}
			from = mark
		}
	}

	up := filepath.Join(root, "upstream.git")
	git(tb, root, "init", "-q", "--bare", "-b", "master", up)
	cmd := exec.Command("git", "-C", up, "fast-import", "--quiet")
	cmd.Env = gitEnv(tb)
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("fast-import: %v: %s", err, out)
	}
	r := &benchRepo{upstream: up, base: git(tb, up, "rev-parse", "master"), older: map[int]string{}}
	for k := 1; k <= benchPRs; k++ {
		head := git(tb, up, "rev-parse", fmt.Sprintf("refs/pull/%d/head", k))
		r.older[k] = git(tb, up, "rev-parse", head+"~1")
		pin := head
		if k == benchPRs {
			pin = r.older[k]
		}
		r.items = append(r.items, Item{Number: k, Pin: pin})
	}
	return r
}

func benchMirror(b *testing.B) (*Mirror, *benchRepo) {
	b.Helper()
	benchOnce.Do(func() { benchVal = genBenchRepo(b, sharedDir) })
	if benchVal == nil {
		b.Fatal("no bench repository")
	}
	dir := filepath.Join(b.TempDir(), "mirror.git")
	git(b, b.TempDir(), "clone", "-q", "--bare", "--no-local", benchVal.upstream, dir)
	m, err := Open(b.Context(), dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Fetch(b.Context(), numbers(benchVal.items)); err != nil {
		b.Fatal(err)
	}
	return m, benchVal
}

// BenchmarkPredict20 is the time to predict a deploy of 20 PRs on a repository of
// 3,000 files and 2,000 commits: cold (nothing memoized), incremental (the last PR's
// pin changed, the rest memoized), the last five PRs changed, and the same inputs
// again (everything memoized).
func BenchmarkPredict20(b *testing.B) {
	m, r := benchMirror(b)
	changedLast := slices.Clone(r.items)
	changedLast[benchPRs-1].Pin = git(b, r.upstream, "rev-parse", fmt.Sprintf("refs/pull/%d/head", benchPRs))
	changed5 := slices.Clone(r.items)
	for i := benchPRs - 5; i < benchPRs; i++ {
		changed5[i].Pin = r.older[i+1]
	}
	if changed5[benchPRs-1].Pin == r.items[benchPRs-1].Pin {
		changed5[benchPRs-1].Pin = changedLast[benchPRs-1].Pin
	}
	reportOnce := sync.Once{}
	predict := func(b *testing.B, items []Item) *Prediction {
		before := m.git.runs.Load()
		p, err := m.Predict(b.Context(), r.base, items)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.git.runs.Load()-before), "git-runs/op")
		return p
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			m.memo = newMemo(defaultMemoEntries, defaultMemoTTL)
			p := predict(b, r.items)
			reportOnce.Do(func() {
				counts := map[Status]int{}
				for _, o := range p.Items {
					counts[o.Status]++
				}
				b.Logf("20 PRs: %d clean, %d conflict with the base, %d with an earlier PR, %d empty",
					counts[Clean], counts[ConflictsBase], counts[ConflictsPR], counts[Empty])
			})
		}
	})
	incremental := func(changed []Item) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				m.memo = newMemo(defaultMemoEntries, defaultMemoTTL)
				predict(b, r.items)
				b.StartTimer()
				predict(b, changed)
			}
		}
	}
	b.Run("incremental-last", incremental(changedLast))
	b.Run("incremental-last5", incremental(changed5))
	b.Run("same-inputs", func(b *testing.B) {
		predict(b, r.items)
		for b.Loop() {
			predict(b, r.items)
		}
	})
}

// BenchmarkPairwise20 is the time of the full matrix of 20 PRs (190 pairs), cold.
func BenchmarkPairwise20(b *testing.B) {
	m, r := benchMirror(b)
	for b.Loop() {
		m.memo = newMemo(defaultMemoEntries, defaultMemoTTL)
		if _, err := m.Pairwise(b.Context(), r.base, r.items); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchRepo checks that the generated repository holds what the benchmark
// claims (conflicts of both kinds), against real git merge; skipped with -short.
func TestBenchRepo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the large repository")
	}
	if os.Getenv("GITMIRROR_BENCH_REPO") == "" {
		t.Skip("set GITMIRROR_BENCH_REPO=1 to check the benchmark repository (slow)")
	}
	r := genBenchRepo(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "mirror.git")
	git(t, t.TempDir(), "clone", "-q", "--bare", "--no-local", r.upstream, dir)
	m, err := Open(t.Context(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fetch(t.Context(), numbers(r.items)); err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(t.Context(), r.base, r.items)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Status]int{}
	for _, o := range p.Items {
		counts[o.Status]++
	}
	if counts[ConflictsBase] == 0 || counts[ConflictsPR] == 0 || counts[Clean] < 10 {
		t.Errorf("outcomes %v", counts)
	}
	(&oracle{dir: cloneWork(t, r.upstream), base: r.base}).check(t, r.items, p)
}

func cloneWork(t *testing.T, up string) string {
	dir := filepath.Join(t.TempDir(), "work")
	git(t, t.TempDir(), "clone", "-q", "--no-local", up, dir)
	git(t, dir, "fetch", "-q", "origin", "+refs/pull/*/head:refs/remotes/origin/pull/*")
	return dir
}

// BenchmarkDeployScript20 is the baseline: what the deploy script does with the same
// 20 PRs, for real, in a work tree of the same repository: from master, `git merge
// --no-edit` each pin in order, `git merge --abort` on a conflict. It is what a
// maintainer waits for today (before Jenkins rebuilds anything) to learn which PRs
// conflict; the prediction gives the same answer without a work tree.
func BenchmarkDeployScript20(b *testing.B) {
	_, r := benchMirror(b)
	work := filepath.Join(b.TempDir(), "work")
	git(b, filepath.Dir(work), "clone", "-q", "--no-local", r.upstream, work)
	git(b, work, "fetch", "-q", "origin", "+refs/pull/*:refs/pull/*")
	skipped := 0
	for b.Loop() {
		git(b, work, "checkout", "-q", "-f", "-B", "dev-merged", r.base)
		skipped = 0
		for _, it := range r.items {
			if _, err := gitTry(b, work, nil, "-c", "user.name=T", "-c", "user.email=t@example.org", "merge", "-q", "--no-edit", it.Pin); err != nil {
				git(b, work, "merge", "--abort")
				skipped++
			}
		}
	}
	b.ReportMetric(float64(skipped), "skipped")
}
