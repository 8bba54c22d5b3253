package drift

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakeclock"
	"github.com/internetarchive/testingd/internal/fakegithub"
)

// The real parts satisfy the interfaces this package declares.
var (
	_ GitHub = (*github.Client)(nil)
	_ Cache  = (*memcache.Memory)(nil)
	_ Cache  = (*memcache.Memcached)(nil)
)

func wireSHA(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestThroughTheRealClient resolves a set through the real GitHub client against the
// wire fake (GitHub's JSON, pagination, ETags, rate-limit headers) and the in-process
// cache: cold, warm, revalidated by 304s, then rate-limited.
func TestThroughTheRealClient(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t)
	// 130 open PRs: the listing is two pages.
	for n := 1; n <= 130; n++ {
		assignee := ""
		if n%2 == 0 {
			assignee = "maintainer"
		}
		fake.SetPull(fakegithub.PullSpec{Number: n, Title: fmt.Sprintf("PR %d", n), Head: wireSHA(fmt.Sprint("head", n)), Assignee: assignee})
		fake.SetCompare(wireSHA(fmt.Sprint("pin", n)), wireSHA(fmt.Sprint("head", n)), "ahead", n%5+1, 0)
	}
	fake.SetPull(fakegithub.PullSpec{Number: 200, Merged: true, Head: wireSHA("head200")})
	fake.SetPull(fakegithub.PullSpec{Number: 201, State: "closed", Head: wireSHA("head201"), Mergeable: ptr(false)})
	// GitHub could compare them, but merged and closed PRs are not compared.
	fake.SetCompare(wireSHA("pin200"), wireSHA("head200"), "ahead", 1, 0)
	fake.SetCompare(wireSHA("pin201"), wireSHA("head201"), "diverged", 2, 3)

	client, err := github.New(github.Options{BaseURL: fake.URL, Repo: fake.Repo(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var targets []Target
	for _, n := range []int{1, 2, 3, 50, 99, 120, 130, 200, 201} {
		targets = append(targets, Target{n, wireSHA(fmt.Sprint("pin", n))})
	}
	targets = append(targets, Target{131, wireSHA("pin131")}) // no such PR

	// Real time: the fake's rate-limit reset is a wall-clock time.
	clk := fakeclock.New(time.Now())
	updates := make(chan struct{}, 10)
	r := New(client, memcache.NewMemory(0), Options{
		Repo: fake.Repo(), TTL: time.Minute, Logger: slog.New(slog.DiscardHandler), Now: clk.Now,
		OnUpdate: func() {
			select {
			case updates <- struct{}{}:
			default:
			}
		},
	})
	t.Cleanup(r.flights.Wait)
	waitUpdate := func() {
		t.Helper()
		select {
		case <-updates:
		case <-time.After(10 * time.Second):
			t.Fatal("no OnUpdate")
		}
	}
	requests := func() map[string]int {
		return map[string]int{
			"list": fake.Count(fakegithub.KindList), "pull": fake.Count(fakegithub.KindPull),
			"compare": fake.Count(fakegithub.KindCompare), "304": fake.NotModified(),
		}
	}
	want := func(w map[string]int) {
		t.Helper()
		if got := requests(); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("requests = %v, want %v", got, w)
		}
	}

	// Cold: two listing pages (asked at once), GetPull only for the PRs not open, one
	// compare for each open one.
	res := r.Resolve(t.Context(), targets)
	want(map[string]int{"list": 2, "pull": 3, "compare": 7, "304": 0})
	if res.Stale || res.Err != nil {
		t.Fatalf("cold: stale=%v err=%v", res.Stale, res.Err)
	}
	if f := res.PRs[99]; !f.Known || f.Title != "PR 99" || f.HeadSHA != wireSHA("head99") || f.Drift != 5 || f.Assignee != "" || f.Author != "author" {
		t.Errorf("PR 99: %+v", f)
	}
	if f := res.PRs[120]; f.Assignee != "maintainer" || f.Drift != 1 {
		t.Errorf("PR 120: %+v", f)
	}
	if f := res.PRs[200]; !f.Merged || f.Closed || f.Drift != -1 || f.Stale {
		t.Errorf("PR 200: %+v", f)
	}
	if f := res.PRs[201]; f.Merged || !f.Closed || f.Diverged || f.Drift != -1 || f.Stale || f.Mergeable == nil || *f.Mergeable {
		t.Errorf("PR 201: %+v", f)
	}
	if f := res.PRs[131]; f.Known || f.Drift != -1 || f.Err == nil {
		t.Errorf("PR 131: %+v", f)
	}

	// Warm: nothing on the wire.
	r.Resolve(t.Context(), targets)
	want(map[string]int{"list": 2, "pull": 3, "compare": 7, "304": 0})

	// After the TTL: stale at once, revalidated in the background by two 304s (free of
	// quota); merged and closed PRs still absent from the listing need no GetPull, no
	// compare is asked again; only the 404'd PR is asked again.
	clk.Advance(61 * time.Second)
	if !r.Resolve(t.Context(), targets).Stale {
		t.Error("not stale after the TTL")
	}
	waitUpdate()
	want(map[string]int{"list": 4, "pull": 4, "compare": 7, "304": 2})
	if res := r.Resolve(t.Context(), targets); res.Stale {
		t.Errorf("after revalidation: stale, err %v", res.Err)
	}

	// Rate-limited: stale facts with the reset time, and GitHub left alone until then.
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	fake.RateLimit(reset)
	clk.Advance(61 * time.Second)
	r.Resolve(t.Context(), targets)
	waitUpdate()
	before := r.Stats()
	for range 3 {
		res := r.Resolve(t.Context(), targets)
		rl, ok := errors.AsType[*github.RateLimitError](res.Err)
		if !res.Stale || !ok || !rl.Reset.Equal(reset) || res.PRs[99].Drift != 5 {
			t.Errorf("rate-limited: stale=%v err=%v PR 99 %+v", res.Stale, res.Err, res.PRs[99])
		}
	}
	if after := r.Stats(); after.ListCalls != before.ListCalls || after.PullCalls != before.PullCalls {
		t.Errorf("asked GitHub while rate-limited: %+v → %+v", before, after)
	}
}
