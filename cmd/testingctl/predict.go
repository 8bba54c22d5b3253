package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

// The merge prediction: testingd merges the next deploy's pins with git in its mirror
// of the repository (--git-dir) and says which PRs the deploy will skip. status shows
// it per row and in a summary, deploy before asking, and conflicts asks for the
// pairwise matrix.

// maxPaths is how many conflicting paths a one-line reason names before "and N more"
// (a rename can conflict in hundreds; conflicts lists them all).
const maxPaths = 5

// predicted reports whether any row carries a prediction: only then does status add
// its MERGE column, so the table of a server without --git-dir does not change.
func predicted(rows []*testingv1.PullRequest) bool {
	for _, p := range rows {
		if p.PredictedMerge != testingv1.PredictedMerge_PREDICTED_MERGE_UNSPECIFIED {
			return true
		}
	}
	return false
}

// baseName is the base branch as a person reads it.
func baseName(mp *testingv1.MergePrediction) string {
	return cmpOr(mp.GetBaseBranch(), "the base branch")
}

// mergeWord is a row's MERGE cell: what the next deploy is predicted to do with it,
// with a ✗ on the rows it will skip.
func mergeWord(p *testingv1.PullRequest, mp *testingv1.MergePrediction) string {
	switch p.PredictedMerge {
	case testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN:
		return "clean"
	case testingv1.PredictedMerge_PREDICTED_MERGE_EMPTY:
		return "empty" // already in the base: merges, adds nothing
	case testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_BASE:
		return "✗ " + cmpOr(mp.GetBaseBranch(), "base")
	case testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR:
		return "✗ #" + strconv.Itoa(int(p.ConflictsWith))
	case testingv1.PredictedMerge_PREDICTED_MERGE_MISSING:
		return "✗ missing"
	case testingv1.PredictedMerge_PREDICTED_MERGE_REFUSED:
		return "✗ refused"
	}
	return "-"
}

// pathList joins paths for one line, naming at most max of them.
func pathList(paths []string, max int) string {
	if max > 0 && len(paths) > max {
		return strings.Join(paths[:max], ", ") + fmt.Sprintf(" and %d more", len(paths)-max)
	}
	return strings.Join(paths, ", ")
}

// willNotLand is the line saying why the next deploy will skip PR n, as the web UI's
// deploy confirmation words it: "#13370 will not land: conflicts with #13208 in
// openlibrary/plugins/openlibrary/status.py".
func willNotLand(n int32, rows []*testingv1.PullRequest, mp *testingv1.MergePrediction) string {
	line := "#" + strconv.Itoa(int(n)) + " will not land"
	var p *testingv1.PullRequest
	for _, r := range rows {
		if r.Number == n && r.InSet {
			p = r
			break
		}
	}
	if p == nil {
		return line
	}
	in := ""
	if len(p.ConflictPaths) > 0 {
		in = " in " + pathList(p.ConflictPaths, maxPaths)
	}
	switch p.PredictedMerge {
	case testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR:
		return line + ": conflicts with #" + strconv.Itoa(int(p.ConflictsWith)) + in
	case testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_BASE:
		return line + ": conflicts with " + baseName(mp) + in
	case testingv1.PredictedMerge_PREDICTED_MERGE_MISSING:
		return line + ": its pinned commit is not fetched yet"
	case testingv1.PredictedMerge_PREDICTED_MERGE_REFUSED:
		return line + ": git refuses to merge it"
	}
	return line
}

// mirrorLine is status's "Git mirror:" line: which base commit the prediction starts
// from and how fresh the mirror is; "" when the prediction is off.
func mirrorLine(mp *testingv1.MergePrediction, now time.Time) string {
	switch mp.GetState() {
	case testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING,
		testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY,
		testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED:
	default:
		return ""
	}
	base := cmpOr(mp.BaseBranch, "base branch")
	if mp.BaseSha != "" {
		base += " at " + short(mp.BaseSha)
	}
	if mp.FetchedAt == nil {
		return base + ", not fetched yet"
	}
	return base + ", fetched " + when(mp.FetchedAt, now)
}

