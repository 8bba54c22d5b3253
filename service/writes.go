package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/persistence"
)

// maxBatch bounds every batch request (API.md Rule 4).
const maxBatch = 100

// lookupConcurrency bounds the GitHub lookups of one batch.
const lookupConcurrency = 20

// pythonTime formats t as Python's datetime.now(UTC).isoformat() does, so the
// legacy reader, which compares these as strings, sees the same shape it writes.
func pythonTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

// transact runs one audited write: fn changes the state under the store's lock and
// fills the event; the event is appended under that same lock, so the audit trail is in
// the order of the changes it describes, across processes. A failed append undoes the
// change. Watchers are told afterwards.
func (s *Server) transact(ctx context.Context, v Viewer, rpc, kind, expectedVersion string, fn func(st *persistence.State, ev *persistence.Event) error) (persistence.Snapshot, error) {
	ev := persistence.Event{Actor: v.Username, AuthMethod: v.Method, RPC: rpc, Kind: kind}
	snap, err := s.store.Transact(ctx, expectedVersion,
		func(st *persistence.State) error { return fn(st, &ev) },
		func(before, after persistence.Snapshot) error {
			ev.VersionBefore, ev.VersionAfter = before.Version, after.Version
			ev.Time = s.now()
			return s.audit.Append(ctx, ev)
		})
	if err == nil {
		s.Notify()
	}
	return snap, err
}

// statusAfterWrite is the status a write answers with.
func (s *Server) statusAfterWrite(ctx context.Context) (*testingv1.GetStatusResponse, error) {
	st, err := s.status(ctx)
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	return st, nil
}

// lookup asks GitHub about PRs concurrently (one round trip for the whole batch) and
// shares what it learned with the drift resolver.
func (s *Server) lookup(ctx context.Context, numbers []int) ([]github.Pull, []error) {
	pulls := make([]github.Pull, len(numbers))
	errs := make([]error, len(numbers))
	sem := make(chan struct{}, lookupConcurrency)
	var wg sync.WaitGroup
	for i, n := range numbers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pulls[i], errs[i] = s.github.GetPull(ctx, n)
		})
	}
	wg.Wait()
	var found []github.Pull
	for i := range numbers {
		if errs[i] == nil {
			found = append(found, pulls[i])
		}
	}
	s.drift.Learn(ctx, found)
	return pulls, errs
}

// lookupMessage says in words why a lookup failed.
func lookupMessage(n int, err error) (string, bool) {
	var limited *github.RateLimitError
	switch {
	case errors.Is(err, github.ErrNotFound):
		return fmt.Sprintf("GitHub has no pull request #%d", n), true
	case errors.As(err, &limited):
		return "GitHub rate limit reached" + resetSuffix(limited) + "; try again then", false
	default:
		return "GitHub could not be asked; try again shortly", false
	}
}

