package service

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

// The rules of API.md §Rules 1–3 as pure functions of the state, the GitHub facts,
// the Jenkins runs and the build transcript: no I/O, so they are tested as tables.

// Removal reasons of a REMOVE change.
const (
	reasonMerged  = "merged"
	reasonClosed  = "closed"
	reasonDropped = "dropped"
)

// deployGuessWindow is how long after deploy_started_at a deploy is presumed to be
// running when Jenkins cannot tell (the legacy guess).
const deployGuessWindow = 10 * time.Minute

// parseTime reads a time as the legacy Python code writes it (isoformat: "+00:00",
// sometimes microseconds, sometimes "Z", sometimes no offset at all, which Python means
// as local time of a UTC server). Legacy compared these as strings, which mis-orders
// mixed "Z"/"+00:00" text; we compare times. ok is false for "" and garbage.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// addedSinceDeploy reports whether a row joins the box on the next deploy: added after
// the last deploy, or nothing was ever deployed. A row whose added_at is missing or
// unreadable while a deploy happened is presumed deployed (legacy: "" sorts first).
func addedSinceDeploy(pr *persistence.PR, lastDeploy time.Time, deployed bool) bool {
	if !deployed {
		return true
	}
	added, ok := parseTime(pr.AddedAt)
	return ok && added.After(lastDeploy)
}

// shortSHA is the 7-character form GitHub and the legacy page show.
func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// stagedPin returns the staged new pin of a row, "" when none (a staged pin equal to
// the current pin stages nothing).
func stagedPin(pr *persistence.PR) string {
	if pr.PullLatestSHA == "" || pr.PullLatestSHA == pr.Commit {
		return ""
	}
	return pr.PullLatestSHA
}

// stagedToggle returns the staged enable/disable of a row; ok is false when none is
// staged or the staged value equals the current one.
func stagedToggle(pr *persistence.PR) (active, ok bool) {
	if pr.PendingActive == nil || *pr.PendingActive == pr.Active {
		return false, false
	}
	return *pr.PendingActive, true
}

var changeOrder = map[testingv1.ChangeKind]int{
	testingv1.ChangeKind_CHANGE_KIND_ADD:     0,
	testingv1.ChangeKind_CHANGE_KIND_PIN:     1,
	testingv1.ChangeKind_CHANGE_KIND_ENABLE:  2,
	testingv1.ChangeKind_CHANGE_KIND_DISABLE: 3,
	testingv1.ChangeKind_CHANGE_KIND_REMOVE:  4,
}

// rowChanges is the plan for one row of the set, in rule order (API.md Rule 1).
func rowChanges(pr *persistence.PR, f drift.Facts, lastDeploy time.Time, deployed bool) []*testingv1.PendingChange {
	change := func(kind testingv1.ChangeKind, detail, reason string) *testingv1.PendingChange {
		return &testingv1.PendingChange{Number: int32(pr.Number), Title: pr.Title, Kind: kind, Detail: detail, Reason: reason}
	}
	switch {
	case f.Merged:
		return []*testingv1.PendingChange{change(testingv1.ChangeKind_CHANGE_KIND_REMOVE, "", reasonMerged)}
	case f.Closed:
		return []*testingv1.PendingChange{change(testingv1.ChangeKind_CHANGE_KIND_REMOVE, "", reasonClosed)}
	}
	var out []*testingv1.PendingChange
	if addedSinceDeploy(pr, lastDeploy, deployed) {
		out = append(out, change(testingv1.ChangeKind_CHANGE_KIND_ADD, shortSHA(cmp.Or(stagedPin(pr), pr.Commit)), ""))
	} else if pin := stagedPin(pr); pin != "" {
		out = append(out, change(testingv1.ChangeKind_CHANGE_KIND_PIN, shortSHA(pin), ""))
	}
	if active, ok := stagedToggle(pr); ok {
		kind := testingv1.ChangeKind_CHANGE_KIND_DISABLE
		if active {
			kind = testingv1.ChangeKind_CHANGE_KIND_ENABLE
		}
		out = append(out, change(kind, "", ""))
	}
	return out
}

