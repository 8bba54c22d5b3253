package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/gitmirror"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/gittest"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
)

// predictWorld is a world whose testingd predicts merges with git, in a bare mirror
// of an upstream repository built for the test (internal/gittest).
type predictWorld struct {
	*world
	repo *gittest.Repo
	pins map[int]string
	api  testingv1connect.TestingServiceClient // to wait for the prediction in-process
}

const unfetchedPin = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

// mirrorPredictor opens the bare mirror at dir as testingd does with --git-dir; the
// periodic fetch is off, so the mirror fetches only when the service asks.
func mirrorPredictor(t *testing.T, dir string) func(notify func()) service.MergePredictor {
	return func(notify func()) service.MergePredictor {
		m, err := gitmirror.Open(t.Context(), dir, gitmirror.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return gitmirror.NewPredictor(m, gitmirror.PredictorOptions{OnUpdate: notify, FetchInterval: -1})
	}
}

// newPredictWorld: master has a.txt, b.txt and c.txt, then changes a.txt. The PRs,
// in state order, all new (the next deploy adds them):
//
//	101 adds x.txt                                   → clean
//	102 changes a.txt as master did not              → conflicts with master (a.txt)
//	103 changes b.txt and c.txt                      → clean
//	104 changes b.txt and c.txt otherwise            → conflicts with #103 (b.txt, c.txt)
//	105 pinned at a commit the remote never had      → not fetched
//	106 an unrelated history                         → git refuses
//	107 pinned at master's parent, already in master → empty (lands: nothing to add)
func newPredictWorld(t *testing.T) *predictWorld {
	t.Helper()
	r := gittest.New(t)
	root := r.Commit("", map[string]string{"a.txt": "one\ntwo\nthree\n", "b.txt": "first\nsecond\n", "c.txt": "alpha\nbeta\n"}, "base")
	r.SetBranch("master", r.Commit(root, map[string]string{"a.txt": "ONE\ntwo\nthree\n"}, "master moves a.txt"))
	pins := map[int]string{
		101: r.Commit(root, map[string]string{"x.txt": "x\n"}, "pr 101"),
		102: r.Commit(root, map[string]string{"a.txt": "uno\ntwo\nthree\n"}, "pr 102"),
		103: r.Commit(root, map[string]string{"b.txt": "FIRST\nsecond\n", "c.txt": "ALPHA\nbeta\n"}, "pr 103"),
		104: r.Commit(root, map[string]string{"b.txt": "Primero\nsecond\n", "c.txt": "Alef\nbeta\n"}, "pr 104"),
		105: unfetchedPin,
		106: r.Commit("", map[string]string{"z.txt": "unrelated\n"}, "pr 106"),
		107: root,
	}
	for n, pin := range pins {
		if n != 105 {
			r.SetPR(n, pin)
		}
	}
	st := persistence.NewState()
	for _, n := range []int{101, 102, 103, 104, 105, 106, 107} {
		pr := persistence.NewPR(n, pins[n])
		pr.Title = "PR " + itoa(n)
		st.PRs = append(st.PRs, pr)
	}
	w := newWorld(t, worldOptions{state: st.Marshal(), predictor: mirrorPredictor(t, r.Mirror())})
	for n, pin := range pins {
		w.gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR " + itoa(n), Head: pin, Author: "a"})
	}
	return &predictWorld{world: w, repo: r, pins: pins, api: testingv1connect.NewTestingServiceClient(http.DefaultClient, w.url)}
}

func itoa(n int) string { return strconv.Itoa(n) }

// waitPrediction polls GetStatus (the prediction is computed in the background; a read
// never waits for it) until the prediction is ready, not stale, and ok accepts it.
func (w *predictWorld) waitPrediction(t *testing.T, what string, ok func(*testingv1.GetStatusResponse) bool) *testingv1.GetStatusResponse {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := w.api.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		st := res.Msg
		mp := st.GetMergePrediction()
		if mp.GetState() == testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY && !mp.GetStale() && ok(st) {
			return st
		}
		if time.Now().After(end) {
			t.Fatalf("no ready prediction with %s within %s: %v", what, deadline, mp)
		}
		<-tick.C
	}
}

