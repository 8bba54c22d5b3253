package service

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/gitmirror"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

// MergePredictor predicts what the next deploy's merges will do, with git in a mirror
// of the repository (implemented by *gitmirror.Predictor; off without --git-dir).
type MergePredictor interface {
	Enabled() bool
	// Prediction never waits: an answer not computed yet is Pending, computed in the
	// background, and announced through the predictor's OnUpdate (Notify).
	Prediction(items []gitmirror.Item) gitmirror.Answer
	// Matrix computes which pairs of items conflict, on demand (cached by inputs).
	Matrix(ctx context.Context, items []gitmirror.Item) (*gitmirror.Matrix, error)
	// Nudge asks for a fetch now (a head moved, a pin was set).
	Nudge()
	Run(ctx context.Context)
}

// deployItems are the PRs the next deploy merges, in state order, with the commits it
// merges: the state with the plan applied (applyDeploy), active rows only.
func deployItems(st *persistence.State, facts map[int]drift.Facts) []gitmirror.Item {
	after := st.Clone()
	applyDeploy(after, facts, "", false)
	items := make([]gitmirror.Item, 0, len(after.PRs))
	for _, pr := range after.PRs {
		if pr.Active {
			items = append(items, gitmirror.Item{Number: pr.Number, Pin: pr.Commit})
		}
	}
	return items
}

// predictMerges fills the rows' predicted_merge and returns the MergePrediction of the
// status. It never waits for git.
func (s *Server) predictMerges(st *persistence.State, facts map[int]drift.Facts, rows []*testingv1.PullRequest) *testingv1.MergePrediction {
	mp := &testingv1.MergePrediction{State: testingv1.MergePredictionState_MERGE_PREDICTION_STATE_OFF, Reason: predictionOffReason}
	if s.predictor == nil {
		return mp
	}
	a := s.predictor.Prediction(deployItems(st, facts))
	if a.State == gitmirror.Off {
		// --git-dir given but unusable (git missing, not a repository): say why.
		mp.Reason = a.Reason
		return mp
	}
	mp.Reason, mp.Stale = a.Reason, a.Stale
	mp.BaseBranch, mp.BaseSha = a.Mirror.BaseBranch, a.Mirror.BaseSHA
	if a.Mirror.FetchErr == nil && !a.Mirror.FetchedAt.IsZero() {
		mp.FetchedAt = timestamp(a.Mirror.FetchedAt, true)
	}
	switch a.State {
	case gitmirror.Pending:
		mp.State = testingv1.MergePredictionState_MERGE_PREDICTION_STATE_PENDING
	case gitmirror.Ready:
		mp.State = testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY
	default:
		mp.State = testingv1.MergePredictionState_MERGE_PREDICTION_STATE_FAILED
	}
	if mp.State == testingv1.MergePredictionState_MERGE_PREDICTION_STATE_READY && a.Mirror.FetchErr != nil {
		// Ready on what was fetched before; say that the mirror may be behind.
		mp.Reason = "the last fetch failed (" + a.Mirror.FetchErr.Error() + "); predicted on what was fetched before"
	}
	if a.Prediction == nil {
		return mp
	}
	byNumber := make(map[int32]*testingv1.PullRequest, len(rows))
	for _, r := range rows {
		if r.InSet {
			byNumber[r.Number] = r
		}
	}
	for _, o := range a.Prediction.Items {
		r := byNumber[int32(o.Number)]
		if r == nil {
			continue
		}
		r.PredictedMerge = predictedMerge(o.Status)
		if o.Status == gitmirror.ConflictsPR {
			r.ConflictsWith = int32(o.With)
		}
		r.ConflictPaths = slices.Clone(o.Paths)
		if !o.Status.Merged() {
			mp.WillNotLand = append(mp.WillNotLand, int32(o.Number))
		}
	}
	return mp
}

func predictedMerge(s gitmirror.Status) testingv1.PredictedMerge {
	switch s {
	case gitmirror.Clean:
		return testingv1.PredictedMerge_PREDICTED_MERGE_CLEAN
	case gitmirror.ConflictsBase:
		return testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_BASE
	case gitmirror.ConflictsPR:
		return testingv1.PredictedMerge_PREDICTED_MERGE_CONFLICTS_PR
	case gitmirror.Missing:
		return testingv1.PredictedMerge_PREDICTED_MERGE_MISSING
	case gitmirror.Empty:
		return testingv1.PredictedMerge_PREDICTED_MERGE_EMPTY
	case gitmirror.Refused:
		return testingv1.PredictedMerge_PREDICTED_MERGE_REFUSED
	}
	return testingv1.PredictedMerge_PREDICTED_MERGE_UNSPECIFIED
}

// nudgePredictor asks the mirror for a fetch (a pin was set, a head moved).
func (s *Server) nudgePredictor() {
	if s.predictor != nil {
		s.predictor.Nudge()
	}
}

// predictionOffReason is why there is no prediction without --git-dir, in the status
// and in GetConflictMatrix's error.
const predictionOffReason = "start testingd with --git-dir to predict the deploy's merges"

var errPredictionOff = errors.New("deploy prediction is off: " + predictionOffReason)

// GetConflictMatrix says which pairs of the PRs active after the next deploy conflict.
func (s *Server) GetConflictMatrix(ctx context.Context, req *connect.Request[testingv1.GetConflictMatrixRequest]) (*connect.Response[testingv1.GetConflictMatrixResponse], error) {
	if _, err := s.requireMaintainer(ctx, req.Header()); err != nil {
		return nil, err
	}
	if s.predictor == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errPredictionOff)
	}
	if !s.predictor.Enabled() {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New(s.predictor.Prediction(nil).Reason))
	}
	snap, err := s.store.Load(ctx)
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	st := snap.State
	res := s.drift.Resolve(ctx, targets(st))
	mx, err := s.predictor.Matrix(ctx, deployItems(st, res.PRs))
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, connect.NewError(connect.CodeDeadlineExceeded, errors.New("the conflict matrix is still being computed; ask again"))
	case errors.Is(err, gitmirror.ErrBaseMissing):
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("the repository mirror has not fetched the base branch yet; ask again shortly"))
	default:
		s.logger.WarnContext(ctx, "conflict matrix failed", "err", err)
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("git could not compute the conflict matrix: "+err.Error()))
	}
	out := &testingv1.GetConflictMatrixResponse{BaseSha: mx.Base}
	for _, o := range mx.Items {
		switch o.Status {
		case gitmirror.Missing:
			out.Missing = append(out.Missing, int32(o.Number))
		case gitmirror.ConflictsBase, gitmirror.Refused:
			out.ConflictsBase = append(out.ConflictsBase, int32(o.Number))
		default:
			out.Numbers = append(out.Numbers, int32(o.Number))
		}
	}
	for _, p := range mx.Pairs {
		out.Pairs = append(out.Pairs, &testingv1.ConflictPair{A: int32(p.A), B: int32(p.B), Paths: slices.Clone(p.Paths)})
	}
	return connect.NewResponse(out), nil
}
