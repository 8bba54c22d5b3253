package service_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
)

var hookSecret = []byte("webhook-secret")

// row returns PR n's row of st, or nil.
func row(st *testingv1.GetStatusResponse, n int32) *testingv1.PullRequest {
	for _, r := range st.GetPrs() {
		if r.Number == n {
			return r
		}
	}
	return nil
}

// newHookEnv is a server with the webhook receiver on, the fixture set resolved once,
// and the fake GitHub delivering to it.
func newHookEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	o.state, o.webhookSecret = "testing-prs.json", hookSecret
	e := newEnv(t, o)
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	e.gh.SetWebhook(e.url+"/webhooks/github", hookSecret)
	return e
}

// A push, a retitle, an assignment and a merge reach a watcher from the webhook
// alone: GitHub is asked for nothing but the one comparison the push needs.
func TestWebhookUpdatesWatchers(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	w := openWatch(t, e.connect)
	w.first(t)
	pulls, lists := e.gh.Count(fakegithub.KindPull), e.gh.Count(fakegithub.KindList)

	e.gh.SetCompare(pin13238, head3, "ahead", 5, 0)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head3, Author: "mekarpeles"})
	w.status(t, func(st *testingv1.GetStatusResponse) bool {
		r := row(st, 13238)
		return r.HeadSha == head3 && r.Drift == 5
	})
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR, retitled", Head: pin13269, Author: "author", Assignee: "alice"})
	w.status(t, func(st *testingv1.GetStatusResponse) bool {
		r := row(st, 13269)
		return r.Title == "Test PR, retitled" && r.Assignee == "alice"
	})
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head3, Author: "mekarpeles", Merged: true})
	st := w.status(t, func(st *testingv1.GetStatusResponse) bool { return row(st, 13238).Merged }).msg.Status
	if !hasChange(st, 13238, testingv1.ChangeKind_CHANGE_KIND_REMOVE, "merged") {
		t.Errorf("plan %v; want #13238 removed as merged", st.PendingChanges)
	}

	if n := e.gh.Count(fakegithub.KindPull); n != pulls {
		t.Errorf("%d GetPull requests after the webhooks; want none", n-pulls)
	}
	if n := e.gh.Count(fakegithub.KindList); n != lists {
		t.Errorf("%d listings after the webhooks; want none", n-lists)
	}
	for _, d := range e.gh.Deliveries() {
		if d.Status != http.StatusAccepted {
			t.Errorf("delivery %s (%s %s #%d): status %d; want 202", d.ID, d.Event, d.Action, d.Number, d.Status)
		}
	}
	if st := e.svc.WebhookStats(); st.Applied < 4 || st.BadSignature != 0 {
		t.Errorf("stats %+v; want at least 4 applied", st)
	}
	got, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Msg.Github; !g.WebhooksEnabled || g.LastWebhookAt == nil {
		t.Errorf("github status %v; want webhooks on with a last delivery", g)
	}
	// The state file learnt the new title and assignee (legacy reads them there).
	if r := e.state(t).PRs; !stateHas(r, 13269, "Test PR, retitled", "alice") {
		t.Errorf("state file rows %+v; want #13269 retitled and assigned to alice", r)
	}
}

func hasChange(st *testingv1.GetStatusResponse, n int32, kind testingv1.ChangeKind, reason string) bool {
	for _, c := range st.PendingChanges {
		if c.Number == n && c.Kind == kind && c.Reason == reason {
			return true
		}
	}
	return false
}

