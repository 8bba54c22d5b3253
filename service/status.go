package service

import (
	"context"
	"sync"
	"time"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

// status assembles the whole testing section: the state (one stat when unchanged), the
// drift and the Jenkins runs fetched concurrently (both memory when warm), and the
// build transcript (one stat when unchanged).
//
// The response is memoised: while the state version, the transcript and everything
// Notify reports (writes, new drift, a new Jenkins run status) are unchanged, the same
// response is served for up to memoFor, so a warm read costs two stats and the
// encoding, which the caching codecs (codec.go) make a copy. memoFor also bounds how
// late a time-dependent flag (stale drift, the deploy guess window) can be.
func (s *Server) status(ctx context.Context) (*testingv1.GetStatusResponse, error) {
	snap, err := s.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.transcript.get()
	if err != nil {
		// The transcript only colours rows; a read error must not hide the panel. Logged
		// once per distinct error: watchers recompute the status several times a second.
		if s.transcript.newError(err) {
			s.logger.WarnContext(ctx, "build transcript unreadable", "err", err)
		}
	}
	key := memoKey{version: snap.Version, gen: s.memoGen.Load(), transcript: t.key}
	if resp := s.memo.lookup(key, s.now()); resp != nil {
		return resp, nil
	}
	var (
		res    drift.Result
		runs   []jenkins.Run
		runsOK bool
		wg     sync.WaitGroup
	)
	wg.Go(func() { res = s.drift.Resolve(ctx, targets(snap.State)) })
	wg.Go(func() { runs, runsOK = s.runs.get(ctx, runsWait) })
	wg.Wait()
	if fresh, ok := s.writeBack(ctx, snap.State, res); ok {
		snap = fresh
		key.version = fresh.Version
	}
	resp := s.buildStatus(snap, res, runs, runsOK, t.ConflictNumbers())
	s.publishLegacy(ctx, numbers(targets(snap.State)), res)
	if !res.Stale || res.Err != nil {
		// A response waiting for a background refresh is not kept: the refresh's
		// Notify will come, but a read in between should see the freshest data.
		s.memo.store(key, resp, s.now())
	}
	return resp, nil
}

// writeBackWait bounds how long a read waits for the state lock to write GitHub's
// titles and people back.
const writeBackWait = 50 * time.Millisecond

// memoFor is how long a built status is served again when nothing reported a change.
const memoFor = 250 * time.Millisecond

type memoKey struct {
	version    string  // the state file
	gen        uint64  // bumped by Notify
	transcript fileKey // the build transcript
}

// statusMemo holds the last status built.
type statusMemo struct {
	mu   sync.RWMutex
	key  memoKey
	at   time.Time
	resp *testingv1.GetStatusResponse
}

func (m *statusMemo) lookup(key memoKey, now time.Time) *testingv1.GetStatusResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.resp == nil || m.key != key || now.Sub(m.at) >= memoFor || now.Before(m.at) {
		return nil
	}
	return m.resp
}

func (m *statusMemo) store(key memoKey, resp *testingv1.GetStatusResponse, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.key, m.at, m.resp = key, now, resp
}

// targets are the rows of the set whose drift the resolver follows.
func targets(st *persistence.State) []drift.Target {
	out := make([]drift.Target, len(st.PRs))
	for i, pr := range st.PRs {
		out[i] = drift.Target{Number: pr.Number, Pin: pr.Commit}
	}
	return out
}

