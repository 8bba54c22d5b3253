package service_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/gitmirror"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/gittest"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
)

// predictWorld is an upstream repository with PRs of every kind, the state file that
// queues them, and the server over a bare mirror of it.
type predictWorld struct {
	e      *env
	repo   *gittest.Repo
	pins   map[int]string
	mirror string // the bare mirror (--git-dir)
}

const missingPin = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

// newPredictWorld: master has a.txt and b.txt, then moves a.txt on. The PRs, in state
// order:
//
//	101 adds x.txt                                → clean
//	102 changes a.txt as master did not           → conflicts with the base
//	103 changes b.txt's first line                → clean
//	104 changes b.txt's first line otherwise      → conflicts with #103 (b.txt)
//	105 pinned at a commit the remote never had   → missing
//	106 switched off                              → not merged: no prediction
//	107 switched off, a staged enable; changes y.txt → clean (the plan applied)
//	108 pinned clean, a staged pin conflicting with #101 (x.txt) → conflicts with #101
func newPredictWorld(t *testing.T) *predictWorld {
	t.Helper()
	return newPredictWorldWith(t, envOptions{}, true)
}

// newPredictWorldWith is newPredictWorld with more env options (the state and the
// predictor are its own); without withMissing, #105 (whose pin was never fetched,
// which makes the predictor fetch once more on its own) is left out of the set.
func newPredictWorldWith(t *testing.T, o envOptions, withMissing bool) *predictWorld {
	t.Helper()
	r := gittest.New(t)
	root := r.Commit("", map[string]string{"a.txt": "one\ntwo\nthree\n", "b.txt": "first\nsecond\n"}, "base")
	master := r.Commit(root, map[string]string{"a.txt": "ONE\ntwo\nthree\n"}, "master moves a.txt")
	r.SetBranch("master", master)
	pins := map[int]string{
		101: r.Commit(root, map[string]string{"x.txt": "x\n"}, "pr 101"),
		102: r.Commit(root, map[string]string{"a.txt": "uno\ntwo\nthree\n"}, "pr 102"),
		103: r.Commit(root, map[string]string{"b.txt": "FIRST\nsecond\n"}, "pr 103"),
		104: r.Commit(root, map[string]string{"b.txt": "Primero\nsecond\n"}, "pr 104"),
		105: missingPin,
		106: r.Commit(root, map[string]string{"z.txt": "z\n"}, "pr 106"),
		107: r.Commit(root, map[string]string{"y.txt": "y\n"}, "pr 107"),
		108: r.Commit(root, map[string]string{"w.txt": "w\n"}, "pr 108"),
	}
	staged108 := r.Commit(pins[108], map[string]string{"x.txt": "not x\n"}, "pr 108, later")
	for n, pin := range pins {
		if n != 105 {
			r.SetPR(n, pin)
		}
	}
	r.SetPR(108, staged108)

	st := persistence.NewState()
	for _, n := range []int{101, 102, 103, 104, 105, 106, 107, 108} {
		if n == 105 && !withMissing {
			continue
		}
		pr := persistence.NewPR(n, pins[n])
		pr.Title = "PR " + strings.Repeat("x", n%3)
		switch n {
		case 106:
			pr.Active = false
		case 107:
			pr.Active, pr.PendingActive = false, new(true)
		case 108:
			pr.PullLatestSHA = staged108
		}
		st.PRs = append(st.PRs, pr)
	}
	mirror := r.Mirror()
	o.stateBytes = st.Marshal()
	e := newEnv(t, envOptions{stateBytes: o.stateBytes, webhookSecret: o.webhookSecret, predictor: func(notify func()) service.MergePredictor {
		m, err := gitmirror.Open(t.Context(), mirror, gitmirror.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return gitmirror.NewPredictor(m, gitmirror.PredictorOptions{OnUpdate: notify, FetchInterval: -1})
	}})
	for n, pin := range pins {
		head := pin
		if n == 108 {
			head = staged108
		}
		e.gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR", Head: head, Author: "a"})
	}
	return &predictWorld{e: e, repo: r, pins: pins, mirror: mirror}
}

// readyStatus polls GetStatus until the prediction is ready (it is computed in the
// background: the first reads answer "pending" at once).
func (w *predictWorld) readyStatus(t *testing.T) *testingv1.GetStatusResponse {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := w.e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		mp := res.Msg.GetMergePrediction()
		if mp.GetState() == testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY && !mp.GetStale() {
			return res.Msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("prediction not ready after 30s: %v", mp)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type predictedRow struct {
	Number int32
	Merge  testingv1.PredictedMerge
	With   int32
	Paths  []string
}

func predictedRows(st *testingv1.GetStatusResponse) []predictedRow {
	var out []predictedRow
	for _, p := range st.Prs {
		out = append(out, predictedRow{p.Number, p.PredictedMerge, p.ConflictsWith, p.ConflictPaths})
	}
	return out
}

func TestPredictedMerges(t *testing.T) {
	t.Parallel()
	w := newPredictWorld(t)
	st := w.readyStatus(t)
	want := []predictedRow{
		{101, testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN, 0, nil},
		{102, testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_BASE, 0, []string{"a.txt"}},
		{103, testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN, 0, nil},
		{104, testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR, 103, []string{"b.txt"}},
		{105, testingv1.PredictedMerge_PREDICTED_MERGE_MISSING, 0, nil},
		{106, testingv1.PredictedMerge_PREDICTED_MERGE_UNSPECIFIED, 0, nil},
		{107, testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN, 0, nil},
		{108, testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR, 101, []string{"x.txt"}},
	}
	if diff := cmp.Diff(want, predictedRows(st)); diff != "" {
		t.Errorf("predicted merges (-want +got):\n%s", diff)
	}
	mp := st.MergePrediction
	if !slices.Equal(mp.WillNotLand, []int32{102, 104, 105, 108}) || mp.BaseBranch != "master" ||
		mp.BaseSha != w.repo.Git("rev-parse", "master") || mp.FetchedAt == nil || mp.Reason != "" {
		t.Errorf("merge prediction: %v", mp)
	}

	// Every prediction is what git merge does, in the deploy script's order, in a
	// scratch clone: the oracle.
	oracle := w.deployOracle(t, []string{w.pins[101], w.pins[102], w.pins[103], w.pins[104], w.pins[107], w.repo.Git("rev-parse", "refs/pull/108/head")})
	if want := []bool{true, false, true, false, true, false}; !slices.Equal(oracle, want) {
		t.Errorf("git merge in the deploy's order merged %v; the prediction says %v", oracle, want)
	}
}

// deployOracle runs the deploy script's algorithm with git merge in a clone of the
// upstream repository: from master, merge each pin, abort and skip on conflict. It
// returns which merged.
func (w *predictWorld) deployOracle(t *testing.T, pins []string) []bool {
	t.Helper()
	dir := t.TempDir()
	w.repo.GitIn(dir, "clone", "-q", w.repo.Dir, "work")
	work := dir + "/work"
	w.repo.GitIn(work, "checkout", "-q", "-B", "dev-merged", "origin/master")
	var merged []bool
	for _, pin := range pins {
		cmd := []string{"-c", "user.name=T", "-c", "user.email=t@example.org", "merge", "-q", "--no-edit", pin}
		if err := w.repo.TryIn(work, cmd...); err != nil {
			w.repo.GitIn(work, "merge", "--abort")
			merged = append(merged, false)
			continue
		}
		merged = append(merged, true)
	}
	return merged
}

// A push (its webhook) makes the mirror fetch at once: nothing else fetches here (no
// fetch on a timer, every pin of the set fetched), yet the PR's new head reaches the
// mirror, so pinning the PR to it (pull-latest) is predicted without waiting.
func TestWebhookPushFetches(t *testing.T) {
	t.Parallel()
	w := newPredictWorldWith(t, envOptions{webhookSecret: hookSecret}, false)
	w.readyStatus(t)
	w.e.gh.SetWebhook(w.e.url+"/webhooks/github", hookSecret)

	head := w.repo.Commit(w.pins[103], map[string]string{"b.txt": "FIRST\nsecond\nthird\n"}, "pr 103, pushed")
	w.repo.SetPR(103, head)
	w.e.gh.SetPull(fakegithub.PullSpec{Number: 103, Title: "PR", Head: head, Author: "a"}) // delivers synchronize
	deadline := time.Now().Add(30 * time.Second)
	for w.repo.TryIn(w.mirror, "cat-file", "-e", head+"^{commit}") != nil {
		if time.Now().After(deadline) {
			t.Fatal("the pushed head never reached the mirror: no fetch after the push's webhook")
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := w.e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rowHead(res.Msg, 103); got != head {
		t.Errorf("#103's head %s; want the pushed %s", got, head)
	}
}

func rowHead(st *testingv1.GetStatusResponse, n int32) string {
	for _, p := range st.Prs {
		if p.Number == n {
			return p.HeadSha
		}
	}
	return ""
}

// A staged change moves the prediction: unstaging the conflicting pin of #108 makes
// it clean; the status says pending, then ready, and a watcher is told.
func TestPredictionFollowsThePlan(t *testing.T) {
	t.Parallel()
	w := newPredictWorld(t)
	w.readyStatus(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := w.e.connect.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := w.e.connect.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{108}, Stage: testingv1.Stage_STAGE_UNSTAGE})); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
		st := stream.Msg().GetStatus()
		if st == nil {
			continue
		}
		if st.GetMergePrediction().GetState() != testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY || st.GetMergePrediction().GetStale() {
			continue
		}
		for _, p := range st.Prs {
			if p.Number == 108 && p.PredictedMerge == testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN {
				if !slices.Equal(st.MergePrediction.WillNotLand, []int32{102, 104, 105}) {
					t.Errorf("will not land: %v", st.MergePrediction.WillNotLand)
				}
				return
			}
		}
	}
	t.Fatalf("no pushed status with #108 predicted clean: %v", stream.Err())
}

func TestConflictMatrix(t *testing.T) {
	t.Parallel()
	w := newPredictWorld(t)
	w.readyStatus(t) // the mirror has fetched
	for name, client := range w.e.clients() {
		t.Run(name, func(t *testing.T) {
			res, err := client.GetConflictMatrix(t.Context(), connect.NewRequest(&testingv1.GetConflictMatrixRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			got := res.Msg
			if got.BaseSha != w.repo.Git("rev-parse", "master") {
				t.Errorf("base %s", got.BaseSha)
			}
			if !slices.Equal(got.Numbers, []int32{101, 103, 104, 107, 108}) || !slices.Equal(got.Missing, []int32{105}) || !slices.Equal(got.ConflictsBase, []int32{102}) {
				t.Errorf("numbers %v, missing %v, conflicts with the base %v", got.Numbers, got.Missing, got.ConflictsBase)
			}
			var pairs []string
			for _, p := range got.Pairs {
				pairs = append(pairs, strings.Join([]string{strconv.Itoa(int(p.A)), strconv.Itoa(int(p.B)), strings.Join(p.Paths, ",")}, " "))
			}
			if want := []string{"101 108 x.txt", "103 104 b.txt"}; !slices.Equal(pairs, want) {
				t.Errorf("pairs %q; want %q", pairs, want)
			}
		})
	}
}

// Without --git-dir the prediction is off and says how to turn it on; the matrix is
// FAILED_PRECONDITION.
func TestPredictionOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	mp := res.Msg.MergePrediction
	if mp.State != testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF || !strings.Contains(mp.Reason, "--git-dir") {
		t.Errorf("merge prediction without --git-dir: %v", mp)
	}
	for _, p := range res.Msg.Prs {
		if p.PredictedMerge != testingv1.PredictedMerge_PREDICTED_MERGE_UNSPECIFIED {
			t.Errorf("#%d predicted %v with the prediction off", p.Number, p.PredictedMerge)
		}
	}
	_, err = e.connect.GetConflictMatrix(t.Context(), connect.NewRequest(&testingv1.GetConflictMatrixRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "--git-dir") {
		t.Errorf("GetConflictMatrix = %v; want FAILED_PRECONDITION naming --git-dir", err)
	}
}

// A mirror that cannot be used (here: not a repository) turns the prediction off with
// the reason; a fetch that fails is reported, and reads go on.
func TestPredictionBroken(t *testing.T) {
	t.Parallel()
	t.Run("not a repository", func(t *testing.T) {
		t.Parallel()
		_, err := gitmirror.Open(t.Context(), t.TempDir(), gitmirror.Options{})
		if err == nil {
			t.Fatal("Open of an empty directory succeeded")
		}
		e := newEnv(t, envOptions{state: "testing-prs.json", predictor: func(func()) service.MergePredictor { return gitmirror.Disabled(err) }})
		e.seedFixturePRs()
		res, gerr := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		if gerr != nil {
			t.Fatal(gerr)
		}
		if mp := res.Msg.MergePrediction; mp.State != testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF || !strings.Contains(mp.Reason, "not a git repository") {
			t.Errorf("merge prediction: %v", mp)
		}
		if _, err := e.connect.GetConflictMatrix(t.Context(), connect.NewRequest(&testingv1.GetConflictMatrixRequest{})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
			t.Errorf("GetConflictMatrix = %v; want FAILED_PRECONDITION", err)
		}
	})
	t.Run("fetch fails", func(t *testing.T) {
		t.Parallel()
		r := gittest.New(t)
		r.SetBranch("master", r.Commit("", map[string]string{"a": "a\n"}, "base"))
		mirror := r.Mirror()
		r.Git("branch", "-m", "master", "main") // the remote has no master any more
		e := newEnv(t, envOptions{state: "testing-prs.json", predictor: func(notify func()) service.MergePredictor {
			m, err := gitmirror.Open(t.Context(), mirror, gitmirror.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return gitmirror.NewPredictor(m, gitmirror.PredictorOptions{OnUpdate: notify, FetchInterval: -1})
		}})
		e.seedFixturePRs()
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			mp := res.Msg.MergePrediction
			if mp.State == testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED {
				if !strings.Contains(mp.Reason, "fetch failed") {
					t.Errorf("reason %q", mp.Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failure reported: %v", mp)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