// renderPrediction prints the summary of the merge prediction: the PRs the next
// deploy will skip, one line each, or that every PR merges, or why there is no
// prediction. With quietOff, a prediction that is off prints nothing (deploy: the
// reason is status's business). A server without the field prints nothing.
func renderPrediction(w io.Writer, mp *testingv1.MergePrediction, rows []*testingv1.PullRequest, quietOff bool) {
	// Rows computed for earlier inputs still show in the MERGE column meanwhile.
	stale := mp.GetStale() && predicted(rows)
	const staleNote = "the MERGE column shows the previous prediction"
	switch mp.GetState() {
	case testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF:
		if !quietOff {
			fmt.Fprintf(w, "Prediction off: %s\n", cmpOr(mp.Reason, "this testingd does not predict merges"))
		}
	case testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING:
		var notes []string
		if mp.Reason != "" && mp.Reason != "computing" { // "computing… (computing)" says nothing
			notes = append(notes, mp.Reason)
		}
		if stale {
			notes = append(notes, staleNote)
		}
		line := "Prediction: computing…"
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintln(w, line)
	case testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED:
		line := "Prediction failed: " + cmpOr(mp.Reason, "git failed")
		if stale {
			line += " (" + staleNote + ")"
		}
		fmt.Fprintln(w, line)
	case testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY:
		switch n := len(mp.WillNotLand); n {
		case 0:
			fmt.Fprintln(w, "Prediction: every PR merges cleanly")
		case 1:
			fmt.Fprintln(w, "Prediction: 1 PR will not land:")
		default:
			fmt.Fprintf(w, "Prediction: %d PRs will not land:\n", n)
		}
		for _, n := range mp.WillNotLand {
			fmt.Fprintf(w, "  %s\n", willNotLand(n, rows, mp))
		}
		if mp.Reason != "" {
			// Ready on an older fetch: the mirror may be behind.
			fmt.Fprintf(w, "  (%s)\n", mp.Reason)
		}
	}
}

func runConflicts(ctx context.Context, a *app, _ *options, _ []string) error {
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.GetConflictMatrix(ctx, connect.NewRequest(&testingv1.GetConflictMatrixRequest{}))
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.out, res.Msg)
	}
	renderConflicts(a.out, res.Msg)
	return nil
}

func numberList(nums []int32) string {
	s := make([]string, len(nums))
	for i, n := range nums {
		s[i] = "#" + strconv.Itoa(int(n))
	}
	return strings.Join(s, ", ")
}

// renderConflicts prints GetConflictMatrix's answer: every conflicting pair with all
// its paths, then the PRs left out of the pairs and why.
func renderConflicts(w io.Writer, m *testingv1.GetConflictMatrixResponse) {
	if len(m.Numbers) > 0 {
		fmt.Fprintf(w, "Merged two by two onto %s: %s\n", cmpOr(short(m.BaseSha), "the base branch"), numberList(m.Numbers))
	}
	if len(m.Pairs) == 0 {
		fmt.Fprintln(w, "No two PRs conflict.")
	}
	for _, p := range m.Pairs {
		line := fmt.Sprintf("#%d × #%d", p.A, p.B)
		if len(p.Paths) > 0 {
			line += ": " + pathList(p.Paths, 0)
		}
		fmt.Fprintf(w, "  %s\n", line)
	}
	if len(m.ConflictsBase) > 0 {
		fmt.Fprintf(w, "Conflicting with the base branch on their own (or refused by git), left out of the pairs: %s\n", numberList(m.ConflictsBase))
	}
	if len(m.Missing) > 0 {
		fmt.Fprintf(w, "Pinned commit not fetched yet, left out of the pairs: %s\n", numberList(m.Missing))
	}
}