// settled runs testingctl until its output shows a computed prediction. The mirror
// may fetch again after the prediction was ready (the start's fetch and the first
// read's overlap), and a fetch sends a prediction with an unfetched pin back to
// "computing" (the fetch may have brought it): poll, bounded by the deadline.
func (w *predictWorld) settled(t *testing.T, args ...string) result {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		r := w.ctl(t, args...).must(t, 0, strings.Join(args, " "))
		if !strings.Contains(r.stdout, "Prediction: computing…") && !strings.Contains(r.stdout, "MERGE_PREDICTION_STATE_PENDING") {
			return r
		}
		if time.Now().After(end) {
			t.Fatalf("testingctl %s still shows the prediction computing after %s:\n%s", strings.Join(args, " "), deadline, r.stdout)
		}
		time.Sleep(20 * time.Millisecond) // a poll tick
	}
}

// lineOf returns the line of s that starts with prefix.
func lineOf(s, prefix string) string {
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimRight(line, "\n")
		}
	}
	return ""
}

// inOrder checks that s shows wants in this order.
func inOrder(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	at := 0
	for _, want := range wants {
		i := strings.Index(s[at:], want)
		if i < 0 {
			t.Errorf("%s does not show %q (after what came before):\n%s", what, want, s)
			return
		}
		at += i + len(want)
	}
}

var willNotLandLines = []string{
	"Prediction: 4 PRs will not land:",
	"  #102 will not land: conflicts with master in a.txt",
	"  #104 will not land: conflicts with #103 in b.txt, c.txt",
	"  #105 will not land: its pinned commit is not fetched yet",
	"  #106 will not land: git refuses to merge it",
}

