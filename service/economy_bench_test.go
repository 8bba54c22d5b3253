package service_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
)

// The two measurements of issue 5: what a simulated hour of an ordinary working day
// costs in GitHub rate limit (BenchmarkGitHubEconomy), and how soon a push reaches an
// open panel (BenchmarkWebhookToWatcher). cmd/benchreport turns their metrics into
// sections of docs/BENCHMARKS.md; scripts/bench.sh runs them on their own lines
// (-benchtime 1x and 200x).

// Time compression of BenchmarkGitHubEconomy: one simulated hour lasts
// time.Hour/econScale of real time. Every interval of the service that decides when
// GitHub is asked is divided by it. GitHub's latency, the watch hub's poll tick and
// the status memo are not (they are what they are in production): none of them
// schedules GitHub requests; a status computation asks only for facts past their
// freshness.
const (
	econScale     = 60
	econLatency   = 100 * time.Millisecond // fake GitHub, per request, not scaled
	econSetPRs    = 30
	econOtherPRs  = 20 // open PRs of the busy repository that nobody tracks
	econPanels    = 5
	econSeed      = 5 // the event script's seed (issue 5)
	econQuota     = 5000
	econSetBase   = 14000
	econOtherBase = 14500
)

// The production settings the service is built with, before compression.
const (
	econDriftTTL       = 60 * time.Second // --drift-ttl
	econReconcile      = 5 * time.Minute  // --github-reconcile-interval
	econMergeableRetry = 3 * time.Second  // drift's default MergeableRetry
	// econMergeableLag is how long GitHub takes to compute a pushed PR's mergeability
	// (its webhook says "unknown"); the resolver asks again after econMergeableRetry.
	econMergeableLag = time.Second
)

func econReal(d time.Duration) time.Duration { return d / econScale }

func econSHA(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func boolPtr(v bool) *bool { return &v }

// econEvent is one thing that happens on GitHub during the simulated hour.
type econEvent struct {
	at     time.Duration // simulated time from the start of the hour
	kind   string        // "push", "other-push", "retitle", "assign", "merge", "mergeable"
	number int
	seq    int // the event's index, for unique heads and titles
}

// econScript is the hour, deterministic from econSeed.
type econScript struct {
	pins   map[int]string
	ahead  map[int]int // the pin's drift behind the initial head
	events []econEvent
	merged int // the PR merged during the hour
}

func newEconScript() *econScript {
	rng := rand.New(rand.NewPCG(econSeed, 0x1551e5))
	s := &econScript{pins: make(map[int]string), ahead: make(map[int]int)}
	for i := range econSetPRs {
		n := econSetBase + 1 + i
		s.pins[n] = econSHA("pin-" + strconv.Itoa(n))
		s.ahead[n] = 1 + rng.IntN(5)
	}
	minutes := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(time.Minute))
	}
	setPR := func() int { return econSetBase + 1 + rng.IntN(econSetPRs) }
	mergeAt := minutes(30, 50)
	s.merged = setPR()
	// A set PR that exists and is open at t.
	openPR := func(t time.Duration) int {
		for {
			if n := setPR(); n != s.merged || t < mergeAt {
				return n
			}
		}
	}
	add := func(at time.Duration, kind string, n int) {
		s.events = append(s.events, econEvent{at: at, kind: kind, number: n})
	}
	// A push to a PR of the set every 3 to 6 minutes; GitHub has its mergeability a
	// moment later.
	for t := minutes(3, 6); t < time.Hour; t += minutes(3, 6) {
		n := openPR(t)
		add(t, "push", n)
		add(t+econMergeableLag, "mergeable", n)
	}
	// The rest of the repository is busy too: a push to one of the other open PRs
	// every 1.5 to 4 minutes.
	for t := minutes(1.5, 4); t < time.Hour; t += minutes(1.5, 4) {
		add(t, "other-push", econOtherBase+1+rng.IntN(econOtherPRs))
	}
	for range 2 {
		t := minutes(5, 55)
		add(t, "retitle", openPR(t))
	}
	for range 2 {
		t := minutes(5, 55)
		add(t, "assign", openPR(t))
	}
	add(mergeAt, "merge", s.merged)
	slices.SortStableFunc(s.events, func(a, b econEvent) int { return int(a.at - b.at) })
	for i := range s.events {
		s.events[i].seq = i
	}
	return s
}

// count says how many events of kind the script holds.
func (s *econScript) count(kind string) int {
	n := 0
	for _, e := range s.events {
		if e.kind == kind {
			n++
		}
	}
	return n
}