// plan is the whole plan of the next deploy (API.md Rule 1): every row's changes, then
// a REMOVE for every deployed PR no longer in the set; ordered ADD, PIN, ENABLE,
// DISABLE, REMOVE, each by number.
func plan(st *persistence.State, facts map[int]drift.Facts) []*testingv1.PendingChange {
	lastDeploy, deployed := parseTime(st.LastDeployAt)
	var out []*testingv1.PendingChange
	inSet := make(map[int]bool, len(st.PRs))
	for i := range st.PRs {
		pr := &st.PRs[i]
		inSet[pr.Number] = true
		out = append(out, rowChanges(pr, facts[pr.Number], lastDeploy, deployed)...)
	}
	for _, d := range st.Deployed {
		n, ok := deployedNumber(d.Key)
		if !ok || inSet[n] {
			continue
		}
		inSet[n] = true // a record naming a number twice gives one change
		out = append(out, &testingv1.PendingChange{Number: int32(n), Title: d.Title, Kind: testingv1.ChangeKind_CHANGE_KIND_REMOVE, Reason: reasonDropped})
	}
	// Without a deploy record, a removed row that was live by the fallback rule leaves
	// the box too.
	for _, r := range st.Removed {
		if !inSet[r.PR.Number] && !st.HasDeployedRecord() && liveByFallback(&r.PR, lastDeploy, deployed) {
			inSet[r.PR.Number] = true
			out = append(out, &testingv1.PendingChange{Number: int32(r.PR.Number), Title: r.PR.Title, Kind: testingv1.ChangeKind_CHANGE_KIND_REMOVE, Reason: reasonDropped})
		}
	}
	slices.SortStableFunc(out, func(a, b *testingv1.PendingChange) int {
		return cmp.Or(cmp.Compare(changeOrder[a.Kind], changeOrder[b.Kind]), cmp.Compare(a.Number, b.Number))
	})
	return out
}

// liveByFallback is Rule 2's live_now when there is no record of the last deploy: added
// before it, and switched on (a switched-off row was not merged into the build).
func liveByFallback(pr *persistence.PR, lastDeploy time.Time, deployedEver bool) bool {
	added, ok := parseTime(pr.AddedAt)
	return deployedEver && ok && !added.After(lastDeploy) && pr.Active
}

// deployedNumber reads a key of the "deployed" record; keys that are not PR numbers
// (a hand-edited file) are ignored rather than failing the whole page.
func deployedNumber(key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(key))
	return n, err == nil && n > 0
}

