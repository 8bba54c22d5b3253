package service_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
)

const head3 = "0123456789abcdef0123456789abcdef01234567"

func (e *env) state(t *testing.T) *persistence.State {
	t.Helper()
	snap, err := e.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return snap.State
}

func (e *env) version(t *testing.T) string {
	t.Helper()
	snap, err := e.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Version
}

func (e *env) bytes(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(e.statePath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (e *env) events(t *testing.T, number int32) []*testingv1.Event {
	t.Helper()
	res, err := e.connect.ListEvents(t.Context(), connect.NewRequest(&testingv1.ListEventsRequest{Number: number}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.Events
}

func hasEventPR(ev *testingv1.Event, n int32, commit string) bool {
	for _, p := range ev.Prs {
		if p.Number == n && p.Commit == commit {
			return true
		}
	}
	return false
}

func findRow(st *testingv1.GetStatusResponse, n int32) *testingv1.PullRequest {
	for _, p := range st.Prs {
		if p.Number == n {
			return p
		}
	}
	return nil
}

func TestAddPRs(t *testing.T) {
	t.Parallel()
	for _, proto := range []string{"connect", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{state: "testing-prs.json"})
			e.seedFixturePRs()
			e.gh.SetPull(fakegithub.PullSpec{Number: 13300, Title: "New feature", Head: head3, Author: "alice", Assignee: "bob"})
			e.gh.SetPull(fakegithub.PullSpec{Number: 13301, Title: "Done already", Head: head2, Merged: true})
			e.gh.SetPull(fakegithub.PullSpec{Number: 13303, Title: "Another", Head: head1})
			refs := []string{
				"13269",
				"#13300",
				"https://github.com/internetarchive/openlibrary/pull/13301/files",
				"13302",
				"https://github.com/internetarchive/openlibrary/issues/5",
				"#13300",
				"origin pull/13303/head  # Another",
			}
			res, err := e.clients()[proto].AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: refs}))
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				Number  int32
				Outcome testingv1.AddOutcome
			}
			var got []result
			for i, r := range res.Msg.Results {
				if r.Ref != refs[i] || r.Message == "" {
					t.Errorf("result %d = %v; want ref %q and a message", i, r, refs[i])
				}
				got = append(got, result{r.Number, r.Outcome})
			}
			want := []result{
				{13269, testingv1.AddOutcome_ADD_OUTCOME_ALREADY_PRESENT},
				{13300, testingv1.AddOutcome_ADD_OUTCOME_ADDED},
				{13301, testingv1.AddOutcome_ADD_OUTCOME_NOT_OPEN},
				{13302, testingv1.AddOutcome_ADD_OUTCOME_NOT_FOUND},
				{0, testingv1.AddOutcome_ADD_OUTCOME_INVALID_REF},
				{13300, testingv1.AddOutcome_ADD_OUTCOME_ADDED},
				{13303, testingv1.AddOutcome_ADD_OUTCOME_ADDED},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.Msg.Results[4].Message, "issue URL") {
				t.Errorf("issue URL message = %q", res.Msg.Results[4].Message)
			}
			st := e.state(t)
			i, ok := st.Find(13300)
			if !ok {
				t.Fatalf("13300 not in the state file")
			}
			pr := st.PRs[i]
			if pr.Commit != head3 || pr.Title != "New feature" || pr.AddedBy != "dev" || pr.Author != "alice" || pr.Assignee != "bob" || !pr.Active || pr.AddedAt == "" {
				t.Errorf("13300 = %+v; want pinned at its head, titled, added by dev", pr)
			}
			if len(st.PRs) != 5 {
				t.Errorf("%d PRs in the set; want 5", len(st.PRs))
			}
			// 13269 was in the set: never looked up. Each new PR: exactly one lookup.
			for _, n := range []string{"13269", "13300", "13301", "13302", "13303"} {
				want := 1
				if n == "13269" {
					want = 0
				}
				got := 0
				for _, r := range e.gh.Requests() {
					if strings.HasSuffix(r.Path, "/pulls/"+n) {
						got++
					}
				}
				if got != want {
					t.Errorf("GET /pulls/%s sent %d times; want %d", n, got, want)
				}
			}
			row := findRow(res.Msg.Status, 13300)
			if row == nil || row.Drift != 0 || row.Action != testingv1.ChangeKind_CHANGE_KIND_ADD || !row.InSet || res.Msg.Status.Version != e.version(t) {
				t.Errorf("row 13300 in the response = %v", row)
			}
			evs := e.events(t, 13300)
			if len(evs) != 1 || evs[0].Kind != testingv1.EventKind_EVENT_KIND_ADD || evs[0].Actor != "dev" || !hasEventPR(evs[0], 13300, head3) {
				t.Errorf("events for 13300 = %v; want one add event by dev with the pin", evs)
			}
		})
	}
}

func TestAddPRsBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	many := make([]string, 101)
	for i := range many {
		many[i] = strconv.Itoa(i + 1)
	}
	for name, refs := range map[string][]string{"none": nil, "101 refs": many} {
		for proto, client := range e.clients() {
			_, err := client.AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: refs}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("%s/%s: AddPRs = %v; want INVALID_ARGUMENT", name, proto, err)
			}
		}
	}
}

func TestAddPRsGitHubDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.gh.FailAll(http.StatusBadGateway)
	before := e.bytes(t)
	res, err := e.connect.AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"13300", "13269"}}))
	if err != nil {
		t.Fatalf("AddPRs with GitHub down = %v; want per-ref results", err)
	}
	if o := res.Msg.Results[0].Outcome; o != testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE {
		t.Errorf("13300 outcome = %v; want GITHUB_UNAVAILABLE", o)
	}
	if o := res.Msg.Results[1].Outcome; o != testingv1.AddOutcome_ADD_OUTCOME_ALREADY_PRESENT {
		t.Errorf("13269 outcome = %v; want ALREADY_PRESENT", o)
	}
	if got := e.bytes(t); string(got) != string(before) {
		t.Errorf("the state file changed although nothing could be added")
	}
}

func TestAddPRsCreatesStateFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.gh.SetPull(fakegithub.PullSpec{Number: 13300, Title: "New feature", Head: head3})
	res, err := e.connect.AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"13300"}}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Results[0].Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED || len(e.state(t).PRs) != 1 {
		t.Errorf("AddPRs without a state file = %v; want it created with the PR", res.Msg.Results)
	}
}

func TestRemoveAndRestore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	before := e.state(t)
	i, _ := before.Find(13238)
	orig := before.PRs[i]

	res, err := e.grpc.RemovePRs(t.Context(), connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: []int32{13238, 99999}}))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := []testingv1.ItemOutcome{res.Msg.Results[0].Outcome, res.Msg.Results[1].Outcome}
	if diff := cmp.Diff([]testingv1.ItemOutcome{testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, testingv1.ItemOutcome_ITEM_OUTCOME_NOT_IN_SET}, outcomes); diff != "" {
		t.Errorf("remove outcomes (-want +got):\n%s", diff)
	}
	row := findRow(res.Msg.Status, 13238)
	if row == nil || row.InSet || !row.Removed || !row.LiveNow || row.Action != testingv1.ChangeKind_CHANGE_KIND_REMOVE || row.Commit != orig.Commit {
		t.Errorf("row 13238 after remove = %v; want a live, removed row leaving at the next deploy", row)
	}
	if _, ok := e.state(t).Find(13238); ok {
		t.Errorf("13238 still in the set")
	}

	res2, err := e.connect.RestorePRs(t.Context(), connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: []int32{13238, 13238, 555, 13269}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []testingv1.ItemOutcome
	for _, r := range res2.Msg.Results {
		got = append(got, r.Outcome)
	}
	want := []testingv1.ItemOutcome{testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED,
		testingv1.ItemOutcome_ITEM_OUTCOME_NOTHING_TO_RESTORE, testingv1.ItemOutcome_ITEM_OUTCOME_ALREADY_PRESENT}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restore outcomes (-want +got):\n%s", diff)
	}
	after := e.state(t)
	j, ok := after.Find(13238)
	if !ok {
		t.Fatal("13238 not restored")
	}
	back := after.PRs[j]
	if back.Commit != orig.Commit || back.PullLatestSHA != orig.PullLatestSHA || back.AddedAt != orig.AddedAt || back.Active != orig.Active || len(after.Removed) != 0 {
		t.Errorf("restored row = %+v; want exactly %+v and no undo record left", back, orig)
	}
	row = findRow(res2.Msg.Status, 13238)
	if row == nil || !row.InSet || row.Removed || row.Action != testingv1.ChangeKind_CHANGE_KIND_PIN {
		t.Errorf("row 13238 after restore = %v; want back in the set with its staged pin", row)
	}
	if evs := e.events(t, 13238); len(evs) != 2 || evs[0].Kind != testingv1.EventKind_EVENT_KIND_RESTORE || evs[1].Kind != testingv1.EventKind_EVENT_KIND_REMOVE {
		t.Errorf("events for 13238 = %v; want restore then remove (newest first)", evs)
	}
}