// AddPRs adds PRs to the set, each pinned to its current head.
func (s *Server) AddPRs(ctx context.Context, req *connect.Request[testingv1.AddPRsRequest]) (*connect.Response[testingv1.AddPRsResponse], error) {
	v, err := s.requireWriter(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	refs := req.Msg.Refs
	switch {
	case len(refs) == 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("no refs: give PR numbers, #N, PR URLs or deploy lines"))
	case len(refs) > maxBatch:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%d refs; at most %d at a time", len(refs), maxBatch))
	}

	results := make([]*testingv1.AddResult, len(refs))
	var numbers []int // distinct, in request order
	seen := map[int]bool{}
	for i, ref := range refs {
		results[i] = &testingv1.AddResult{Ref: ref}
		n, err := ParseRef(ref, s.repo)
		if err != nil {
			results[i].Outcome, results[i].Message = testingv1.AddOutcome_ADD_OUTCOME_INVALID_REF, err.Error()
			continue
		}
		results[i].Number = int32(n)
		if !seen[n] {
			seen[n] = true
			numbers = append(numbers, n)
		}
	}

	// Look up only what is not in the set already (read without the lock; the write
	// below decides again under it).
	snap, err := s.store.Load(ctx)
	if errors.Is(err, persistence.ErrNotExist) {
		// As legacy "add" does: the first add creates the file (taking the lock only then).
		snap, _, err = s.store.Create(ctx)
	}
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	var lookups []int
	for _, n := range numbers {
		if _, ok := snap.State.Find(n); !ok {
			lookups = append(lookups, n)
		}
	}
	pulls, errs := s.lookup(ctx, lookups)
	looked := make(map[int]int, len(lookups))
	for i, n := range lookups {
		looked[n] = i
	}

	outcome := map[int]*testingv1.AddResult{}
	_, err = s.transact(ctx, v, "AddPRs", "add", req.Msg.ExpectedVersion, func(st *persistence.State, ev *persistence.Event) error {
		clear(outcome)
		ev.PRs = nil
		now := pythonTime(s.now())
		for _, n := range numbers {
			r := &testingv1.AddResult{Number: int32(n)}
			outcome[n] = r
			if _, ok := st.Find(n); ok {
				r.Outcome, r.Message = testingv1.AddOutcome_ADD_OUTCOME_ALREADY_PRESENT, fmt.Sprintf("#%d is already in the testing set", n)
				ev.PRs = append(ev.PRs, persistence.EventPR{Number: n, Result: "already_present"})
				continue
			}
			i, ok := looked[n]
			if !ok {
				// Removed by someone else between our read and this write.
				r.Outcome, r.Message = testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE, "the testing set changed while adding; try again"
				continue
			}
			if err := errs[i]; err != nil {
				msg, notFound := lookupMessage(n, err)
				r.Outcome, r.Message = testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE, msg
				if notFound {
					r.Outcome = testingv1.AddOutcome_ADD_OUTCOME_NOT_FOUND
				}
				continue
			}
			p := pulls[i]
			if p.State == "closed" || p.Merged {
				r.Outcome, r.Message = testingv1.AddOutcome_ADD_OUTCOME_NOT_OPEN, fmt.Sprintf("#%d is %s; there is nothing to test", n, map[bool]string{true: "merged", false: "closed"}[p.Merged])
				continue
			}
			pr := persistence.NewPR(n, p.HeadSHA)
			pr.Title, pr.AddedAt, pr.AddedBy = p.Title, now, v.Username
			pr.Author, pr.AuthorAvatar, pr.Assignee, pr.AssigneeAvatar = p.Author, p.AuthorAvatar, p.Assignee, p.AssigneeAvatar
			st.PRs = append(st.PRs, pr)
			dropRemoved(st, n) // re-adding supersedes an undo
			r.Outcome, r.Message = testingv1.AddOutcome_ADD_OUTCOME_ADDED, fmt.Sprintf("added #%d pinned at %s", n, shortSHA(p.HeadSHA))
			ev.PRs = append(ev.PRs, persistence.EventPR{Number: n, Title: p.Title, Result: "added", After: persistence.PRFieldsOf(pr)})
		}
		return nil
	})
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	// New pins: the prediction's mirror fetches them now, not on its next round.
	s.nudgePredictor()
	for _, r := range results {
		if r.Outcome == testingv1.AddOutcome_ADD_OUTCOME_UNSPECIFIED {
			o := outcome[int(r.Number)]
			r.Outcome, r.Message = o.Outcome, o.Message
		}
	}
	st, err := s.statusAfterWrite(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.AddPRsResponse{Results: results, Status: st}), nil
}

// dropRemoved forgets the undo record of n.
func dropRemoved(st *persistence.State, n int) {
	kept := st.Removed[:0]
	for _, r := range st.Removed {
		if r.PR.Number != n {
			kept = append(kept, r)
		}
	}
	st.Removed = kept
}

// checkNumbers validates the numbers of a batch by number.
func checkNumbers(numbers []int32) error {
	switch {
	case len(numbers) == 0:
		return connect.NewError(connect.CodeInvalidArgument, errors.New("no PR numbers given"))
	case len(numbers) > maxBatch:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%d PR numbers; at most %d at a time", len(numbers), maxBatch))
	}
	for _, n := range numbers {
		if n <= 0 {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%d is not a PR number; they start at 1", n))
		}
	}
	return nil
}