// buildStatus is the response for one state snapshot and what is known around it.
func (s *Server) buildStatus(snap persistence.Snapshot, res drift.Result, runs []jenkins.Run, runsOK bool, conflictList []int) *testingv1.GetStatusResponse {
	st := snap.State
	conflicts := make(map[int]bool, len(conflictList))
	merge := make([]int32, 0, len(conflictList))
	for _, n := range conflictList {
		if !conflicts[n] {
			merge = append(merge, int32(n))
		}
		conflicts[n] = true
	}
	changes := plan(st, res.PRs)
	prs := rows(st, res.PRs, changes, conflicts)
	prediction := s.predictMerges(st, res.PRs, prs)
	ds := deployStatus(st, runs, runsOK, s.now())
	lastDeploy, lastOK := parseTime(st.LastDeployAt)
	started, startedOK := parseTime(st.DeployStartedAt)
	return &testingv1.GetStatusResponse{
		Version:            snap.Version,
		LastDeployAt:       timestamp(lastDeploy, lastOK),
		DeployStartedAt:    timestamp(started, startedOK),
		DeployFinishedAt:   timestamp(ds.finished, true),
		Deploying:          ds.deploying,
		DeployResult:       ds.result,
		DeployStage:        ds.stage,
		DeployRunId:        ds.runID,
		DeployStateGuessed: ds.guessed,
		HasPending:         len(changes) > 0,
		PendingChanges:     changes,
		Prs:                prs,
		DriftResolvedAt:    timestamp(res.ResolvedAt, true),
		DriftStale:         res.Stale,
		DriftError:         driftError(driftResultErr{stale: res.Stale, err: res.Err}),
		JenkinsConfigured:  s.jenkins.Configured(),
		GithubRepo:         s.repo,
		JenkinsUrl:         s.jenkinsURL,
		MergeConflicts:     merge,
		Github:             s.GitHubStatus(),
		MergePrediction:    prediction,
	}
}

// writeBack stores what GitHub says of each PR's title, author and assignee in the
// state file, touching only those fields (an unassigned PR clears its assignee), when
// fresh facts differ from it. It runs under the store's lock on the re-read state, so a
// concurrent writer loses nothing. ok is false when nothing was written.
func (s *Server) writeBack(ctx context.Context, st *persistence.State, res drift.Result) (persistence.Snapshot, bool) {
	if !needsWriteBack(st, res.PRs) {
		return persistence.Snapshot{}, false
	}
	// A read must not wait for the state file's lock (a Deploy holds it while Jenkins
	// answers): the write-back only tries briefly, and the next status computation
	// tries again.
	ctx, cancel := context.WithTimeout(ctx, writeBackWait)
	defer cancel()
	snap, err := s.store.Update(ctx, "", func(st *persistence.State) error {
		for i := range st.PRs {
			if f, ok := res.PRs[st.PRs[i].Number]; ok && usableFacts(f) {
				applyGitHubFields(&st.PRs[i], f)
			}
		}
		return nil
	})
	if err != nil {
		s.logger.WarnContext(ctx, "could not store GitHub titles and people", "err", err)
		return persistence.Snapshot{}, false
	}
	return snap, true
}

// usableFacts: only facts GitHub gave in this refresh or the last (not failures) may
// overwrite what the state file says.
func usableFacts(f drift.Facts) bool { return f.Known && f.Err == nil && f.HeadSHA != "" }

func needsWriteBack(st *persistence.State, facts map[int]drift.Facts) bool {
	for i := range st.PRs {
		pr := st.PRs[i]
		if f, ok := facts[pr.Number]; ok && usableFacts(f) && applyGitHubFields(&pr, f) {
			return true
		}
	}
	return false
}

// applyGitHubFields copies GitHub's title and people onto a row and reports whether
// anything changed. An empty title from GitHub never erases a stored one.
func applyGitHubFields(pr *persistence.PR, f drift.Facts) bool {
	changed := false
	set := func(dst *string, v string) {
		if *dst != v {
			*dst, changed = v, true
		}
	}
	if f.Title != "" {
		set(&pr.Title, f.Title)
	}
	if f.Author != "" {
		set(&pr.Author, f.Author)
		set(&pr.AuthorAvatar, f.AuthorAvatar)
	}
	set(&pr.Assignee, f.Assignee)
	set(&pr.AssigneeAvatar, f.AssigneeAvatar)
	return changed
}