func TestStagePRs(t *testing.T) {
	t.Parallel()
	type call struct {
		numbers []int32
		stage   testingv1.Stage
		want    []testingv1.ItemOutcome
	}
	applied, unchanged := testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, testingv1.ItemOutcome_ITEM_OUTCOME_UNCHANGED
	calls := []call{
		{[]int32{13269}, testingv1.Stage_STAGE_DISABLE, []testingv1.ItemOutcome{applied}},
		{[]int32{13269}, testingv1.Stage_STAGE_DISABLE, []testingv1.ItemOutcome{unchanged}},
		{[]int32{13269}, testingv1.Stage_STAGE_ENABLE, []testingv1.ItemOutcome{applied}}, // back to live: nothing staged
		{[]int32{13240}, testingv1.Stage_STAGE_UNSTAGE, []testingv1.ItemOutcome{applied}},
		{[]int32{13240}, testingv1.Stage_STAGE_UNSTAGE, []testingv1.ItemOutcome{unchanged}},
		{[]int32{13238, 13269, 4242}, testingv1.Stage_STAGE_PULL_LATEST, []testingv1.ItemOutcome{applied,
			testingv1.ItemOutcome_ITEM_OUTCOME_HEAD_UNCHANGED, testingv1.ItemOutcome_ITEM_OUTCOME_NOT_IN_SET}},
		{[]int32{13238}, testingv1.Stage_STAGE_PULL_LATEST, []testingv1.ItemOutcome{testingv1.ItemOutcome_ITEM_OUTCOME_HEAD_UNCHANGED}},
	}
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	for i, c := range calls {
		res, err := e.connect.StagePRs(t.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: c.numbers, Stage: c.stage}))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var got []testingv1.ItemOutcome
		for _, r := range res.Msg.Results {
			got = append(got, r.Outcome)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("call %d (%v %v) outcomes (-want +got):\n%s", i, c.stage, c.numbers, diff)
		}
	}
	st := e.state(t)
	for _, pr := range st.PRs {
		switch pr.Number {
		case 13269:
			if pr.PendingActive != nil || !pr.Active {
				t.Errorf("13269 = %+v; want active with nothing staged", pr)
			}
		case 13240:
			if pr.PendingActive != nil || pr.PullLatestSHA != "" {
				t.Errorf("13240 = %+v; want nothing staged", pr)
			}
		case 13238:
			if pr.PullLatestSHA != head1 {
				t.Errorf("13238 pull_latest_sha = %q; want its head %s", pr.PullLatestSHA, head1)
			}
		}
	}
	// GitHub down: PULL_LATEST says so per PR and stages nothing.
	e.gh.FailAll(http.StatusServiceUnavailable)
	res, err := e.connect.StagePRs(t.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13240}, Stage: testingv1.Stage_STAGE_PULL_LATEST}))
	if err != nil || res.Msg.Results[0].Outcome != testingv1.ItemOutcome_ITEM_OUTCOME_GITHUB_UNAVAILABLE {
		t.Errorf("PULL_LATEST with GitHub down = %v, %v; want GITHUB_UNAVAILABLE", res, err)
	}
	for name, req := range map[string]*testingv1.StagePRsRequest{
		"no stage":   {Numbers: []int32{13269}},
		"no numbers": {Stage: testingv1.Stage_STAGE_ENABLE},
		"zero":       {Numbers: []int32{0}, Stage: testingv1.Stage_STAGE_ENABLE},
	} {
		if _, err := e.grpc.StagePRs(t.Context(), connect.NewRequest(req)); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: StagePRs = %v; want INVALID_ARGUMENT", name, err)
		}
	}
}

func TestStaleExpectedVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	before := e.bytes(t)
	stale := "0000000000000000"
	calls := map[string]func() error{
		"AddPRs": func() error {
			_, err := e.connect.AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"13300"}, ExpectedVersion: stale}))
			return err
		},
		"RemovePRs": func() error {
			_, err := e.grpc.RemovePRs(t.Context(), connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: []int32{13238}, ExpectedVersion: stale}))
			return err
		},
		"StagePRs": func() error {
			_, err := e.connect.StagePRs(t.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_DISABLE, ExpectedVersion: stale}))
			return err
		},
		"Deploy": func() error {
			_, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{ExpectedVersion: stale}))
			return err
		},
		"EvictDrift": func() error {
			_, err := e.connect.EvictDrift(t.Context(), connect.NewRequest(&testingv1.EvictDriftRequest{ExpectedVersion: stale}))
			return err
		},
	}
	for name, call := range calls {
		if err := call(); connect.CodeOf(err) != connect.CodeAborted {
			t.Errorf("%s with a stale expected_version = %v; want ABORTED", name, err)
		}
	}
	if got := e.bytes(t); string(got) != string(before) {
		t.Errorf("the state file changed")
	}
	// The current version is accepted.
	_, err := e.connect.StagePRs(t.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_DISABLE, ExpectedVersion: e.version(t)}))
	if err != nil {
		t.Errorf("StagePRs with the current version = %v", err)
	}
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", jenkinsToken: "jenkins-secret"})
	e.seedFixturePRs()
	e.gh.SetCompare(pin13238, head1, "ahead", 3, 0)

	dry, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{DryRun: true}))
	if err != nil {
		t.Fatal(err)
	}
	if dry.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_DRY_RUN || len(dry.Msg.Applied) != 4 || len(e.jk.Triggers()) != 0 {
		t.Errorf("dry run = %v; want the 4-change plan and no trigger", dry.Msg)
	}

	res, err := e.grpc.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED || !strings.Contains(res.Msg.JenkinsQueueUrl, "/queue/item/") || len(res.Msg.Applied) != 4 {
		t.Errorf("deploy = %v", res.Msg)
	}
	triggers := e.jk.Triggers()
	if len(triggers) != 1 {
		t.Fatalf("%d triggers; want 1", len(triggers))
	}
	// 13240 was merged (dropped); 13238 moves to its staged pin; 13269 joins.
	wantLines := "origin pull/13238/head  # Fix search facets fallback\norigin pull/13269/head  # Test PR"
	if triggers[0].Lines != wantLines || triggers[0].Token != "jenkins-secret" {
		t.Errorf("trigger lines %q token %q; want %q", triggers[0].Lines, triggers[0].Token, wantLines)
	}
	st := e.state(t)
	if len(st.PRs) != 2 || st.PRs[0].Commit != "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432" || st.PRs[0].PullLatestSHA != "" {
		t.Errorf("state after deploy = %+v", st.PRs)
	}
	if st.LastDeployAt == "2026-08-05T18:00:00+00:00" || st.DeployStartedAt != st.LastDeployAt {
		t.Errorf("last_deploy_at %q, deploy_started_at %q; want both now", st.LastDeployAt, st.DeployStartedAt)
	}
	wantDeployed := []persistence.DeployedEntry{{Key: "13238", Title: "Fix search facets fallback"}, {Key: "13269", Title: "Test PR"}}
	if diff := cmp.Diff(wantDeployed, st.Deployed); diff != "" {
		t.Errorf("deployed (-want +got):\n%s", diff)
	}
	if res.Msg.Status.HasPending {
		t.Errorf("after the deploy the plan is %v; want empty", res.Msg.Status.PendingChanges)
	}
	evs := e.events(t, 0)
	if len(evs) == 0 || evs[0].Kind != testingv1.EventKind_EVENT_KIND_DEPLOY || evs[0].JenkinsQueueUrl != res.Msg.JenkinsQueueUrl || len(evs[0].Prs) != 2 {
		t.Errorf("newest event = %v; want the deploy with its queue URL and PR set", evs)
	}
	// Nothing left to deploy.
	if _, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("second deploy = %v; want FAILED_PRECONDITION", err)
	}
}

