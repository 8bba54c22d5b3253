package service_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/internal/testmemcached"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

const (
	fixtures = "../testdata/fixtures/"
	repo     = "internetarchive/openlibrary"

	// Pins of the fixture state file.
	pin13238 = "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5"
	pin13240 = "5a0c7e1f2d3b4a5968778695a4b3c2d1e0f9a8b7"
	pin13269 = "1d23364b8c652d6107e2dc685f918551fda5d327"
	head1    = "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
	head2    = "4f2a9c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b"
)

// env is a real server over real HTTP (HTTP/1.1 and cleartext HTTP/2) with fake
// GitHub and Jenkins at the wire and a real memcached.
type env struct {
	dir       string
	statePath string
	gh        *fakegithub.Server
	jk        *fakejenkins.Server
	connect   testingv1connect.TestingServiceClient // Connect, JSON
	grpc      testingv1connect.TestingServiceClient // gRPC over h2c
	get       testingv1connect.TestingServiceClient // Connect GET for idempotent RPCs
	store     *persistence.Store
	audit     *persistence.AuditLog
	ghClient  *github.Client
	memcached string
	svc       *service.Server
	resolver  *drift.Resolver
	mc        *memcache.Memcached // the drift cache (keys prefixed with the test's name)
	url       string              // the server's base URL
}