// legacy is what legacy's drift cache would have cost on the same hour: one key for
// the whole set with a 60 s TTL, and a panel open the whole hour that reloads its data
// at least every 60 s, so one miss every minute (and one per add, deploy or refresh,
// of which the script has none). Each miss asks GetPull for every PR of the set (1
// request) and, when its head is not its pin, compare (1 more).
func (s *econScript) legacy() (requests, misses int) {
	heads := make(map[int]string)
	for n := range s.pins {
		heads[n] = econSHA(fmt.Sprintf("head-%d-init", n))
	}
	next := 0
	for minute := range 60 {
		at := time.Duration(minute) * time.Minute
		for ; next < len(s.events) && s.events[next].at <= at; next++ {
			if e := s.events[next]; e.kind == "push" {
				heads[e.number] = econHead(e)
			}
		}
		misses++
		for n, pin := range s.pins {
			requests++ // GET pulls/n
			if heads[n] != pin {
				requests++ // GET compare/pin...head
			}
		}
	}
	return requests, misses
}

func econHead(e econEvent) string { return econSHA(fmt.Sprintf("head-%d-%d", e.number, e.seq)) }

// econWorld is the fake GitHub's view of every PR, as the script changes it.
type econWorld struct {
	gh    *fakegithub.Server
	specs map[int]fakegithub.PullSpec
	ahead map[int]int
	pins  map[int]string
}

func (w *econWorld) apply(e econEvent) {
	p := w.specs[e.number]
	switch e.kind {
	case "push", "other-push":
		p.Head = econHead(e)
		p.Mergeable = nil // GitHub computes it again: the webhook says "unknown"
		if pin, ok := w.pins[e.number]; ok {
			w.ahead[e.number] += 1 + e.seq%3
			w.gh.SetCompare(pin, p.Head, "ahead", w.ahead[e.number], 0)
		}
	case "mergeable":
		if p.Mergeable != nil || p.Merged {
			return
		}
		p.Mergeable = boolPtr(true)
	case "retitle":
		p.Title += " (v" + strconv.Itoa(e.seq) + ")"
	case "assign":
		p.Assignee = "maintainer" + strconv.Itoa(e.seq%4)
	case "merge":
		p.Merged = true
	}
	w.specs[e.number] = p
	w.gh.SetPull(p)
}

// newEconEnv is the real service as cmd/testingd/wire.go builds it (real resolver
// with mergeability questions, real GitHub client, real memcached, webhook receiver,
// reconcile loop), over real HTTP, with the production intervals compressed
// econScale times, against a fake GitHub holding the script's PRs. Like newEnv, but
// with the resolver's intervals set from the compressed production values.
func newEconEnv(b *testing.B, s *econScript) (*env, *econWorld) {
	b.Helper()
	specs := make(map[int]fakegithub.PullSpec)
	st := persistence.NewState()
	st.LastDeployAt = "2026-08-05T18:00:00+00:00"
	for i := range econSetPRs {
		n := econSetBase + 1 + i
		p := fakegithub.PullSpec{
			Number: n, Title: fmt.Sprintf("PR %d: a title of ordinary length for a pull request", n),
			Head: econSHA(fmt.Sprintf("head-%d-init", n)), Author: fmt.Sprintf("contributor%d", i%11), Mergeable: boolPtr(true),
		}
		if i%3 == 0 {
			p.Assignee = "maintainer" + strconv.Itoa(i%4)
		}
		specs[n] = p
		pr := persistence.NewPR(n, s.pins[n])
		pr.Title, pr.Author, pr.Assignee = p.Title, p.Author, p.Assignee
		pr.AddedAt, pr.AddedBy = "2026-08-01T10:00:00+00:00", "openlibrary"
		st.PRs = append(st.PRs, pr)
		st.Deployed = append(st.Deployed, persistence.DeployedEntry{Key: strconv.Itoa(n), Title: p.Title})
	}
	for i := range econOtherPRs {
		n := econOtherBase + 1 + i
		specs[n] = fakegithub.PullSpec{Number: n, Title: fmt.Sprintf("Someone else's PR %d", n), Head: econSHA(fmt.Sprintf("head-%d-init", n)), Author: "someone", Mergeable: boolPtr(true)}
	}
	// The production intervals, compressed. Nothing asks GitHub before the first
	// request and the first reconcile tick, so the fake is seeded just after.
	e := newEnv(b, envOptions{
		stateBytes:    st.Marshal(),
		ttl:           econReal(econDriftTTL),
		webhookSecret: hookSecret,
		reconcile:     econReal(econReconcile),
		mergeability:  true,
		mergeRetry:    econReal(econMergeableRetry),
	})
	w := &econWorld{gh: e.gh, specs: specs, ahead: make(map[int]int), pins: s.pins}
	for n, p := range specs {
		e.gh.SetPull(p)
		if pin, ok := s.pins[n]; ok {
			w.ahead[n] = s.ahead[n]
			e.gh.SetCompare(pin, p.Head, "ahead", s.ahead[n], 0)
		}
	}
	e.gh.SetQuota(econQuota)
	e.gh.SetLatency(econLatency)
	return e, w
}