func TestDeployJenkinsFailureLosesNothing(t *testing.T) {
	t.Parallel()
	for name, fail := range map[string]func(e *env){
		"refused":     func(e *env) { e.jk.SetTriggerStatus(http.StatusForbidden) },
		"5xx":         func(e *env) { e.jk.SetTriggerStatus(http.StatusInternalServerError) },
		"unreachable": func(e *env) { e.jk.Close() },
		"timing out":  func(e *env) { e.jk.Hang() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{state: "testing-prs.json", jenkinsToken: "jenkins-secret", jenkinsTimeout: 300 * time.Millisecond})
			e.seedFixturePRs()
			fail(e)
			before := e.bytes(t)
			_, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
			if connect.CodeOf(err) != connect.CodeUnavailable || strings.Contains(err.Error(), "jenkins-secret") {
				t.Errorf("deploy with Jenkins %s = %v; want UNAVAILABLE without the token", name, err)
			}
			if got := e.bytes(t); string(got) != string(before) {
				t.Errorf("state file after a failed deploy differs:\n%s\nwant\n%s", got, before)
			}
			if evs := e.events(t, 0); len(evs) != 1 || evs[0].Kind != testingv1.EventKind_EVENT_KIND_DEPLOY_FAILED {
				t.Errorf("events = %v; want one deploy_failed", evs)
			}
		})
	}
}

func TestDeployUnconfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	res, err := e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	st := e.state(t)
	if res.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_UNCONFIGURED || st.DeployStartedAt != "2026-08-05T18:00:00+00:00" || st.LastDeployAt == "2026-08-05T18:00:00+00:00" {
		t.Errorf("unconfigured deploy = %v; state last %q started %q: want the state advanced but deploy_started_at kept", res.Msg.Outcome, st.LastDeployAt, st.DeployStartedAt)
	}
	if len(e.jk.Triggers()) != 0 {
		t.Errorf("Jenkins was triggered without a token")
	}
}

func TestConcurrentDeploysNeverInterleave(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", jenkinsToken: "jenkins-secret"})
	e.seedFixturePRs()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.connect.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case connect.CodeOf(err) != connect.CodeFailedPrecondition:
			t.Errorf("deploy = %v; want success or FAILED_PRECONDITION (nothing left to deploy)", err)
		}
	}
	if ok != 1 || len(e.jk.Triggers()) != 1 {
		t.Errorf("%d deploys succeeded and Jenkins got %d triggers; want exactly one of each", ok, len(e.jk.Triggers()))
	}
}

func TestEvictDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	if _, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	// 13269 gets a new commit: cached drift says 0 until evicted.
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: head3, Author: "author", Assignee: "assignee"})
	e.gh.SetCompare(pin13269, head3, "ahead", 1, 0)
	res, err := e.grpc.EvictDrift(t.Context(), connect.NewRequest(&testingv1.EvictDriftRequest{Numbers: []int32{13269}}))
	if err != nil {
		t.Fatal(err)
	}
	if row := findRow(res.Msg.Status, 13269); row == nil || row.Drift != 1 || row.HeadSha != head3 {
		t.Errorf("row 13269 after EvictDrift = %v; want drift 1 at the new head", row)
	}
	if evs := e.events(t, 0); len(evs) != 1 || evs[0].Kind != testingv1.EventKind_EVENT_KIND_EVICT_DRIFT {
		t.Errorf("events = %v; want one evict_drift", evs)
	}
}

func TestListEventsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	for range 3 {
		for _, stage := range []testingv1.Stage{testingv1.Stage_STAGE_DISABLE, testingv1.Stage_STAGE_ENABLE} {
			if _, err := e.connect.StagePRs(t.Context(), connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13269}, Stage: stage})); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ids []string
	token := ""
	for {
		res, err := e.grpc.ListEvents(t.Context(), connect.NewRequest(&testingv1.ListEventsRequest{PageSize: 4, PageToken: token, Number: 13269}))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range res.Msg.Events {
			ids = append(ids, ev.Id)
			if ev.Summary == "" || ev.Kind != testingv1.EventKind_EVENT_KIND_STAGE {
				t.Errorf("event %v", ev)
			}
		}
		if token = res.Msg.NextPageToken; token == "" {
			break
		}
	}
	if len(ids) != 6 {
		t.Errorf("%d events paged; want 6", len(ids))
	}
	if _, err := e.connect.ListEvents(t.Context(), connect.NewRequest(&testingv1.ListEventsRequest{PageToken: "garbage!"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("ListEvents with a garbage token = %v; want INVALID_ARGUMENT", err)
	}
}

// oneToken is a tokens file holding one token.
type oneToken struct{ token, name string }

func (o oneToken) Lookup(token string) (string, bool) { return o.name, token == o.token }

func TestCrossOriginWritesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", auth: service.WithTokens(service.DevAuth{}, oneToken{"s3cret", "bot"})})
	e.seedFixturePRs()
	stage := func(header http.Header) error {
		req := connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{13269}, Stage: testingv1.Stage_STAGE_DISABLE})
		for k, v := range header {
			req.Header()[k] = v
		}
		_, err := e.connect.StagePRs(t.Context(), req)
		return err
	}
	before := e.bytes(t)
	for name, h := range map[string]http.Header{
		"cross-site fetch": {"Sec-Fetch-Site": {"cross-site"}},
		"same-site fetch":  {"Sec-Fetch-Site": {"same-site"}},
		"foreign Origin":   {"Origin": {"https://evil.example"}},
	} {
		if err := stage(h); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: StagePRs = %v; want PERMISSION_DENIED", name, err)
		}
	}
	if got := e.bytes(t); string(got) != string(before) {
		t.Errorf("a refused cross-origin write changed the state file")
	}
	// Reads are not writes; a bearer token is never sent by a browser on its own.
	get := connect.NewRequest(&testingv1.GetStatusRequest{})
	get.Header().Set("Sec-Fetch-Site", "cross-site")
	if _, err := e.connect.GetStatus(t.Context(), get); err != nil {
		t.Errorf("cross-site GetStatus = %v; want it answered", err)
	}
	if err := stage(http.Header{"Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer s3cret"}}); err != nil {
		t.Errorf("cross-site write with a bearer token = %v; want it applied", err)
	}
	if err := stage(http.Header{"Sec-Fetch-Site": {"same-origin"}}); err != nil {
		t.Errorf("same-origin write = %v; want it applied", err)
	}
	if evs := e.events(t, 13269); len(evs) != 2 || evs[1].Actor != "bot" {
		t.Errorf("events = %v; want the token write by bot, then the same-origin one", evs)
	}
}