// itemResults answers every number of the request (duplicates included) from the
// per-number outcomes.
func itemResults(numbers []int32, by map[int]*testingv1.ItemResult) []*testingv1.ItemResult {
	out := make([]*testingv1.ItemResult, len(numbers))
	for i, n := range numbers {
		r := by[int(n)]
		out[i] = &testingv1.ItemResult{Number: n, Applied: r.Applied, Outcome: r.Outcome, Message: r.Message}
	}
	return out
}

func item(n int, outcome testingv1.ItemOutcome, format string, args ...any) *testingv1.ItemResult {
	return &testingv1.ItemResult{Number: int32(n), Applied: outcome == testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, Outcome: outcome, Message: fmt.Sprintf(format, args...)}
}

// perPR changes one row of the set (under the store's lock) and says what happened,
// for the caller and for the audit trail.
type perPR func(st *persistence.State, n int, v Viewer) (*testingv1.ItemResult, persistence.EventPR)

// batch runs one audited write over a list of PR numbers: each distinct number once,
// in request order; every number of the request (duplicates too) gets a result.
func (s *Server) batch(ctx context.Context, h http.Header, rpc, kind, stage, expectedVersion string, numbers []int32, each perPR) ([]*testingv1.ItemResult, *testingv1.GetStatusResponse, error) {
	v, err := s.requireWriter(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	if err := checkNumbers(numbers); err != nil {
		return nil, nil, err
	}
	by := map[int]*testingv1.ItemResult{}
	_, err = s.transact(ctx, v, rpc, kind, expectedVersion, func(st *persistence.State, ev *persistence.Event) error {
		clear(by) // fn may run again after a retry of the lock
		ev.Stage, ev.PRs = stage, nil
		for _, n32 := range numbers {
			n := int(n32)
			if by[n] != nil {
				continue
			}
			r, epr := each(st, n, v)
			epr.Number, by[n] = n, r
			ev.PRs = append(ev.PRs, epr)
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.connectError(ctx, err)
	}
	status, err := s.statusAfterWrite(ctx)
	if err != nil {
		return nil, nil, err
	}
	return itemResults(numbers, by), status, nil
}

// RemovePRs removes PRs from the set, keeping each row for RestorePRs until the next
// deploy.
func (s *Server) RemovePRs(ctx context.Context, req *connect.Request[testingv1.RemovePRsRequest]) (*connect.Response[testingv1.RemovePRsResponse], error) {
	now := pythonTime(s.now())
	results, status, err := s.batch(ctx, req.Header(), "RemovePRs", "remove", "", req.Msg.ExpectedVersion, req.Msg.Numbers,
		func(st *persistence.State, n int, v Viewer) (*testingv1.ItemResult, persistence.EventPR) {
			i, ok := st.Find(n)
			if !ok {
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_NOT_IN_SET, "#%d is not in the testing set", n), persistence.EventPR{Result: "not_in_set"}
			}
			pr := st.PRs[i]
			st.PRs = append(st.PRs[:i], st.PRs[i+1:]...)
			dropRemoved(st, n)
			st.Removed = append(st.Removed, persistence.RemovedPR{PR: pr, RemovedAt: now, RemovedBy: v.Username})
			return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "removed #%d; RestorePRs brings it back until the next deploy", n),
				persistence.EventPR{Title: pr.Title, Result: "removed", Before: persistence.PRFieldsOf(pr)}
		})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.RemovePRsResponse{Results: results, Status: status}), nil
}