// quiet waits until the fake GitHub has received no request for d (at most waitFor
// and a bit more: a guard, not a timing check).
func econQuiet(b *testing.B, gh *fakegithub.Server, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(4 * waitFor)
	last, since := len(gh.Requests()), time.Now()
	for time.Since(since) < d {
		if time.Now().After(deadline) {
			b.Fatalf("GitHub still asked after %v", 4*waitFor)
		}
		time.Sleep(10 * time.Millisecond)
		if n := len(gh.Requests()); n != last {
			last, since = n, time.Now()
		}
	}
}

// econCount is what the fake GitHub answered, by kind.
type econCount struct {
	charged, notModified map[string]int
}

func countRequests(reqs []fakegithub.Request) econCount {
	c := econCount{charged: make(map[string]int), notModified: make(map[string]int)}
	for _, r := range reqs {
		if r.Status == http.StatusNotModified {
			c.notModified[r.Kind]++
		} else {
			c.charged[r.Kind]++ // every answer but a 304 uses quota (the fake's own rule)
		}
	}
	return c
}

func (c econCount) total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkGitHubEconomy replays one simulated hour of an ordinary day against the
// real service and counts the GitHub requests that cost rate limit, next to what
// legacy's drift cache would have cost on the same hour (computed, not run).
//
// The hour: 30 PRs in the set, each pinned a few commits behind its head, among 20
// other open PRs of a busy repository; 5 panels open the whole hour (one GetStatus
// each at the start, then one WatchStatus stream each, which is all the UI does); a
// push to a random PR of the set every 3 to 6 minutes, a push to one of the other PRs
// every 1.5 to 4 minutes, two retitles, two assignments and one merge. Each change is
// delivered as GitHub's signed webhook. The hour starts on a server that has resolved
// the set once (its cold start is reported apart, as cold-start-req).
//
// One b.N iteration is the whole hour (a minute of real time), so it runs once
// whatever -benchtime says; scripts/bench.sh gives it -benchtime 1x.
func BenchmarkGitHubEconomy(b *testing.B) {
	if testing.Short() {
		b.Skip("a simulated hour takes a minute of real time")
	}
	s := newEconScript()
	legacyReq, legacyMisses := s.legacy()
	for i := 0; i < b.N; i++ {
		if i > 0 {
			break // one hour is the measurement; more would only repeat it
		}
		e, w := newEconEnv(b, s)
		e.gh.SetWebhook(e.url+"/webhooks/github", hookSecret)

		// Cold start, before the hour: the first status read resolves the set.
		if _, err := e.connect.GetStatus(b.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
			b.Fatal(err)
		}
		econQuiet(b, e.gh, 500*time.Millisecond)
		cold := countRequests(e.gh.Requests())
		e.gh.ResetRecords()
		hooksBefore := e.svc.WebhookStats()

		b.ResetTimer()
		start := time.Now()
		for range econPanels {
			if _, err := e.connect.GetStatus(b.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
				b.Fatal(err)
			}
			openWatch(b, e.connect).first(b)
		}
		for _, ev := range s.events {
			time.Sleep(time.Until(start.Add(econReal(ev.at))))
			w.apply(ev)
		}
		time.Sleep(time.Until(start.Add(econReal(time.Hour))))
		took := time.Since(start)
		n := len(e.gh.Requests())
		b.StopTimer()
		// Requests that arrived within the hour, once answered.
		econQuiet(b, e.gh, 300*time.Millisecond)
		hour := countRequests(e.gh.Requests()[:n])
		hooks := e.svc.WebhookStats()
		if _, err := e.gh.WaitDeliveries(len(e.gh.Deliveries()), waitFor); err != nil {
			b.Fatal(err)
		}
		for _, d := range e.gh.Deliveries() {
			if !d.Delivered() {
				b.Errorf("delivery %s (%s #%d) not delivered: %d %v", d.ID, d.Action, d.Number, d.Status, d.Err)
			}
		}

		ours := hour.total(hour.charged)
		b.ReportMetric(float64(ours), "ours-req/h") // the run is one simulated hour
		b.ReportMetric(float64(legacyReq), "legacy-req/h")
		if ours > 0 {
			b.ReportMetric(float64(legacyReq)/float64(ours), "ratio")
		}
		b.ReportMetric(float64(hour.total(hour.notModified)), "304/h")
		b.ReportMetric(float64(hour.charged[fakegithub.KindList]), "list-req/h")
		b.ReportMetric(float64(hour.notModified[fakegithub.KindList]), "list-304/h")
		b.ReportMetric(float64(hour.charged[fakegithub.KindPull]), "pull-req/h")
		b.ReportMetric(float64(hour.notModified[fakegithub.KindPull]), "pull-304/h")
		b.ReportMetric(float64(hour.charged[fakegithub.KindCompare]), "compare-req/h")
		b.ReportMetric(float64(hour.charged[""]), "other-req/h")
		b.ReportMetric(float64(cold.total(cold.charged)), "cold-start-req")
		b.ReportMetric(float64(cold.charged[fakegithub.KindList]), "cold-list-req")
		b.ReportMetric(float64(cold.charged[fakegithub.KindPull]), "cold-pull-req")
		b.ReportMetric(float64(cold.charged[fakegithub.KindCompare]), "cold-compare-req")
		b.ReportMetric(float64(legacyMisses), "legacy-misses/h")
		b.ReportMetric(float64(s.count("push")), "set-pushes/h")
		b.ReportMetric(float64(s.count("retitle")+s.count("assign")+s.count("merge")), "set-changes/h")
		b.ReportMetric(float64(s.count("other-push")), "other-pushes/h")
		b.ReportMetric(econSetPRs, "set-prs")
		b.ReportMetric(econOtherPRs, "other-prs")
		b.ReportMetric(econPanels, "panels")
		b.ReportMetric(float64(hooks.Applied-hooksBefore.Applied), "hooks-applied/h")
		b.ReportMetric(float64(hooks.Ignored-hooksBefore.Ignored), "hooks-ignored/h")
		b.ReportMetric(econScale, "sim-x")
		b.ReportMetric(took.Seconds(), "real-s")
	}
}

