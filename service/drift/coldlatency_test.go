package drift

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakegithub"
)

// TestColdResolveLatency reports (t.Logf; timings are never asserted) the wall time of a
// cold Resolve as docs/BENCHMARKS.md measures a cold GetStatus, minus the service and
// HTTP front around it: the real GitHub client against the wire fake made to wait
// 100 ms before every answer (the fake honours the request's context), a fresh client
// (no ETags, no connections, no remembered page count), resolver and in-process cache
// for every measurement. The set is the tracked PRs, each pinned behind its head, among
// 100 unrelated open PRs; with merged+closed, two of the tracked PRs are one merged and
// one closed unmerged PR (absent from the listing).
//
// go test -run TestColdResolveLatency -v ./service/drift/
func TestColdResolveLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("a timing report: a few seconds of 100 ms round trips")
	}
	const (
		latency   = 100 * time.Millisecond
		reps      = 3
		unrelated = 100
	)
	for _, tc := range []struct {
		targets      int
		mergedClosed bool
	}{{50, true}, {200, true}, {50, false}, {200, false}} {
		open := tc.targets
		if tc.mergedClosed {
			open -= 2
		}
		fake := fakegithub.New(t)
		var targets []Target
		for n := 1; n <= open; n++ {
			fake.SetPull(fakegithub.PullSpec{Number: n, Title: fmt.Sprint("PR ", n), Head: wireSHA(fmt.Sprint("head", n))})
			fake.SetCompare(wireSHA(fmt.Sprint("pin", n)), wireSHA(fmt.Sprint("head", n)), "ahead", n%7+1, 0)
			targets = append(targets, Target{n, wireSHA(fmt.Sprint("pin", n))})
		}
		for n := 5001; n <= 5000+unrelated; n++ {
			fake.SetPull(fakegithub.PullSpec{Number: n, Title: fmt.Sprint("unrelated ", n)})
		}
		if tc.mergedClosed {
			fake.SetPull(fakegithub.PullSpec{Number: 9001, Merged: true, Head: wireSHA("head9001")})
			fake.SetPull(fakegithub.PullSpec{Number: 9002, State: "closed", Head: wireSHA("head9002")})
			for _, n := range []int{9001, 9002} {
				fake.SetCompare(wireSHA(fmt.Sprint("pin", n)), wireSHA(fmt.Sprint("head", n)), "ahead", 3, 0)
				targets = append(targets, Target{n, wireSHA(fmt.Sprint("pin", n))})
			}
		}
		fake.SetLatency(latency)
		listed := open + unrelated

		var took []time.Duration
		var requests string
		for range reps {
			fake.ResetRecords()
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = defaultConcurrency // as cmd/testingd/wire.go
			client, err := github.New(github.Options{BaseURL: fake.URL, Repo: fake.Repo(), HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			r := New(client, memcache.NewMemory(0), Options{Repo: fake.Repo(), Logger: slog.New(slog.DiscardHandler)})
			start := time.Now()
			res := r.Resolve(t.Context(), targets)
			took = append(took, time.Since(start))
			r.flights.Wait()
			tr.CloseIdleConnections()
			if res.Stale || len(res.PRs) != tc.targets {
				t.Errorf("%d targets: stale=%v err=%v, %d PRs", tc.targets, res.Stale, res.Err, len(res.PRs))
			}
			requests = fmt.Sprintf("list %d, pull %d, compare %d",
				fake.Count(fakegithub.KindList), fake.Count(fakegithub.KindPull), fake.Count(fakegithub.KindCompare))
		}
		slices.Sort(took)
		kind := "all open"
		if tc.mergedClosed {
			kind = "incl. 1 merged + 1 closed"
		}
		t.Logf("cold Resolve of %d targets (%s), %d open PRs listed (%d pages), %v per request: median %v (min %v, max %v) of %d; requests: %s",
			tc.targets, kind, listed, (listed+99)/100, latency, took[len(took)/2].Round(time.Millisecond),
			took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), reps, requests)
	}
}
