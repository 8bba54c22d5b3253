package main

import (
	"fmt"
	"strings"
	"testing"
)

const predictBenchOutput = `BenchmarkPredict20/cold-2   	       5	 196350269 ns/op	        41.00 git-runs/op
--- BENCH: BenchmarkPredict20/cold-2
    bench_test.go:210: 20 PRs: 12 clean, 5 conflict with the base, 3 with an earlier PR, 0 empty
BenchmarkPredict20/incremental-last-2         	       5	  21314874 ns/op	         3.000 git-runs/op
BenchmarkPredict20/incremental-last5-2        	       5	  48270204 ns/op	        11.00 git-runs/op
BenchmarkPredict20/same-inputs-2              	       5	   2920527 ns/op	         1.000 git-runs/op
BenchmarkPairwise20-2                         	       5	 128479904 ns/op
BenchmarkDeployScript20-2                     	       5	1011816809 ns/op	         8.000 skipped
`

// The prediction's figures are read from go test -bench's lines (a sub-benchmark's
// name, the -GOMAXPROCS suffix, custom metrics) into its goal row and section.
func TestPredictionSection(t *testing.T) {
	r := &report{gobench: predictBenchOutput}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	r.predictionGoalRow(p)
	r.predictionSection(p)
	out := b.String()
	for _, want := range []string{
		"cold 196.4 ms (the deploy script's merges: 1011.8 ms), last pin changed 21.3 ms | ✅",
		"| **cold** (nothing memoized) | **196.4 ms** | 41 |",
		"| incremental: the last PR's pin changed | 21.3 ms | 3 |",
		"| incremental: the last five pins changed | 48.3 ms | 11 |",
		"| the same inputs again | 2.9 ms | 1 |",
		"| the pairwise matrix (190 pairs), cold | 128.5 ms | |",
		"| *baseline: the deploy script's merges in a work tree* (8 skipped) | 1011.8 ms | |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Not run: the row says so and there is no section.
	b.Reset()
	r = &report{gobench: "BenchmarkOther-2 1 5 ns/op\n"}
	r.predictionGoalRow(p)
	r.predictionSection(p)
	if out := b.String(); !strings.Contains(out, "not measured in this run") || strings.Contains(out, "## Predicting") {
		t.Errorf("without the benchmarks:\n%s", out)
	}
}