// BenchmarkWebhookToWatcher measures the delay from a push on GitHub to an open
// panel showing it: from just before the fake GitHub's SetPull (which delivers the
// signed synchronize webhook over HTTP to the receiver, which applies it and notifies
// the watch hub) to the WatchStatus stream receiving a status with the new head
// (p50-ms, p99-ms), and then one with its drift (drift-p50-ms, drift-p99-ms), which
// needs a comparison from GitHub, here 100 ms away. The head must not wait for it.
// One b.N iteration is one push; scripts/bench.sh gives it -benchtime 200x.
func BenchmarkWebhookToWatcher(b *testing.B) {
	e := newEnv(b, envOptions{state: "testing-prs.json", webhookSecret: hookSecret, mergeability: true, watchPoll: time.Hour})
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(b.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		b.Fatal(err)
	}
	e.gh.SetWebhook(e.url+"/webhooks/github", hookSecret)
	w := openWatch(b, e.connect)
	w.first(b)
	e.gh.SetLatency(100 * time.Millisecond)
	var toHead, toDrift []time.Duration
	together := 0 // pushes whose first status already carried the drift
	for i := 0; b.Loop(); i++ {
		head := econSHA("webhook-to-watcher-" + strconv.Itoa(i))
		ahead := int32(10 + i%90)
		e.gh.SetCompare(pin13238, head, "ahead", int(ahead), 0)
		start := time.Now()
		// Mergeable as GitHub has it once computed, so no mergeability question adds
		// pushes of its own to the stream.
		e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head, Author: "mekarpeles", Mergeable: boolPtr(true)})
		r := w.status(b, func(st *testingv1.GetStatusResponse) bool { return row(st, 13238).HeadSha == head })
		toHead = append(toHead, r.at.Sub(start))
		if row(r.msg.Status, 13238).Drift == ahead {
			together++
		} else {
			r = w.status(b, func(st *testingv1.GetStatusResponse) bool {
				p := row(st, 13238)
				return p.HeadSha == head && p.Drift == ahead
			})
		}
		toDrift = append(toDrift, r.at.Sub(start))
	}
	reportPercentiles(b, toHead)
	slices.Sort(toDrift)
	pct := func(p float64) float64 { return float64(toDrift[int(p*float64(len(toDrift)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "drift-p50-ms")
	b.ReportMetric(pct(0.99), "drift-p99-ms")
	b.ReportMetric(float64(together), "head-waited")
}