// RestorePRs brings back rows removed since the last deploy, exactly as they were.
func (s *Server) RestorePRs(ctx context.Context, req *connect.Request[testingv1.RestorePRsRequest]) (*connect.Response[testingv1.RestorePRsResponse], error) {
	results, status, err := s.batch(ctx, req.Header(), "RestorePRs", "restore", "", req.Msg.ExpectedVersion, req.Msg.Numbers,
		func(st *persistence.State, n int, v Viewer) (*testingv1.ItemResult, persistence.EventPR) {
			if _, ok := st.Find(n); ok {
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_ALREADY_PRESENT, "#%d is in the testing set already", n), persistence.EventPR{Result: "already_present"}
			}
			j := -1
			for k, r := range st.Removed {
				if r.PR.Number == n {
					j = k // the newest removal wins
				}
			}
			if j < 0 {
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_NOTHING_TO_RESTORE, "#%d was not removed since the last deploy; add it instead", n),
					persistence.EventPR{Result: "nothing_to_restore"}
			}
			pr := st.Removed[j].PR
			st.PRs = append(st.PRs, pr)
			dropRemoved(st, n)
			return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "restored #%d pinned at %s", n, shortSHA(pr.Commit)),
				persistence.EventPR{Title: pr.Title, Result: "restored", After: persistence.PRFieldsOf(pr)}
		})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.RestorePRsResponse{Results: results, Status: status}), nil
}

var stageNames = map[testingv1.Stage]string{
	testingv1.Stage_STAGE_ENABLE:      "enable",
	testingv1.Stage_STAGE_DISABLE:     "disable",
	testingv1.Stage_STAGE_PULL_LATEST: "pull_latest",
	testingv1.Stage_STAGE_UNSTAGE:     "unstage",
}

// StagePRs stages a change on rows, applied on the next deploy.
func (s *Server) StagePRs(ctx context.Context, req *connect.Request[testingv1.StagePRsRequest]) (*connect.Response[testingv1.StagePRsResponse], error) {
	stage := req.Msg.Stage
	name, ok := stageNames[stage]
	switch {
	case !ok:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("stage must be ENABLE, DISABLE, PULL_LATEST or UNSTAGE"))
	case len(req.Msg.Numbers) == 0 || len(req.Msg.Numbers) > maxBatch:
		return nil, checkNumbers(req.Msg.Numbers)
	}
	if _, err := s.requireWriter(ctx, req.Header()); err != nil {
		return nil, err // before asking GitHub anything on the caller's behalf
	}

	// PULL_LATEST needs each PR's current head: ask GitHub first, without the lock.
	heads := map[int]string{}
	lookupErr := map[int]error{}
	if stage == testingv1.Stage_STAGE_PULL_LATEST && checkNumbers(req.Msg.Numbers) == nil {
		var distinct []int
		for _, n := range req.Msg.Numbers {
			if !slices.Contains(distinct, int(n)) {
				distinct = append(distinct, int(n))
			}
		}
		pulls, errs := s.lookup(ctx, distinct)
		for i, n := range distinct {
			heads[n], lookupErr[n] = pulls[i].HeadSHA, errs[i]
		}
	}

	results, status, err := s.batch(ctx, req.Header(), "StagePRs", "stage", name, req.Msg.ExpectedVersion, req.Msg.Numbers,
		func(st *persistence.State, n int, v Viewer) (*testingv1.ItemResult, persistence.EventPR) {
			i, ok := st.Find(n)
			if !ok {
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_NOT_IN_SET, "#%d is not in the testing set", n), persistence.EventPR{Result: "not_in_set"}
			}
			pr := &st.PRs[i]
			before := persistence.PRFieldsOf(*pr)
			r := stageRow(pr, stage, heads[n], lookupErr[n])
			epr := persistence.EventPR{Title: pr.Title, Result: outcomeWord(r.Outcome)}
			if r.Applied {
				epr.Before, epr.After = before, persistence.PRFieldsOf(*pr)
			}
			return r, epr
		})
	if err != nil {
		return nil, err
	}
	if stage == testingv1.Stage_STAGE_PULL_LATEST {
		s.nudgePredictor() // pins staged at new heads: fetched now, as AddPRs's
	}
	return connect.NewResponse(&testingv1.StagePRsResponse{Results: results, Status: status}), nil
}