type envOptions struct {
	state          string // fixture file name copied as the state file; "" = none
	transcript     string // fixture file name copied as the build transcript; "" = none
	auth           service.Authenticator
	info           service.InfoOptions
	ttl            time.Duration
	jenkinsToken   string        // "" = deploy unconfigured
	jenkinsTimeout time.Duration // default 5s
	// The WatchStatus poll tick and heartbeat interval; 0 = the defaults.
	watchPoll time.Duration
	heartbeat time.Duration
	// GitHub sync (github.go): the webhook secret (nil = receiver off), the reconcile
	// interval (0 = never), mergeability questions, the legacy drift cache.
	webhookSecret []byte
	reconcile     time.Duration
	mergeability  bool
	mergeRetry    time.Duration // default 10ms
	legacy        service.LegacyCache
	reserve       int
	// stateBytes, when set, is written as the state file (instead of a fixture).
	stateBytes []byte
	// memcached is the address of the drift cache's memcached (faults_test.go puts a
	// real one it can stop, or a proxy, there); "" = a fresh one for this env.
	memcached string
	// predictor predicts the deploy's merges (predict_test.go); nil = off.
	predictor func(notify func()) service.MergePredictor
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.statePath = filepath.Join(e.dir, "_testing-prs.json")
	transcriptPath := filepath.Join(e.dir, "_dev-merged_status.txt")
	if o.state != "" {
		copyFile(t, fixtures+o.state, e.statePath)
	}
	if o.stateBytes != nil {
		if err := os.WriteFile(e.statePath, o.stateBytes, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if o.transcript != "" {
		copyFile(t, fixtures+o.transcript, transcriptPath)
	}
	e.gh = fakegithub.New(t)
	e.jk = fakejenkins.New(t)
	var err error
	e.ghClient, err = github.New(github.Options{BaseURL: e.gh.URL, Repo: repo, Token: "gh-secret-token", HTTPClient: e.gh.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	jenkinsTimeout := 5 * time.Second
	if o.jenkinsTimeout > 0 {
		jenkinsTimeout = o.jenkinsTimeout
	}
	if o.jenkinsToken != "" {
		e.jk.SetToken(o.jenkinsToken)
	}
	jk, err := jenkins.New(jenkins.Options{RunsURL: e.jk.RunsURL(), TriggerURL: e.jk.TriggerURL(), Token: o.jenkinsToken, HTTPClient: e.jk.Client(), Timeout: jenkinsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	e.memcached = o.memcached
	if e.memcached == "" {
		e.memcached = testmemcached.Start(t)
	}
	mc := memcache.NewMemcached([]string{e.memcached}, memcache.Options{KeyPrefix: t.Name()})
	t.Cleanup(func() { _ = mc.Close() })
	ttl := o.ttl
	if ttl == 0 {
		ttl = time.Minute
	}
	// Bound late, as in cmd/testingd: nothing resolves drift before e.svc is set.
	e.mc = mc
	mergeRetry := o.mergeRetry
	if mergeRetry == 0 {
		mergeRetry = 10 * time.Millisecond
	}
	resolver := drift.New(e.ghClient, mc, drift.Options{
		Repo: repo, TTL: ttl, Concurrency: 16, OnUpdate: func() { e.svc.Notify() },
		Budget: e.ghClient.Budget, Reserve: o.reserve, Mergeability: o.mergeability, MergeableRetry: mergeRetry,
	})
	e.resolver = resolver
	reconcile := o.reconcile
	if reconcile == 0 {
		reconcile = -1
	}
	e.store = persistence.NewStore(e.statePath, nil)
	e.audit = persistence.OpenAuditLog(persistence.AuditPath(e.statePath), nil)
	auth := o.auth
	if auth == nil {
		auth = service.DevAuth{}
	}
	var predictor service.MergePredictor
	if o.predictor != nil {
		predictor = o.predictor(func() { e.svc.Notify() })
	}
	e.svc = service.New(service.Options{
		Store: e.store, Audit: e.audit, GitHub: e.ghClient, TranscriptPath: transcriptPath, Drift: resolver, Jenkins: jk, Auth: auth,
		Repo: repo, JenkinsJobURL: "https://jenkins.example/job/deploy/", Info: o.info,
		WatchPollInterval: o.watchPoll, HeartbeatInterval: o.heartbeat,
		GitHubBudget: e.ghClient.Budget, WebhookSecret: o.webhookSecret, ReconcileInterval: reconcile, DriftTTL: ttl,
		Legacy: o.legacy, Predictor: predictor,
	})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.svc.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	mux := http.NewServeMux()
	path, handler := testingv1connect.NewTestingServiceHandler(e.svc, service.Codecs()...)
	mux.Handle(path, service.OriginMiddleware(handler))
	if h := e.svc.WebhookHandler(); h != nil {
		mux.Handle("/webhooks/github", h)
	}
	srv := httptest.NewUnstartedServer(mux)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protocols
	srv.Start()
	e.url = srv.URL
	t.Cleanup(srv.Close)

	h2c := &http.Client{Transport: &http.Transport{Protocols: func() *http.Protocols {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		return &p
	}()}}
	e.connect = testingv1connect.NewTestingServiceClient(http.DefaultClient, srv.URL, connect.WithProtoJSON())
	e.grpc = testingv1connect.NewTestingServiceClient(h2c, srv.URL, connect.WithGRPC())
	e.get = testingv1connect.NewTestingServiceClient(http.DefaultClient, srv.URL, connect.WithHTTPGet(), connect.WithProtoJSON())
	return e
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// clients are the protocols every RPC test runs over.
func (e *env) clients() map[string]testingv1connect.TestingServiceClient {
	return map[string]testingv1connect.TestingServiceClient{"connect": e.connect, "grpc": e.grpc}
}

// seedFixturePRs makes GitHub describe the fixture's PRs: 13238 open and 3 commits
// ahead of its pin, 13240 merged, 13269 open at its pin.
func (e *env) seedFixturePRs() {
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head1, Author: "mekarpeles"})
	e.gh.SetCompare(pin13238, head1, "ahead", 3, 0)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13240, Title: "Unified icon system", Head: head2, Author: "cdrini", Assignee: "RayBB", Merged: true})
	e.gh.SetCompare(pin13240, head2, "diverged", 2, 1)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author", Assignee: "assignee"})
}

func TestGetStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt"})
	e.seedFixturePRs()
	for name, client := range e.clients() {
		t.Run(name, func(t *testing.T) {
			res, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			got := res.Msg
			type row struct {
				Number           int32
				Head             string
				Drift            int32
				Diverged, Merged bool
				LiveNow, InSet   bool
				Action           testingv1.ChangeKind
			}
			var rows []row
			for _, p := range got.Prs {
				rows = append(rows, row{p.Number, p.HeadSha, p.Drift, p.Diverged, p.Merged, p.LiveNow, p.InSet, p.Action})
			}
			wantRows := []row{
				{13111, "", -1, false, false, true, false, testingv1.ChangeKind_CHANGE_KIND_REMOVE},
				{13238, head1, 3, false, false, true, true, testingv1.ChangeKind_CHANGE_KIND_PIN},
				{13240, head2, -1, false, true, true, true, testingv1.ChangeKind_CHANGE_KIND_REMOVE}, // merged: not compared
				{13269, pin13269, 0, false, false, false, true, testingv1.ChangeKind_CHANGE_KIND_ADD},
			}
			if diff := cmp.Diff(wantRows, rows); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			wantPlan := []*testingv1.PendingChange{
				{Number: 13269, Title: "Test PR", Kind: testingv1.ChangeKind_CHANGE_KIND_ADD, Detail: "1d23364"},
				{Number: 13238, Title: "Fix search facets fallback", Kind: testingv1.ChangeKind_CHANGE_KIND_PIN, Detail: "9f8e7d6"},
				{Number: 13111, Title: "Old PR since removed", Kind: testingv1.ChangeKind_CHANGE_KIND_REMOVE, Reason: "dropped"},
				{Number: 13240, Title: "Unified icon system", Kind: testingv1.ChangeKind_CHANGE_KIND_REMOVE, Reason: "merged"},
			}
			if diff := cmp.Diff(wantPlan, got.PendingChanges, protocmp.Transform()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			// The fixture's latest Jenkins run (#412) is running its "components" stage.
			if !got.Deploying || got.DeployResult != "IN_PROGRESS" || got.DeployStage != "components" || got.DeployRunId != "412" || got.DeployStateGuessed {
				t.Errorf("deploy state = deploying %v, result %q, stage %q, run %q, guessed %v; want the running run #412",
					got.Deploying, got.DeployResult, got.DeployStage, got.DeployRunId, got.DeployStateGuessed)
			}
			if !got.HasPending || got.DriftStale || got.DriftError != "" || got.DriftResolvedAt == nil {
				t.Errorf("has_pending %v, drift_stale %v, drift_error %q, drift_resolved_at %v", got.HasPending, got.DriftStale, got.DriftError, got.DriftResolvedAt)
			}
			if got.LastDeployAt.AsTime() != time.Date(2026, 8, 5, 18, 0, 0, 0, time.UTC) || got.Version == "" || got.JenkinsConfigured {
				t.Errorf("last_deploy_at %v, version %q, jenkins_configured %v", got.LastDeployAt.AsTime(), got.Version, got.JenkinsConfigured)
			}
			if diff := cmp.Diff([]int32{13370}, got.MergeConflicts); diff != "" {
				t.Errorf("merge_conflicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetStatusWarmCostsNoGitHubRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	cold := len(e.gh.Requests())
	// Cold: one listing (two pages asked at once: a fresh client guesses two, the second
	// is empty), one GET /pulls for the merged PR, one compare per drifted open PR (the
	// merged one is not compared).
	if e.gh.Count("list") != 2 || e.gh.Count("pull") != 1 || e.gh.Count("compare") != 1 {
		t.Errorf("cold requests: list %d, pull %d, compare %d; want 2, 1, 1", e.gh.Count("list"), e.gh.Count("pull"), e.gh.Count("compare"))
	}
	for range 5 {
		if _, err := e.get.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.gh.Requests()); n != cold {
		t.Errorf("warm GetStatus sent %d GitHub requests; want 0", n-cold)
	}
}

func TestGetStatusWritesBackGitHubFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	// 13238 was retitled and assigned; 13269 lost its assignee.
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback (v2)", Head: head1, Author: "mekarpeles", Assignee: "cdrini"})
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author"})
	before, err := e.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	after, err := e.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Version != after.Version || after.Version == before.Version {
		t.Errorf("version: before %s, after %s, response %s; want the response to carry the new version", before.Version, after.Version, res.Msg.Version)
	}
	want := before.State.Clone()
	for i := range want.PRs {
		pr := &want.PRs[i]
		switch pr.Number {
		case 13238:
			pr.Title, pr.Assignee, pr.AssigneeAvatar = "Fix search facets fallback (v2)", "cdrini", after.State.PRs[i].AssigneeAvatar
			pr.AuthorAvatar = after.State.PRs[i].AuthorAvatar
		case 13269:
			pr.Assignee, pr.AssigneeAvatar = "", ""
			pr.AuthorAvatar = after.State.PRs[i].AuthorAvatar
		case 13240:
			pr.AuthorAvatar, pr.AssigneeAvatar = after.State.PRs[i].AuthorAvatar, after.State.PRs[i].AssigneeAvatar
		}
	}
	if diff := cmp.Diff(string(want.Marshal()), string(after.State.Marshal())); diff != "" {
		t.Errorf("state after write-back (-want +got):\n%s", diff)
	}
	if after.State.PRs[0].AssigneeAvatar == "" || after.State.PRs[0].Commit != pin13238 {
		t.Errorf("13238 = %+v; want an assignee avatar and the pin untouched", after.State.PRs[0])
	}
}

func TestGetStatusGitHubFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      func(gh *fakegithub.Server)
		wantError string
	}{
		{"5xx", func(gh *fakegithub.Server) { gh.FailAll(http.StatusBadGateway) }, "GitHub is unavailable"},
		{"garbage", func(gh *fakegithub.Server) { gh.Garbage(true) }, "GitHub is unavailable"},
		{"rate limited", func(gh *fakegithub.Server) { gh.RateLimit(time.Date(2030, 1, 1, 17, 3, 0, 0, time.UTC)) }, "rate limit reached (resets at 17:03 UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{state: "testing-prs.json"})
			e.seedFixturePRs()
			tt.fail(e.gh)
			for name, client := range e.clients() {
				res, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
				if err != nil {
					t.Fatalf("%s: GetStatus with GitHub failing = %v; want an answer from stored data", name, err)
				}
				if !res.Msg.DriftStale || !strings.Contains(res.Msg.DriftError, tt.wantError) {
					t.Errorf("%s: drift_stale %v, drift_error %q; want stale and %q", name, res.Msg.DriftStale, res.Msg.DriftError, tt.wantError)
				}
				for _, p := range res.Msg.Prs {
					if p.Drift != -1 {
						t.Errorf("%s: #%d drift %d; want -1 (unknown)", name, p.Number, p.Drift)
					}
				}
				if len(res.Msg.Prs) != 4 || res.Msg.Prs[1].Title != "Fix search facets fallback" {
					t.Errorf("%s: rows = %v; want the stored rows", name, res.Msg.Prs)
				}
			}
		})
	}
}

func TestGetStatusJenkinsDownGuesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	e.jk.FailAll(http.StatusServiceUnavailable)
	res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	// deploy_started_at is months ago: the 10-minute guess says not deploying.
	if !res.Msg.DeployStateGuessed || res.Msg.Deploying || res.Msg.DeployResult != "" {
		t.Errorf("guessed %v, deploying %v, result %q; want a guess of not deploying", res.Msg.DeployStateGuessed, res.Msg.Deploying, res.Msg.DeployResult)
	}
}

func TestGetStatusStateFileProblems(t *testing.T) {
	t.Parallel()
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		for name, client := range e.clients() {
			_, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "AddPRs") {
				t.Errorf("%s: GetStatus without a state file = %v; want NOT_FOUND saying how to create one", name, err)
			}
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		corrupt := []byte("{\"last_deploy_at\": \"\",\n \"prs\": [{\"pr\": \"oops\"}]}")
		if err := os.WriteFile(e.statePath, corrupt, 0o644); err != nil {
			t.Fatal(err)
		}
		for name, client := range e.clients() {
			_, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "line 2") {
				t.Errorf("%s: GetStatus on a corrupt file = %v; want FAILED_PRECONDITION naming the line", name, err)
			}
		}
		if got, _ := os.ReadFile(e.statePath); string(got) != string(corrupt) {
			t.Errorf("corrupt file was changed to %q", got)
		}
	})
}

func TestGetBuildResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{transcript: "dev-merged-status.txt"})
	for name, client := range e.clients() {
		res, err := client.GetBuildResult(t.Context(), connect.NewRequest(&testingv1.GetBuildResultRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := res.Msg
		got.ModifiedAt = nil
		for _, p := range got.Prs {
			p.Body = ""
		}
		want := &testingv1.GetBuildResultResponse{
			Exists:    true,
			GitStatus: "Switched to branch 'master'\nAlready up to date.\nSwitched to a new branch 'dev-merged'",
			Prs: []*testingv1.BuildPullRequest{
				{Number: 13208, Name: "pinned at 1d23364b8c652d6107e2dc685f918551fda5d327", Link: "https://github.com/internetarchive/openlibrary/pull/13208",
					Status: "1 file changed, 1 insertion(+), 1 deletion(-)", PullLine: "origin pull/13208/head  # pinned at 1d23364b8c652d6107e2dc685f918551fda5d327"},
				{Number: 13370, Name: "pinned at 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5", Link: "https://github.com/internetarchive/openlibrary/pull/13370",
					Status:   "Merge conflict for PR #13370 (pinned 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5) — skipping",
					PullLine: "origin pull/13370/head  # pinned at 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5", MergeConflict: true},
			},
			Footer:    "Complete; dev-merged created (SHA: 4f2a9c1)",
			GithubUrl: "https://github.com/internetarchive/openlibrary/pulls?q=is%3Apr+is%3Aopen+%2313208+%2313370",
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s: GetBuildResult (-want +got):\n%s", name, diff)
		}
	}
	empty := newEnv(t, envOptions{})
	res, err := empty.get.GetBuildResult(t.Context(), connect.NewRequest(&testingv1.GetBuildResultRequest{}))
	if err != nil || res.Msg.Exists || len(res.Msg.Prs) != 0 {
		t.Errorf("GetBuildResult without a transcript = %v, %v; want an empty result", res, err)
	}
}

func TestGetServerInfo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	checkout := filepath.Join(dir, "openlibrary")
	for _, args := range [][]string{{"init", "-q", checkout}, {"-C", checkout, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "x"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	rev, err := exec.Command("git", "-C", checkout, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "openlibrary.yml")
	yml := "features:\n  dev: enabled\n  merge-authors:\n    filter: usergroup\n    usergroup: /usergroup/librarians\n"
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{info: service.InfoOptions{OLConfig: config, OLCheckout: checkout, Version: "v1.2.3"}})
	res, err := e.get.GetServerInfo(t.Context(), connect.NewRequest(&testingv1.GetServerInfoRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Msg
	if got.ServiceVersion != "v1.2.3" || got.OlRevision != strings.TrimSpace(string(rev)) || got.GoVersion == "" || got.Host == "" || got.StartTime == nil || got.ConfigError != "" {
		t.Errorf("server info = %v", got)
	}
	wantFlags := []*testingv1.FeatureFlag{{Name: "dev", Value: "enabled"}, {Name: "merge-authors", Value: "usergroup: /usergroup/librarians"}}
	if diff := cmp.Diff(wantFlags, got.Features, protocmp.Transform()); diff != "" {
		t.Errorf("features (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&testingv1.Viewer{Username: "dev", SignedIn: true, Maintainer: true, AuthMode: "dev"}, got.Viewer, protocmp.Transform()); diff != "" {
		t.Errorf("viewer (-want +got):\n%s", diff)
	}
}

// fixedAuth authenticates every request as one viewer.
type fixedAuth service.Viewer

func (a fixedAuth) Authenticate(context.Context, http.Header) (service.Viewer, error) {
	return service.Viewer(a), nil
}
func (fixedAuth) Mode() string { return "test" }

func TestAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		viewer service.Viewer
		want   connect.Code
	}{
		{"not signed in", service.Viewer{}, connect.CodeUnauthenticated},
		{"not a maintainer", service.Viewer{Username: "reader", SignedIn: true}, connect.CodePermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt", auth: fixedAuth(tt.viewer)})
			for name, client := range e.clients() {
				_, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
				if connect.CodeOf(err) != tt.want {
					t.Errorf("%s: GetStatus = %v; want %v", name, err, tt.want)
				}
				// The public parts stay public.
				if _, err := client.GetBuildResult(t.Context(), connect.NewRequest(&testingv1.GetBuildResultRequest{})); err != nil {
					t.Errorf("%s: GetBuildResult = %v; want it public", name, err)
				}
				info, err := client.GetServerInfo(t.Context(), connect.NewRequest(&testingv1.GetServerInfoRequest{}))
				if err != nil || info.Msg.Viewer.Maintainer || info.Msg.Viewer.Username != tt.viewer.Username {
					t.Errorf("%s: GetServerInfo = %v, %v; want the viewer as a non-maintainer", name, info, err)
				}
			}
			if len(e.gh.Requests()) != 0 {
				t.Errorf("a refused caller caused %d GitHub requests", len(e.gh.Requests()))
			}
		})
	}
}