// Deliveries that must not be trusted or cannot be used change nothing.
func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	before, pulls := e.bytes(t), e.gh.Count(fakegithub.KindPull)
	valid := []byte(`{"action":"opened","number":1,"pull_request":{"number":1,"state":"open","head":{"sha":"` + head3 + `"}},"repository":{"full_name":"` + repo + `"}}`)
	tests := []struct {
		name   string
		event  string
		body   []byte
		opts   []fakegithub.SendOption
		status int
	}{
		{"forged signature", "pull_request", valid, []fakegithub.SendOption{fakegithub.SignatureHeader("sha256=" + strings.Repeat("0", 64))}, http.StatusUnauthorized},
		{"no signature", "pull_request", valid, []fakegithub.SendOption{fakegithub.SignatureHeader("")}, http.StatusUnauthorized},
		{"another secret", "pull_request", valid, []fakegithub.SendOption{fakegithub.SignedWith([]byte("not ours"))}, http.StatusUnauthorized},
		{"oversized", "pull_request", bytes.Repeat([]byte(" "), 2<<20), nil, http.StatusRequestEntityTooLarge},
		{"garbage", "pull_request", []byte("{not json"), nil, http.StatusBadRequest},
		{"no delivery id", "pull_request", valid, []fakegithub.SendOption{fakegithub.ExtraHeader("X-GitHub-Delivery", "")}, http.StatusBadRequest},
		{"unknown event", "issues", []byte(`{"action":"opened"}`), nil, http.StatusOK},
		{"another repository", "pull_request", bytes.Replace(valid, []byte(repo), []byte("someone/else"), 1), nil, http.StatusOK},
		{"a PR not in the set", "pull_request", valid, nil, http.StatusAccepted},
	}
	for _, tt := range tests {
		d := e.gh.SendWebhook(tt.event, tt.body, tt.opts...)
		if d.Status != tt.status {
			t.Errorf("%s: status %d (%v); want %d", tt.name, d.Status, d.Err, tt.status)
		}
	}
	// A replay of a valid delivery is acknowledged and not applied again.
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Once", Head: pin13269, Author: "author", Assignee: "assignee"})
	ds, err := e.gh.WaitDeliveries(len(tests)+1, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	last := ds[len(ds)-1]
	waitUntil(t, func() bool { return e.svc.WebhookStats().Applied == 1 })
	if status, err := e.gh.Redeliver(last.ID); err != nil || status != http.StatusOK {
		t.Errorf("replay: %d, %v; want 200", status, err)
	}
	st := e.svc.WebhookStats()
	if st.Duplicate != 1 || st.Applied != 1 || st.BadSignature != 3 {
		t.Errorf("stats %+v; want 3 bad signatures, 1 duplicate, 1 applied", st)
	}
	// Only GET: not a webhook.
	resp, err := http.Get(e.url + "/webhooks/github")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d; want 405", resp.StatusCode)
	}
	// The state file changed only by the retitle of the applied delivery.
	if after := e.bytes(t); !bytes.Equal(before, after) && !strings.Contains(string(after), `"Once"`) {
		t.Error("a refused delivery changed the state file")
	}
	if n := e.gh.Count(fakegithub.KindPull) - pulls; n != 0 {
		t.Errorf("deliveries made us ask GitHub (%d GetPull)", n)
	}
}

// A lost webhook is caught by the reconcile loop, with conditional requests.
func TestReconcileCatchesLostWebhook(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{reconcile: 100 * time.Millisecond})
	w := openWatch(t, e.connect)
	w.first(t)
	e.gh.DropWebhooks(1)
	e.gh.SetCompare(pin13238, head3, "ahead", 4, 0)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head3, Author: "mekarpeles"})
	w.status(t, func(st *testingv1.GetStatusResponse) bool {
		r := row(st, 13238)
		return r.HeadSha == head3 && r.Drift == 4
	})
	if ds := e.gh.Deliveries(); len(ds) != 1 || !ds[0].Dropped {
		t.Fatalf("deliveries %+v; want the one push, dropped", ds)
	}
	if e.svc.GitHubStatus().LastReconcileAt == nil {
		t.Error("last_reconcile_at unset after a reconcile")
	}
	// The sweep is conditional: an unchanged PR costs a 304.
	if e.gh.NotModified() == 0 {
		t.Error("no reconcile request was answered 304")
	}
}