// rows builds the table (API.md Rule 2): every row of the set and every deployed PR
// removed since the last deploy, sorted by number. changes is the plan; conflicts the
// PRs the last build failed to merge.
func rows(st *persistence.State, facts map[int]drift.Facts, changes []*testingv1.PendingChange, conflicts map[int]bool) []*testingv1.PullRequest {
	lastDeploy, deployedEver := parseTime(st.LastDeployAt)
	hasRecord := st.HasDeployedRecord()
	firstAction := make(map[int32]testingv1.ChangeKind, len(changes))
	// The plan is sorted by kind, so the first entry seen for a number is its first change.
	for _, c := range changes {
		if _, seen := firstAction[c.Number]; !seen {
			firstAction[c.Number] = c.Kind
		}
	}
	out := make([]*testingv1.PullRequest, 0, len(st.PRs)+len(st.Deployed))
	inSet := make(map[int]bool, len(st.PRs))
	for i := range st.PRs {
		pr := &st.PRs[i]
		inSet[pr.Number] = true
		f := facts[pr.Number]
		_, inDeployed := st.DeployedTitle(pr.Number)
		row := rowOf(pr)
		row.IsNew = deployedEver && addedSinceDeploy(pr, lastDeploy, true)
		row.LiveNow = inDeployed || (!hasRecord && liveByFallback(pr, lastDeploy, deployedEver))
		row.MergeConflict = conflicts[pr.Number]
		row.Action = firstAction[int32(pr.Number)]
		row.InSet = true
		applyFacts(row, f)
		out = append(out, row)
	}
	// Rows removed since the last deploy: restorable (removed), live when the last
	// deploy built them.
	removed := make(map[int]*persistence.PR, len(st.Removed))
	for i := range st.Removed {
		removed[st.Removed[i].PR.Number] = &st.Removed[i].PR
	}
	for _, d := range st.Deployed {
		n, ok := deployedNumber(d.Key)
		if !ok || inSet[n] {
			continue
		}
		inSet[n] = true // a record naming a number twice gives one row
		row := &testingv1.PullRequest{Number: int32(n), Title: d.Title, Drift: -1}
		if pr := removed[n]; pr != nil {
			row = rowOf(pr)
			row.Removed = true
		}
		row.LiveNow, row.MergeConflict, row.Action = true, conflicts[n], firstAction[int32(n)]
		out = append(out, row)
	}
	for n, pr := range removed {
		if inSet[n] {
			continue
		}
		row := rowOf(pr)
		row.Removed = true
		row.LiveNow = !hasRecord && liveByFallback(pr, lastDeploy, deployedEver)
		row.MergeConflict, row.Action = conflicts[n], firstAction[int32(n)]
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b *testingv1.PullRequest) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

// rowOf is the stored part of a row; drift unknown until facts are applied.
func rowOf(pr *persistence.PR) *testingv1.PullRequest {
	added, addedOK := parseTime(pr.AddedAt)
	return &testingv1.PullRequest{
		Number:         int32(pr.Number),
		Commit:         pr.Commit,
		Active:         pr.Active,
		Title:          pr.Title,
		AddedAt:        timestamp(added, addedOK),
		AddedBy:        pr.AddedBy,
		PullLatestSha:  pr.PullLatestSHA,
		PendingActive:  pr.PendingActive,
		Author:         pr.Author,
		AuthorAvatar:   pr.AuthorAvatar,
		Assignee:       pr.Assignee,
		AssigneeAvatar: pr.AssigneeAvatar,
		Drift:          -1,
	}
}

// applyFacts copies the live GitHub facts of a PR onto its row.
func applyFacts(row *testingv1.PullRequest, f drift.Facts) {
	row.Drift = -1
	if !f.Known {
		return
	}
	row.HeadSha = f.HeadSHA
	row.Drift = int32(f.Drift)
	row.Diverged = f.Diverged
	row.Merged = f.Merged
	row.Closed = f.Closed
	row.DriftResolvedAt = timestamp(f.ResolvedAt, !f.ResolvedAt.IsZero())
	row.MergeableState = f.MergeableState
	switch {
	case f.Mergeable == nil && f.MergeableState != "":
		row.Mergeable = testingv1.Mergeable_MERGEABLE_UNKNOWN // asked; GitHub is computing it
	case f.Mergeable == nil:
		row.Mergeable = testingv1.Mergeable_MERGEABLE_UNSPECIFIED
	case *f.Mergeable:
		row.Mergeable = testingv1.Mergeable_MERGEABLE_CLEAN
	default:
		row.Mergeable = testingv1.Mergeable_MERGEABLE_CONFLICTING
	}
}

// deployState is what the service knows of the running or last deploy.
type deployState struct {
	deploying bool
	result    string // Jenkins' word for its latest run; "" unknown
	stage     string
	runID     string
	finished  time.Time
	guessed   bool // Jenkins could not be asked: the 10-minute guess
}

// deployStatus decides the deploy state (LEGACY.md §3). Jenkins' latest run is the
// truth; a deploy accepted after that run started is queued (deploying, no result yet,
// for at most the guess window); when Jenkins cannot be asked (runsOK false) or has no
// runs, a deploy is presumed running for 10 minutes after deploy_started_at.
func deployStatus(st *persistence.State, runs []jenkins.Run, runsOK bool, now time.Time) deployState {
	started, hasStarted := parseTime(st.DeployStartedAt)
	recent := hasStarted && !now.Before(started) && now.Sub(started) < deployGuessWindow
	if !runsOK || len(runs) == 0 {
		return deployState{deploying: recent, guessed: hasStarted}
	}
	latest := runs[0]
	if recent && started.After(latest.Start) {
		return deployState{deploying: true, stage: "queued"}
	}
	ds := deployState{result: latest.Status, runID: latest.ID, finished: latest.End}
	switch latest.Status {
	case "IN_PROGRESS", "PAUSED_PENDING_INPUT", "QUEUED":
		ds.deploying = true
		ds.stage = latest.CurrentStage()
		ds.finished = time.Time{}
	}
	return ds
}