// stageRow applies one stage to one row and says what happened.
func stageRow(pr *persistence.PR, stage testingv1.Stage, head string, lookupErr error) *testingv1.ItemResult {
	n := pr.Number
	unchanged := func(format string, args ...any) *testingv1.ItemResult {
		return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_UNCHANGED, format, args...)
	}
	switch stage {
	case testingv1.Stage_STAGE_ENABLE, testingv1.Stage_STAGE_DISABLE:
		want := stage == testingv1.Stage_STAGE_ENABLE
		word := map[bool]string{true: "on", false: "off"}[want]
		current := pr.Active
		if pr.PendingActive != nil {
			current = *pr.PendingActive
		}
		if current == want {
			return unchanged("#%d is already switched %s for the next deploy", n, word)
		}
		if want == pr.Active {
			pr.PendingActive = nil // back to what is live: nothing staged
		} else {
			pr.PendingActive = &want
		}
		return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "#%d switches %s at the next deploy", n, word)
	case testingv1.Stage_STAGE_PULL_LATEST:
		if lookupErr != nil {
			msg, notFound := lookupMessage(n, lookupErr)
			if notFound {
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_GITHUB_UNAVAILABLE, "%s; nothing staged", msg)
			}
			return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_GITHUB_UNAVAILABLE, "%s", msg)
		}
		switch {
		case head == "" || head == pr.Commit:
			if pr.PullLatestSHA != "" {
				pr.PullLatestSHA = "" // the head moved back to the pin: nothing to move
				return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "#%d's head is its pin again; the staged move is dropped", n)
			}
			return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_HEAD_UNCHANGED, "#%d's head is still the pinned commit %s", n, shortSHA(pr.Commit))
		case head == pr.PullLatestSHA:
			return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_HEAD_UNCHANGED, "#%d is already staged to move to its head %s", n, shortSHA(head))
		}
		pr.PullLatestSHA = head
		return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "#%d moves to %s at the next deploy", n, shortSHA(head))
	default: // UNSTAGE
		if pr.PendingActive == nil && pr.PullLatestSHA == "" {
			return unchanged("#%d has nothing staged", n)
		}
		pr.PendingActive, pr.PullLatestSHA = nil, ""
		return item(n, testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, "#%d has nothing staged any more", n)
	}
}

// outcomeWord is an ItemOutcome for the audit trail: "applied", "not_in_set", ….
func outcomeWord(o testingv1.ItemOutcome) string {
	const prefix = len("ITEM_OUTCOME_")
	name := o.String()
	if len(name) <= prefix {
		return strconv.Itoa(int(o))
	}
	b := []byte(name[prefix:])
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// EvictDrift forgets cached drift and resolves it again.
func (s *Server) EvictDrift(ctx context.Context, req *connect.Request[testingv1.EvictDriftRequest]) (*connect.Response[testingv1.EvictDriftResponse], error) {
	v, err := s.requireWriter(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if len(req.Msg.Numbers) > 0 {
		if err := checkNumbers(req.Msg.Numbers); err != nil {
			return nil, err
		}
	}
	snap, err := s.store.Load(ctx)
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	if ev := req.Msg.ExpectedVersion; ev != "" && ev != snap.Version {
		return nil, s.connectError(ctx, persistence.ErrVersionMismatch)
	}
	var numbers []int
	for _, n := range req.Msg.Numbers {
		numbers = append(numbers, int(n))
	}
	s.drift.Evict(ctx, numbers)
	all := targets(snap.State)
	refresh := all
	if len(numbers) > 0 {
		refresh = refresh[:0:0]
		for _, t := range all {
			if slices.Contains(numbers, t.Number) {
				refresh = append(refresh, t)
			}
		}
	}
	s.drift.Refresh(ctx, refresh)
	ev := persistence.Event{Time: s.now(), Actor: v.Username, AuthMethod: v.Method, RPC: "EvictDrift", Kind: "evict_drift", VersionBefore: snap.Version, VersionAfter: snap.Version}
	for _, n := range numbers {
		ev.PRs = append(ev.PRs, persistence.EventPR{Number: n})
	}
	if err := s.audit.Append(ctx, ev); err != nil {
		s.logger.ErrorContext(ctx, "audit append failed", "err", err)
	}
	s.Notify()
	st, err := s.statusAfterWrite(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.EvictDriftResponse{Status: st}), nil
}