// Deploy asks GitHub about what it deploys: a PR merged with its webhook lost is
// removed by this deploy, not shipped again.
func TestDeployRechecksGitHub(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", jenkinsToken: "jt"})
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author", Merged: true})
	res, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range res.Msg.Applied {
		found = found || (c.Number == 13269 && c.Kind == testingv1.ChangeKind_CHANGE_KIND_REMOVE && c.Reason == "merged")
	}
	if !found {
		t.Errorf("applied %v; want #13269 removed as merged", res.Msg.Applied)
	}
}

// GetStatus says how much of the rate limit is left and when GitHub last answered; at
// the reserve, cached drift is served, marked stale, saying why, and GitHub is left
// alone.
func TestGitHubBudgetInStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", ttl: 50 * time.Millisecond})
	e.seedFixturePRs()
	e.gh.SetQuota(40) // a reserve of a fifth: 8
	get := func() *testingv1.GetStatusResponse {
		t.Helper()
		res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg
	}
	st := get()
	g := st.Github
	if g.RateLimit != 40 || g.RateRemaining >= 40 || g.RateRemaining <= 0 || g.RateReset == nil || g.LastContactAt == nil || g.BudgetLow {
		t.Fatalf("github status %v; want 40 known, some used, a reset and a last contact", g)
	}
	// Spend the budget down to the reserve, as another user of the token would.
	for e.ghClient.Budget().Remaining > 8 {
		if _, err := e.ghClient.GetPull(t.Context(), 13269); err != nil {
			t.Fatal(err)
		}
		e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author", Assignee: "x" + time.Now().Format("150405.000000")})
	}
	time.Sleep(60 * time.Millisecond) // past the 50ms TTL: every row is stale
	requests := len(e.gh.Requests())
	waitUntil(t, func() bool {
		st = get()
		return st.DriftStale
	})
	if !st.Github.BudgetLow || !strings.Contains(st.DriftError, "budget low") {
		t.Errorf("budget_low %v, drift_error %q; want the budget named", st.Github.BudgetLow, st.DriftError)
	}
	if r := row(st, 13238); r.Drift != 3 {
		t.Errorf("#13238 drift %d; want the cached 3", r.Drift)
	}
	if n := len(e.gh.Requests()) - requests; n != 0 {
		t.Errorf("%d GitHub requests at the reserve; want none", n)
	}
}

// waitUntil polls cond (a guard against hanging, not a timing check).
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stateHas reports whether the state file's row n has this title and assignee.
func stateHas(rows []persistence.PR, n int, title, assignee string) bool {
	for _, r := range rows {
		if r.Number == n {
			return r.Title == title && r.Assignee == assignee
		}
	}
	return false
}

// Under a secondary rate limit (403 with Retry-After) webhooks still bring every
// change: the new head shows at once, the drift is unknown and says why, and once
// Retry-After has passed the comparison is made and the drift shows.
func TestWebhookUnderRateLimit(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{ttl: 4 * time.Second}) // retries come after a second
	w := openWatch(t, e.connect)
	w.first(t)
	e.gh.SecondaryRateLimit(time.Second)
	e.gh.SetCompare(pin13238, head3, "ahead", 2, 0)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head3, Author: "mekarpeles"})
	st := w.status(t, func(st *testingv1.GetStatusResponse) bool {
		r := row(st, 13238)
		return r.HeadSha == head3 && strings.Contains(st.DriftError, "rate limit")
	}).msg.Status
	if r := row(st, 13238); r.Drift != -1 || !st.DriftStale {
		t.Errorf("while limited: drift %d, stale %v; want unknown and stale", r.Drift, st.DriftStale)
	}
	// Reads after the limit retry the comparison.
	waitUntil(t, func() bool {
		res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		return err == nil && row(res.Msg, 13238).Drift == 2
	})
}
