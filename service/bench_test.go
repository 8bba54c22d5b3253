package service_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/internal/fakegithub"
)

// reportPercentiles adds p50 and p99 of the measured durations, in milliseconds.
func reportPercentiles(b *testing.B, d []time.Duration) {
	b.Helper()
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkWrite measures one write RPC end to end (Connect over HTTP): the state file
// re-read under its flock, written to a temp file, fsynced and renamed, the audit
// event appended and fsynced, and the new status built for the answer.
func BenchmarkWrite(b *testing.B) {
	e := newEnv(b, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(b.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		b.Fatal(err) // warm the drift first: writes should not wait for GitHub
	}
	b.Run("StagePRs", func(b *testing.B) {
		stages := []testingv1.Stage{testingv1.Stage_STAGE_DISABLE, testingv1.Stage_STAGE_ENABLE}
		var d []time.Duration
		for i := 0; b.Loop(); i++ {
			start := time.Now()
			_, err := e.connect.StagePRs(b.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13269}, Stage: stages[i%2]}))
			d = append(d, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
		}
		reportPercentiles(b, d)
	})
	b.Run("RemovePRs", func(b *testing.B) {
		var d []time.Duration
		for b.Loop() {
			start := time.Now()
			_, err := e.connect.RemovePRs(b.Context(), connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: []int32{13269}}))
			d = append(d, time.Since(start))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if _, err := e.connect.RestorePRs(b.Context(), connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: []int32{13269}})); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportPercentiles(b, d)
	})
}

// BenchmarkAddPRs20 adds 20 PRs against a GitHub that takes 100 ms per request: the
// lookups go out concurrently, so an add costs about one round trip, not twenty.
func BenchmarkAddPRs20(b *testing.B) {
	e := newEnv(b, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	var refs []string
	for n := 20000; n < 20020; n++ {
		e.gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR " + strconv.Itoa(n), Head: head3})
		refs = append(refs, strconv.Itoa(n))
	}
	if _, err := e.connect.GetStatus(b.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		b.Fatal(err)
	}
	e.gh.SetLatency(100 * time.Millisecond)
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := e.connect.AddPRs(b.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: refs}))
		d = append(d, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res.Msg.Results {
			if r.Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED {
				b.Fatalf("%s: %v %s", r.Ref, r.Outcome, r.Message)
			}
		}
		b.StopTimer()
		nums := make([]int32, 20)
		for i := range nums {
			nums[i] = int32(20000 + i)
		}
		if _, err := e.connect.RemovePRs(b.Context(), connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: nums})); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	reportPercentiles(b, d)
}
