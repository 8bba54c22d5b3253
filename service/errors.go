package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"connectrpc.com/connect"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

var (
	errNotSignedIn      = errors.New("sign in to Open Library as a maintainer to use the testing panel")
	errNotMaintainer    = errors.New("only members of the Open Library maintainers can use the testing panel")
	errAuthUnavailable  = errors.New("cannot check who you are right now (Open Library unavailable); try again shortly")
	errInternal         = errors.New("internal error; the server log has the details")
	errVersionMismatch  = errors.New("the testing set changed since you loaded it; reload and try again")
	errGitHubUnavailble = errors.New("GitHub is unavailable; try again shortly")
)

// connectError maps an error of the domain to a Connect error: the one place where
// codes are decided (API.md Rule 4). Messages are for people and never carry internal
// details: anything unexpected is logged here and reaches the client as INTERNAL.
func (s *Server) connectError(ctx context.Context, err error) error {
	var (
		ce      *connect.Error
		corrupt *persistence.CorruptError
		limited *github.RateLimitError
	)
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	case errors.Is(err, persistence.ErrNotExist):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"there is no testing state file (%s) yet: add a PR (AddPRs) to create it, or start testingd with --auth dev, which creates an empty one",
			filepath.Base(s.store.Path())))
	case errors.As(err, &corrupt):
		s.logger.ErrorContext(ctx, "state file is corrupt; refusing to overwrite it", "err", err)
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
			"the testing state file %s cannot be read (line %d, column %d: %s); nothing was changed: fix or restore the file",
			filepath.Base(s.store.Path()), corrupt.Line, corrupt.Column, corrupt.Reason))
	case errors.Is(err, persistence.ErrVersionMismatch):
		return connect.NewError(connect.CodeAborted, errVersionMismatch)
	case errors.As(err, &limited):
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("GitHub rate limit reached%s; try again then", resetSuffix(limited)))
	case errors.Is(err, github.ErrUnavailable):
		return connect.NewError(connect.CodeUnavailable, errGitHubUnavailble)
	case errors.Is(err, jenkins.ErrUnavailable):
		return connect.NewError(connect.CodeUnavailable, errors.New("Jenkins is unavailable; nothing was changed, try again shortly"))
	}
	s.logger.ErrorContext(ctx, "internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errInternal)
}

// resetSuffix says when a rate limit resets, e.g. " (resets at 17:03 UTC)".
func resetSuffix(e *github.RateLimitError) string {
	if e.Reset.IsZero() {
		return ""
	}
	return " (resets at " + e.Reset.UTC().Format("15:04 UTC") + ")"
}

// driftError explains in words why drift is stale; "" when it is not.
func driftError(res driftResultErr) string {
	if res.err == nil {
		if res.stale {
			return "some drift is being refreshed from GitHub"
		}
		return ""
	}
	var limited *github.RateLimitError
	var low *drift.BudgetError
	switch {
	case errors.As(res.err, &low):
		return low.Error()
	case errors.As(res.err, &limited):
		return "GitHub rate limit reached" + resetSuffix(limited) + "; showing the last known drift"
	case errors.Is(res.err, github.ErrNotFound):
		return "GitHub does not know some of these PRs (or their pinned commits); their drift is unknown"
	default:
		return "GitHub is unavailable; showing the last known drift"
	}
}

type driftResultErr struct {
	stale bool
	err   error
}