func TestPredictionStatus(t *testing.T) {
	t.Parallel()
	w := newPredictWorld(t)
	w.waitPrediction(t, "the PRs fetched", func(st *testingv1.GetStatusResponse) bool {
		return slices.Equal(st.MergePrediction.WillNotLand, []int32{102, 104, 105, 106})
	})

	t.Run("text", func(t *testing.T) {
		t.Parallel()
		out := w.settled(t, "status").stdout
		human := squeeze(out)
		for n, want := range map[int]string{
			101: "clean", 102: "✗ master", 103: "clean", 104: "✗ #103", 105: "✗ missing", 106: "✗ refused", 107: "empty",
		} {
			// PR ON PIN DRIFT NEXT MERGE FLAGS TITLE: MERGE after NEXT (add).
			if line := lineOf(human, "#"+itoa(n)+" "); !strings.Contains(line, " add "+want+" - PR ") {
				t.Errorf("row #%d = %q; want MERGE %q", n, line, want)
			}
		}
		master := w.repo.Git("rev-parse", "master")
		inOrder(t, "status", human,
			"Git mirror: master at "+short(master)+", fetched ",
			"PR ON PIN DRIFT NEXT MERGE FLAGS TITLE",
			"#107 ",
			"Prediction: 4 PRs will not land:",
			"#106 will not land",
			"Next deploy: 7 change(s)")
		// The lines themselves are exact (squeeze would hide their indent).
		inOrder(t, "status", out, willNotLandLines...)
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		for _, proto := range protocols {
			r := w.settled(t, "--protocol", proto, "status", "--json")
			var st testingv1.GetStatusResponse
			r.parse(t, &st)
			mp := st.MergePrediction
			if mp.State != testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY || !slices.Equal(mp.WillNotLand, []int32{102, 104, 105, 106}) ||
				mp.BaseBranch != "master" || mp.BaseSha != w.repo.Git("rev-parse", "master") || mp.FetchedAt == nil {
				t.Errorf("%s: mergePrediction = %v", proto, mp)
			}
			if p := row(t, &st, 104); p.PredictedMerge != testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR || p.ConflictsWith != 103 || !slices.Equal(p.ConflictPaths, []string{"b.txt", "c.txt"}) {
				t.Errorf("%s: row 104 predicted %v with #%d in %q", proto, p.PredictedMerge, p.ConflictsWith, p.ConflictPaths)
			}
			// The new fields by their JSON names, present even when empty.
			var raw struct {
				MergePrediction map[string]any   `json:"mergePrediction"`
				Prs             []map[string]any `json:"prs"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"state", "reason", "stale", "baseBranch", "baseSha", "fetchedAt", "willNotLand"} {
				if _, ok := raw.MergePrediction[key]; !ok {
					t.Errorf("%s: mergePrediction has no %q: %v", proto, key, raw.MergePrediction)
				}
			}
			for _, key := range []string{"predictedMerge", "conflictsWith", "conflictPaths"} {
				if _, ok := raw.Prs[0][key]; !ok {
					t.Errorf("%s: a row has no %q: %v", proto, key, raw.Prs[0])
				}
			}
			if raw.Prs[0]["predictedMerge"] != "PREDICTED_MERGE_CLEAN" || raw.MergePrediction["state"] != "MERGE_PREDICTION_STATE_READY" {
				t.Errorf("%s: enums not by name: %v, %v", proto, raw.Prs[0]["predictedMerge"], raw.MergePrediction["state"])
			}
		}
	})

	t.Run("deploy --dry-run", func(t *testing.T) {
		t.Parallel()
		out := w.settled(t, "deploy", "--dry-run").stdout
		inOrder(t, "deploy --dry-run", out, append(append([]string{"Deploy would apply: 7 change(s)"}, willNotLandLines...), "Deploy it with: testingctl deploy")...)
		var res testingv1.DeployResponse
		w.settled(t, "deploy", "--dry-run", "--json").parse(t, &res)
		if got := res.Status.GetMergePrediction().GetWillNotLand(); !slices.Equal(got, []int32{102, 104, 105, 106}) {
			t.Errorf("deploy --dry-run --json: willNotLand %v", got)
		}
	})

	t.Run("deploy asks after the lines", func(t *testing.T) {
		t.Parallel()
		const prompt = "Deploy these 7 change(s) to the testing server? [y/N]"
		// ask shows deploy's confirmation on a terminal, declines, and returns the
		// screen (the terminal turns \n into \r\n).
		ask := func() string {
			master, tty := openPTY(t)
			cmd := exec.Command(binary, "deploy")
			cmd.Env = env("TESTINGCTL_SERVER=" + w.url)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			tty.Close()
			exited := make(chan int, 1)
			go func() {
				_ = cmd.Wait()
				exited <- cmd.ProcessState.ExitCode()
			}()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			sc := watchScreen(master)
			sc.waitFor(t, prompt, 1)
			if _, err := master.WriteString("n\n"); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, exited); code != 1 {
				t.Fatalf("exit %d, want 1 (declined):\n%s", code, sc.String())
			}
			return strings.ReplaceAll(sc.String(), "\r\n", "\n")
		}
		screen := ask()
		for end := time.Now().Add(deadline); strings.Contains(screen, "Prediction: computing…"); screen = ask() {
			if time.Now().After(end) {
				t.Fatalf("deploy still shows the prediction computing after %s:\n%s", deadline, screen)
			}
		}
		inOrder(t, "the confirmation", screen, append(append([]string{"Deploy: 7 change(s)"}, willNotLandLines...), prompt)...)
		if n := len(w.jk.Triggers()); n != 0 {
			t.Errorf("Jenkins triggered %d time(s) after no", n)
		}
	})

	t.Run("conflicts", func(t *testing.T) {
		t.Parallel()
		for _, proto := range protocols {
			out := w.ctl(t, "--protocol", proto, "conflicts").must(t, 0, "conflicts").stdout
			want := "Merged two by two onto " + short(w.repo.Git("rev-parse", "master")) + ": #101, #103, #104, #107\n" +
				"  #103 × #104: b.txt, c.txt\n" +
				"Conflicting with the base branch on their own (or refused by git), left out of the pairs: #102, #106\n" +
				"Pinned commit not fetched yet, left out of the pairs: #105\n"
			if out != want {
				t.Errorf("%s: conflicts printed\n%s\nwant\n%s", proto, out, want)
			}
			var m testingv1.GetConflictMatrixResponse
			w.ctl(t, "--protocol", proto, "conflicts", "--json").must(t, 0, "conflicts --json").parse(t, &m)
			if len(m.Pairs) != 1 || m.Pairs[0].A != 103 || m.Pairs[0].B != 104 || !slices.Equal(m.Pairs[0].Paths, []string{"b.txt", "c.txt"}) ||
				!slices.Equal(m.Numbers, []int32{101, 103, 104, 107}) || !slices.Equal(m.Missing, []int32{105}) || !slices.Equal(m.ConflictsBase, []int32{102, 106}) ||
				m.BaseSha != w.repo.Git("rev-parse", "master") {
				t.Errorf("%s: conflicts --json = %v", proto, &m)
			}
		}
	})
}

// The prediction follows the plan: switching PRs off takes them out of the merges.
func TestPredictionFollowsPlan(t *testing.T) {
	t.Parallel()
	w := newPredictWorld(t)
	w.waitPrediction(t, "the PRs fetched", func(st *testingv1.GetStatusResponse) bool {
		return slices.Equal(st.MergePrediction.WillNotLand, []int32{102, 104, 105, 106})
	})

	w.ctl(t, "disable", "104").must(t, 0, "disable 104")
	w.waitPrediction(t, "#104 off", func(st *testingv1.GetStatusResponse) bool {
		return slices.Equal(st.MergePrediction.WillNotLand, []int32{102, 105, 106})
	})
	if out := w.ctl(t, "conflicts").must(t, 0, "conflicts").stdout; !strings.Contains(out, "\nNo two PRs conflict.\n") || strings.Contains(out, "×") {
		t.Errorf("conflicts without #104:\n%s", out)
	}
	if out := w.settled(t, "status").stdout; !strings.Contains(out, "\nPrediction: 3 PRs will not land:\n") || strings.Contains(out, "#104 will not land") {
		t.Errorf("status without #104:\n%s", out)
	}

	w.ctl(t, "disable", "102", "105", "106").must(t, 0, "disable the rest")
	w.waitPrediction(t, "none left out", func(st *testingv1.GetStatusResponse) bool { return len(st.MergePrediction.WillNotLand) == 0 })
	for _, args := range [][]string{{"status"}, {"deploy", "--dry-run"}} {
		out := w.settled(t, args...).stdout
		if !strings.Contains(out, "\nPrediction: every PR merges cleanly\n") || strings.Contains(out, "will not land") {
			t.Errorf("%s with every PR clean:\n%s", strings.Join(args, " "), out)
		}
	}
}

// Without --git-dir the prediction is off: one line in status, nothing in deploy, and
// conflicts is refused with what to do.
func TestPredictionOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	out := w.ctl(t, "status").must(t, 0, "status").stdout
	if !strings.Contains(out, "\nPrediction off: start testingd with --git-dir to predict the deploy's merges\n") ||
		strings.Contains(out, "MERGE") || strings.Contains(out, "Git mirror:") {
		t.Errorf("status without a prediction:\n%s", out)
	}
	if out := w.ctl(t, "deploy", "--dry-run").must(t, 0, "deploy --dry-run").stdout; strings.Contains(out, "Prediction") {
		t.Errorf("deploy --dry-run mentions the prediction that is off:\n%s", out)
	}
	r := w.ctl(t, "conflicts").must(t, 3, "conflicts without --git-dir")
	if !strings.Contains(r.stderr, "testingctl: deploy prediction is off") || !strings.Contains(r.stderr, "\n  start testingd with --git-dir") || r.stdout != "" {
		t.Errorf("conflicts without --git-dir:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
	r = w.ctl(t, "conflicts", "--json").must(t, 3, "conflicts --json without --git-dir")
	var e jsonError
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code != "failed_precondition" || e.Error.ExitCode != 3 || !strings.Contains(e.Error.Hint, "--git-dir") || r.stdout != "" {
		t.Errorf("conflicts --json without --git-dir: %v\nstdout %q\nstderr %q", err, r.stdout, r.stderr)
	}
	// A matrix not ready in time is "try again later" (here the deadline passes before
	// the request goes out: the mapping is the CLI's).
	r = w.ctl(t, "conflicts", "--timeout", "1ns").must(t, 4, "conflicts out of time")
	if !strings.Contains(r.stderr, "the conflict matrix was not ready within 1ns") || !strings.Contains(r.stderr, "ask again") {
		t.Errorf("conflicts out of time:\n%s", r.stderr)
	}
}

// A --git-dir that is not a repository turns the prediction off with the reason; a
// fetch that fails says so.
func TestPredictionBroken(t *testing.T) {
	t.Parallel()
	t.Run("not a repository", func(t *testing.T) {
		t.Parallel()
		_, err := gitmirror.Open(t.Context(), t.TempDir(), gitmirror.Options{})
		if err == nil {
			t.Fatal("Open of an empty directory succeeded")
		}
		w := newWorld(t, worldOptions{predictor: func(func()) service.MergePredictor { return gitmirror.Disabled(err) }})
		out := w.ctl(t, "status").must(t, 0, "status").stdout
		if line := lineOf(out, "Prediction off: "); !strings.Contains(line, "not a git repository") {
			t.Errorf("status with a broken --git-dir: %q\n%s", line, out)
		}
		r := w.ctl(t, "conflicts").must(t, 3, "conflicts with a broken --git-dir")
		if !strings.Contains(r.stderr, "not a git repository") {
			t.Errorf("conflicts with a broken --git-dir:\n%s", r.stderr)
		}
	})
	t.Run("fetch fails", func(t *testing.T) {
		t.Parallel()
		r := gittest.New(t)
		r.SetBranch("master", r.Commit("", map[string]string{"a": "a\n"}, "base"))
		mirror := r.Mirror()
		r.Git("branch", "-m", "master", "main") // the remote has no master any more
		w := newWorld(t, worldOptions{predictor: mirrorPredictor(t, mirror)})
		api := testingv1connect.NewTestingServiceClient(http.DefaultClient, w.url)
		end := time.Now().Add(deadline)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			res, err := api.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if res.Msg.MergePrediction.GetState() == testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("no failure within %s: %v", deadline, res.Msg.MergePrediction)
			}
			<-tick.C
		}
		out := w.ctl(t, "status").must(t, 0, "status").stdout
		if line := lineOf(out, "Prediction failed: "); !strings.Contains(line, "fetch failed") {
			t.Errorf("status after a failed fetch: %q\n%s", line, out)
		}
	})
}

// TestRenderPrediction pins the summary of every state, including those a real
// server shows only for a moment (pending, stale).
func TestRenderPrediction(t *testing.T) {
	t.Parallel()
	rows := []*testingv1.PullRequest{
		{Number: 13208, InSet: true, PredictedMerge: testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN},
		{Number: 13370, InSet: true, PredictedMerge: testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR, ConflictsWith: 13208,
			ConflictPaths: []string{"openlibrary/plugins/openlibrary/status.py"}},
		{Number: 13371, InSet: true, PredictedMerge: testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_BASE, ConflictPaths: []string{"a", "b", "c", "d", "e", "f", "g"}},
		{Number: 13372, InSet: true, PredictedMerge: testingv1.PredictedMerge_PREDICTED_MERGE_MISSING},
		{Number: 13373, InSet: true, PredictedMerge: testingv1.PredictedMerge_PREDICTED_MERGE_REFUSED},
	}
	ready := testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY
	cases := []struct {
		name     string
		mp       *testingv1.MergePrediction
		rows     []*testingv1.PullRequest
		quietOff bool
		want     string
	}{
		{"an older server", nil, rows, false, ""},
		{"off", &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF, Reason: "start testingd with --git-dir to predict the deploy's merges"}, nil, false,
			"Prediction off: start testingd with --git-dir to predict the deploy's merges\n"},
		{"off, quiet", &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF, Reason: "x"}, nil, true, ""},
		{"pending", &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING}, nil, false, "Prediction: computing…\n"},
		{"pending, stale", &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING, Reason: "fetching the PRs", Stale: true, WillNotLand: []int32{13370}}, rows, true,
			"Prediction: computing… (fetching the PRs; the MERGE column shows the previous prediction)\n"},
		{"failed", &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED, Reason: "git fetch failed: exit status 128"}, nil, false,
			"Prediction failed: git fetch failed: exit status 128\n"},
		{"ready, clean", &testingv1.MergePrediction{State: ready, BaseBranch: "master"}, rows[:1], false, "Prediction: every PR merges cleanly\n"},
		{"ready, one", &testingv1.MergePrediction{State: ready, BaseBranch: "master", WillNotLand: []int32{13370}}, rows, false,
			"Prediction: 1 PR will not land:\n  #13370 will not land: conflicts with #13208 in openlibrary/plugins/openlibrary/status.py\n"},
		{"ready, all kinds", &testingv1.MergePrediction{State: ready, BaseBranch: "master", WillNotLand: []int32{13370, 13371, 13372, 13373}, Reason: "the last fetch failed (timeout); predicted on what was fetched before"}, rows, false,
			"Prediction: 4 PRs will not land:\n" +
				"  #13370 will not land: conflicts with #13208 in openlibrary/plugins/openlibrary/status.py\n" +
				"  #13371 will not land: conflicts with master in a, b, c, d, e and 2 more\n" +
				"  #13372 will not land: its pinned commit is not fetched yet\n" +
				"  #13373 will not land: git refuses to merge it\n" +
				"  (the last fetch failed (timeout); predicted on what was fetched before)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			renderPrediction(&b, c.mp, c.rows, c.quietOff)
			if b.String() != c.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), c.want)
			}
		})
	}
	t.Run("mirror line", func(t *testing.T) {
		t.Parallel()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		mp := &testingv1.MergePrediction{State: ready, BaseBranch: "master", BaseSha: "1a2b3c4d5e6f", FetchedAt: timestamppb.New(now.Add(-3 * time.Minute))}
		if got := mirrorLine(mp, now); !strings.HasPrefix(got, "master at 1a2b3c4, fetched ") || !strings.HasSuffix(got, "(3m ago)") {
			t.Errorf("mirror line %q", got)
		}
		if got := mirrorLine(&testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING, BaseBranch: "master"}, now); got != "master, not fetched yet" {
			t.Errorf("mirror line before the first fetch %q", got)
		}
		if got := mirrorLine(&testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF}, now); got != "" {
			t.Errorf("mirror line when off %q", got)
		}
	})
}

// conflicts is a command like the others: in help, in every completion script, and
// completed by bash.
func TestConflictsCommand(t *testing.T) {
	t.Parallel()
	noServer := []string{"TESTINGCTL_SERVER=http://127.0.0.1:1"}
	if r := runCtl(t, noServer, "", "help").must(t, 0, "help"); !strings.Contains(r.stdout, "\n  conflicts ") {
		t.Errorf("help does not list conflicts:\n%s", r.stdout)
	}
	if r := runCtl(t, noServer, "", "help", "conflicts").must(t, 0, "help conflicts"); !strings.Contains(r.stdout, "RPC: GetConflictMatrix") || !strings.Contains(r.stdout, "--git-dir") {
		t.Errorf("help conflicts:\n%s", r.stdout)
	}
	runCtl(t, noServer, "", "conflicts", "101").must(t, 2, "conflicts with an argument")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if r := runCtl(t, nil, "", "completion", shell).must(t, 0, "completion "+shell); !strings.Contains(r.stdout, "conflicts") {
			t.Errorf("the %s script lacks conflicts", shell)
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script := runCtl(t, nil, "", "completion", "bash").must(t, 0, "completion bash").stdout
	out, err := exec.Command("bash", "-c", script+"\nCOMP_WORDS=(testingctl conf); COMP_CWORD=1; _testingctl; echo \"${COMPREPLY[*]}\"").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "conflicts" {
		t.Errorf("testingctl conf<TAB> = %q (%v)", out, err)
	}
}
