package service

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

var errNothingToDeploy = errors.New("nothing to deploy: the testing server already matches the set")

// How a Deploy ended, as Options.OnDeploy is told.
const (
	DeployTriggered    = "triggered"         // Jenkins accepted it
	DeployUnconfigured = "unconfigured"      // no Jenkins token: state advanced, nothing deployed
	DeployDryRun       = "dry_run"           // the plan was returned, nothing done
	DeployNothing      = "nothing_to_deploy" // refused: the plan is empty (FAILED_PRECONDITION)
	DeployFailed       = "failed"            // Jenkins refused or was unreachable; the state was put back
	DeployAborted      = "aborted"           // stale expected_version, or the caller gave up waiting for another deploy
	DeployError        = "error"             // anything else: the state file unreadable or corrupt, the write failed…
)

// DeployOutcomes lists every outcome OnDeploy may be told.
var DeployOutcomes = []string{DeployTriggered, DeployUnconfigured, DeployDryRun, DeployNothing, DeployFailed, DeployAborted, DeployError}

// deployFailed carries Jenkins' failure out of the transaction, which has restored the
// state file byte for byte.
type deployFailed struct{ err error }

func (e *deployFailed) Error() string { return "deploy failed: " + e.err.Error() }
func (e *deployFailed) Unwrap() error { return e.err }

// Deploy applies the plan and triggers Jenkins (API.md Rule 3).
//
// The new state is written before Jenkins is asked, because the job reads the pins
// from the file; the trigger runs inside the store's transaction, still holding the
// lock, and a refused, failing or unreachable Jenkins makes the transaction put back
// exactly the bytes the file had, so a failed deploy loses nothing and can be retried.
// One deploy runs at a time: a second one waits for the first (or for its own ctx).
func (s *Server) Deploy(ctx context.Context, req *connect.Request[testingv1.DeployRequest]) (*connect.Response[testingv1.DeployResponse], error) {
	v, err := s.requireWriter(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	// Callers refused before this point never deployed; the RPC metrics count them.
	outcome := DeployError
	if s.onDeploy != nil {
		defer func() { s.onDeploy(outcome) }()
	}
	select {
	case s.deploying <- struct{}{}:
		defer func() { <-s.deploying }()
	case <-ctx.Done():
		outcome = DeployAborted
		return nil, connect.NewError(connect.CodeAborted, errors.New("another deploy is running; try again when it is done"))
	}

	snap, err := s.store.Load(ctx)
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	// A lost webhook must not make the deploy ship a PR merged a minute ago.
	s.checkBeforeDeploy(ctx, targets(snap.State))
	facts := s.drift.Resolve(ctx, targets(snap.State)).PRs

	if req.Msg.DryRun {
		if ev := req.Msg.ExpectedVersion; ev != "" && ev != snap.Version {
			outcome = DeployAborted
			return nil, s.connectError(ctx, persistence.ErrVersionMismatch)
		}
		st, err := s.statusAfterWrite(ctx)
		if err != nil {
			return nil, err
		}
		outcome = DeployDryRun
		return connect.NewResponse(&testingv1.DeployResponse{
			Outcome: testingv1.DeployOutcome_DEPLOY_OUTCOME_DRY_RUN,
			Applied: plan(snap.State, facts),
			Status:  st,
		}), nil
	}

	configured := s.jenkins.Configured()
	var (
		applied  []*testingv1.PendingChange
		queueURL string
		lines    []string
	)
	ev := persistence.Event{Actor: v.Username, AuthMethod: v.Method, RPC: "Deploy", Kind: "deploy"}
	_, err = s.store.Transact(ctx, req.Msg.ExpectedVersion,
		func(st *persistence.State) error {
			applied = plan(st, facts)
			if len(applied) == 0 {
				return errNothingToDeploy
			}
			lines = applyDeploy(st, facts, pythonTime(s.now()), configured)
			ev.PRs = deployedPRs(st)
			return nil
		},
		func(before, after persistence.Snapshot) error {
			ev.Time, ev.VersionBefore, ev.VersionAfter = s.now(), before.Version, after.Version
			if configured {
				url, err := s.jenkins.Trigger(ctx, lines)
				if err != nil {
					return &deployFailed{err}
				}
				queueURL = url
				ev.Outcome, ev.JenkinsQueueURL = "triggered", url
			} else {
				ev.Outcome = "unconfigured"
			}
			// Jenkins has the deploy now: a failing audit append must not undo it.
			if err := s.audit.Append(ctx, ev); err != nil {
				s.logger.ErrorContext(ctx, "audit append failed after a deploy", "err", err)
			}
			return nil
		})
	var failed *deployFailed
	switch {
	case errors.As(err, &failed):
		outcome = DeployFailed
		s.recordFailedDeploy(ctx, v, ev, failed.err)
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("Jenkins did not accept the deploy (%s); nothing was changed, every staged change is kept: try again", jenkinsReason(failed.err)))
	case errors.Is(err, errNothingToDeploy):
		outcome = DeployNothing
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNothingToDeploy)
	case errors.Is(err, persistence.ErrVersionMismatch):
		outcome = DeployAborted
		return nil, s.connectError(ctx, err)
	case err != nil:
		return nil, s.connectError(ctx, err)
	}
	// Jenkins has it (or the state advanced unconfigured) whatever happens next.
	res := testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED
	outcome = DeployTriggered
	if !configured {
		res, outcome = testingv1.DeployOutcome_DEPLOY_OUTCOME_UNCONFIGURED, DeployUnconfigured
	}
	s.Notify()
	st, err := s.statusAfterWrite(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.DeployResponse{Outcome: res, Applied: applied, JenkinsQueueUrl: queueURL, Status: st}), nil
}

// recordFailedDeploy appends a deploy_failed event (outside the lock: the state did not
// change).
func (s *Server) recordFailedDeploy(ctx context.Context, v Viewer, ev persistence.Event, cause error) {
	ev.Kind, ev.Outcome, ev.Error, ev.Time = "deploy_failed", "failed", jenkinsReason(cause), s.now()
	ev.VersionAfter = ev.VersionBefore
	if err := s.audit.Append(ctx, ev); err != nil {
		s.logger.ErrorContext(ctx, "audit append failed", "err", err)
	}
	s.logger.WarnContext(ctx, "deploy failed; state restored", "actor", v.Username, "err", cause)
}

// jenkinsReason says why Jenkins failed without internal details.
func jenkinsReason(err error) string {
	switch {
	case errors.Is(err, jenkins.ErrRefused):
		return "Jenkins refused it"
	case errors.Is(err, jenkins.ErrUnavailable):
		return "Jenkins is unreachable or failing"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "the request ended before Jenkins answered"
	}
	return "Jenkins failed"
}

// applyDeploy turns st into the state after the deploy (API.md Rule 3): merged and
// closed PRs leave the set, staged pins and toggles are applied, the removal records are
// cleared, and the deploy is recorded. It returns the Jenkins lines: one per active PR in
// state order.
func applyDeploy(st *persistence.State, facts map[int]drift.Facts, now string, triggered bool) []string {
	kept := st.PRs[:0]
	for _, pr := range st.PRs {
		if f := facts[pr.Number]; f.Merged || f.Closed {
			continue
		}
		if pin := stagedPin(&pr); pin != "" {
			pr.Commit = pin
		}
		pr.PullLatestSHA = ""
		if pr.PendingActive != nil {
			pr.Active, pr.PendingActive = *pr.PendingActive, nil
		}
		kept = append(kept, pr)
	}
	st.PRs = kept
	st.Removed = nil
	st.LastDeployAt = now
	if triggered {
		st.DeployStartedAt = now
	}
	st.Deployed = []persistence.DeployedEntry{}
	var lines []string
	for _, pr := range st.PRs {
		if pr.Active {
			st.Deployed = append(st.Deployed, persistence.DeployedEntry{Key: strconv.Itoa(pr.Number), Title: pr.Title})
			lines = append(lines, jenkins.DeployLine(pr.Number, pr.Title))
		}
	}
	return lines
}

// deployedPRs is the exact set a deploy sends: every row after the deploy with its pin
// and whether it is switched on.
func deployedPRs(st *persistence.State) []persistence.EventPR {
	out := make([]persistence.EventPR, 0, len(st.PRs))
	for _, pr := range st.PRs {
		out = append(out, persistence.EventPR{Number: pr.Number, Title: pr.Title, Result: "deployed", After: persistence.PRFieldsOf(pr)})
	}
	return out
}
