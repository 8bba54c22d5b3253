package service

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

const (
	shaA = "1d23364b8c652d6107e2dc685f918551fda5d327"
	shaB = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
	shaC = "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5"
)

func ptr[T any](v T) *T { return &v }

// change is a compact PendingChange for tables.
func change(kind testingv1.ChangeKind, n int32, title, detail, reason string) *testingv1.PendingChange {
	return &testingv1.PendingChange{Number: n, Title: title, Kind: kind, Detail: detail, Reason: reason}
}

const (
	add     = testingv1.ChangeKind_CHANGE_KIND_ADD
	pin     = testingv1.ChangeKind_CHANGE_KIND_PIN
	enable  = testingv1.ChangeKind_CHANGE_KIND_ENABLE
	disable = testingv1.ChangeKind_CHANGE_KIND_DISABLE
	remove  = testingv1.ChangeKind_CHANGE_KIND_REMOVE
	none    = testingv1.ChangeKind_CHANGE_KIND_UNSPECIFIED
)

func loadFixtureState(t *testing.T) *persistence.State {
	t.Helper()
	data, err := os.ReadFile("../testdata/fixtures/testing-prs.json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := persistence.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPlan(t *testing.T) {
	t.Parallel()
	const deployedAt = "2026-08-05T18:00:00+00:00"
	before, after := "2026-08-01T10:00:00+00:00", "2026-08-06T15:00:00+00:00"
	tests := []struct {
		name  string
		state *persistence.State
		facts map[int]drift.Facts
		want  []*testingv1.PendingChange
	}{
		{
			name:  "empty set, never deployed",
			state: &persistence.State{},
		},
		{
			name: "never deployed: every row is an ADD of its pin, or of its staged pin",
			state: &persistence.State{PRs: []persistence.PR{
				{Number: 2, Commit: shaA, Active: true, Title: "two", AddedAt: before},
				{Number: 1, Commit: shaA, Active: true, Title: "one", PullLatestSHA: shaB},
			}},
			want: []*testingv1.PendingChange{change(add, 1, "one", "9f8e7d6", ""), change(add, 2, "two", "1d23364", "")},
		},
		{
			name: "added before the last deploy: nothing; after: ADD",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, Title: "old", AddedAt: before},
				{Number: 2, Commit: shaA, Active: true, Title: "new", AddedAt: after},
			}},
			want: []*testingv1.PendingChange{change(add, 2, "new", "1d23364", "")},
		},
		{
			name: "missing added_at after a deploy counts as deployed",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, Title: "old"},
			}},
		},
		{
			name: "times compare as times, not strings",
			state: &persistence.State{LastDeployAt: "2026-08-05T18:00:00.500000+00:00", PRs: []persistence.PR{
				// As a string "…00Z" sorts after "…00.500000+00:00", but it is earlier.
				{Number: 1, Commit: shaA, Active: true, Title: "z", AddedAt: "2026-08-05T18:00:00Z"},
				// 19:30+02:00 is 17:30 UTC: before.
				{Number: 2, Commit: shaA, Active: true, Title: "offset", AddedAt: "2026-08-05T19:30:00+02:00"},
				// No offset: Python's naive isoformat on a UTC server.
				{Number: 3, Commit: shaA, Active: true, Title: "naive", AddedAt: "2026-08-05T18:00:01"},
			}},
			want: []*testingv1.PendingChange{change(add, 3, "naive", "1d23364", "")},
		},
		{
			name: "staged pin on a deployed row: PIN; a staged pin equal to the pin stages nothing",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, Title: "moves", AddedAt: before, PullLatestSHA: shaB},
				{Number: 2, Commit: shaA, Active: true, Title: "same", AddedAt: before, PullLatestSHA: shaA},
			}},
			want: []*testingv1.PendingChange{change(pin, 1, "moves", "9f8e7d6", "")},
		},
		{
			name: "staged toggles: ENABLE, DISABLE; a toggle equal to active stages nothing",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: false, Title: "on", AddedAt: before, PendingActive: ptr(true)},
				{Number: 2, Commit: shaA, Active: true, Title: "off", AddedAt: before, PendingActive: ptr(false)},
				{Number: 3, Commit: shaA, Active: true, Title: "noop", AddedAt: before, PendingActive: ptr(true)},
			}},
			want: []*testingv1.PendingChange{change(enable, 1, "on", "", ""), change(disable, 2, "off", "", "")},
		},
		{
			name: "a toggle is independent of ADD and PIN",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, Title: "new off", AddedAt: after, PendingActive: ptr(false)},
				{Number: 2, Commit: shaA, Active: false, Title: "pin on", AddedAt: before, PullLatestSHA: shaB, PendingActive: ptr(true)},
			}},
			want: []*testingv1.PendingChange{
				change(add, 1, "new off", "1d23364", ""),
				change(pin, 2, "pin on", "9f8e7d6", ""),
				change(enable, 2, "pin on", "", ""),
				change(disable, 1, "new off", "", ""),
			},
		},
		{
			name: "merged and closed PRs are one REMOVE each, whatever is staged",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, Title: "merged", AddedAt: after, PullLatestSHA: shaB, PendingActive: ptr(false)},
				{Number: 2, Commit: shaA, Active: true, Title: "closed", AddedAt: before},
			}},
			facts: map[int]drift.Facts{1: {Known: true, Merged: true}, 2: {Known: true, Closed: true}},
			want:  []*testingv1.PendingChange{change(remove, 1, "merged", "", "merged"), change(remove, 2, "closed", "", "closed")},
		},
		{
			name: "a deployed PR no longer in the set is dropped; garbage keys ignored",
			state: &persistence.State{LastDeployAt: deployedAt,
				PRs:      []persistence.PR{{Number: 5, Commit: shaA, Active: true, Title: "kept", AddedAt: before}},
				Deployed: []persistence.DeployedEntry{{Key: "5", Title: "kept"}, {Key: "3", Title: "gone"}, {Key: "x", Title: "junk"}},
			},
			want: []*testingv1.PendingChange{change(remove, 3, "gone", "", "dropped")},
		},
		{
			name:  "the fixture: ADD, PIN, DISABLE, REMOVE in that order",
			state: loadFixtureState(t),
			want: []*testingv1.PendingChange{
				change(add, 13269, "Test PR", "1d23364", ""),
				change(pin, 13238, "Fix search facets fallback", "9f8e7d6", ""),
				change(disable, 13240, "Unified icon system", "", ""),
				change(remove, 13111, "Old PR since removed", "", "dropped"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := plan(tt.state, tt.facts)
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// rowFlags is the derived part of a row, for compact tables.
type rowFlags struct {
	Number                 int32
	IsNew, LiveNow, InSet  bool
	MergeConflict, Removed bool
	Action                 testingv1.ChangeKind
	Drift                  int32
}

func TestRows(t *testing.T) {
	t.Parallel()
	const deployedAt = "2026-08-05T18:00:00+00:00"
	before, after := "2026-08-01T10:00:00+00:00", "2026-08-06T15:00:00+00:00"
	tests := []struct {
		name      string
		state     *persistence.State
		facts     map[int]drift.Facts
		conflicts map[int]bool
		want      []rowFlags
	}{
		{
			name:      "the fixture: deployed rows live, the new one not, the dropped one live outside the set",
			state:     loadFixtureState(t),
			facts:     map[int]drift.Facts{13238: {Known: true, Drift: 3, HeadSHA: shaB}},
			conflicts: map[int]bool{13240: true},
			want: []rowFlags{
				{Number: 13111, LiveNow: true, Action: remove, Drift: -1},
				{Number: 13238, LiveNow: true, InSet: true, Action: pin, Drift: 3},
				{Number: 13240, LiveNow: true, InSet: true, Action: disable, Drift: -1, MergeConflict: true},
				{Number: 13269, IsNew: true, InSet: true, Action: add, Drift: -1},
			},
		},
		{
			name:  "never deployed: nothing is new or live",
			state: &persistence.State{PRs: []persistence.PR{{Number: 1, Commit: shaA, Active: true, AddedAt: before}}},
			want:  []rowFlags{{Number: 1, InSet: true, Action: add, Drift: -1}},
		},
		{
			name: "no deployed record: live when added before the last deploy and switched on",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{
				{Number: 1, Commit: shaA, Active: true, AddedAt: before},
				{Number: 2, Commit: shaA, Active: false, AddedAt: before},
				{Number: 3, Commit: shaA, Active: true, AddedAt: after},
			}},
			want: []rowFlags{
				{Number: 1, LiveNow: true, InSet: true, Drift: -1},
				{Number: 2, InSet: true, Drift: -1},
				{Number: 3, IsNew: true, InSet: true, Action: add, Drift: -1},
			},
		},
		{
			name: "with a record, only recorded PRs are live",
			state: &persistence.State{LastDeployAt: deployedAt,
				PRs:      []persistence.PR{{Number: 1, Commit: shaA, Active: true, AddedAt: before}, {Number: 2, Commit: shaA, Active: true, AddedAt: before}},
				Deployed: []persistence.DeployedEntry{{Key: "2", Title: "t"}},
			},
			want: []rowFlags{{Number: 1, InSet: true, Drift: -1}, {Number: 2, LiveNow: true, InSet: true, Drift: -1}},
		},
		{
			name: "removed rows: live when deployed (leaving), restorable either way",
			state: &persistence.State{LastDeployAt: deployedAt,
				PRs:      []persistence.PR{{Number: 1, Commit: shaA, Active: true, AddedAt: before}},
				Deployed: []persistence.DeployedEntry{{Key: "1", Title: "one"}, {Key: "2", Title: "two"}},
				Removed: []persistence.RemovedPR{
					{PR: persistence.PR{Number: 2, Commit: shaA, Active: true, AddedAt: before}},
					{PR: persistence.PR{Number: 3, Commit: shaA, Active: true, AddedAt: after}},
				},
			},
			want: []rowFlags{
				{Number: 1, LiveNow: true, InSet: true, Drift: -1},
				{Number: 2, LiveNow: true, Removed: true, Action: remove, Drift: -1},
				{Number: 3, Removed: true, Drift: -1},
			},
		},
		{
			name: "no deployed record: a removed row live by the fallback leaves the box",
			state: &persistence.State{LastDeployAt: deployedAt,
				Removed: []persistence.RemovedPR{{PR: persistence.PR{Number: 2, Commit: shaA, Active: true, AddedAt: before}}},
			},
			want: []rowFlags{{Number: 2, LiveNow: true, Removed: true, Action: remove, Drift: -1}},
		},
		{
			name:  "merged row: action REMOVE, drift from facts",
			state: &persistence.State{LastDeployAt: deployedAt, PRs: []persistence.PR{{Number: 1, Commit: shaA, Active: true, AddedAt: before}}},
			facts: map[int]drift.Facts{1: {Known: true, Merged: true, Drift: 0, HeadSHA: shaA}},
			want:  []rowFlags{{Number: 1, LiveNow: true, InSet: true, Action: remove}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := rows(tt.state, tt.facts, plan(tt.state, tt.facts), tt.conflicts)
			var flags []rowFlags
			for _, r := range got {
				flags = append(flags, rowFlags{Number: r.Number, IsNew: r.IsNew, LiveNow: r.LiveNow, InSet: r.InSet, MergeConflict: r.MergeConflict, Removed: r.Removed, Action: r.Action, Drift: r.Drift})
			}
			if diff := cmp.Diff(tt.want, flags); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRowsCopyStateAndFacts(t *testing.T) {
	t.Parallel()
	st := loadFixtureState(t)
	resolved := time.Date(2026, 8, 7, 12, 0, 0, 0, time.UTC)
	facts := map[int]drift.Facts{13240: {Known: true, HeadSHA: shaC, Drift: 2, Diverged: true, Mergeable: ptr(false), ResolvedAt: resolved}}
	got := rows(st, facts, plan(st, facts), nil)
	var row *testingv1.PullRequest
	for _, r := range got {
		if r.Number == 13240 {
			row = r
		}
	}
	want := &testingv1.PullRequest{
		Number: 13240, Commit: "5a0c7e1f2d3b4a5968778695a4b3c2d1e0f9a8b7", Active: true, Title: "Unified icon system",
		AddedAt: timestamp(time.Date(2026, 8, 1, 10, 0, 0, 123456000, time.UTC), true), AddedBy: "cdrini",
		PendingActive: ptr(false), Author: "cdrini", Assignee: "RayBB",
		HeadSha: shaC, Drift: 2, Diverged: true, Mergeable: testingv1.Mergeable_MERGEABLE_CONFLICTING,
		LiveNow: true, Action: disable, InSet: true, DriftResolvedAt: timestamp(resolved, true),
	}
	if diff := cmp.Diff(want, row, protocmp.Transform()); diff != "" {
		t.Errorf("row 13240 (-want +got):\n%s", diff)
	}
}

func TestDeployStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 18, 12, 0, 0, 0, time.UTC)
	ms := func(m int64) time.Time { return time.UnixMilli(m).UTC() }
	fixtureRuns, err := jenkins.ParseRuns(mustRead(t, "../testdata/fixtures/jenkins-wfapi-runs.json"))
	if err != nil {
		t.Fatal(err)
	}
	success := []jenkins.Run{{ID: "411", Status: "SUCCESS", Start: now.Add(-time.Hour), End: now.Add(-59 * time.Minute)}}
	iso := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000000+00:00") }
	tests := []struct {
		name    string
		started string
		runs    []jenkins.Run
		runsOK  bool
		want    deployState
	}{
		{name: "Jenkins unknown, never deployed", want: deployState{}},
		{name: "Jenkins unknown, started 5 minutes ago: guessed deploying", started: iso(now.Add(-5 * time.Minute)), want: deployState{deploying: true, guessed: true}},
		{name: "Jenkins unknown, started 11 minutes ago: guessed done", started: iso(now.Add(-11 * time.Minute)), want: deployState{guessed: true}},
		{name: "Jenkins reachable but no runs: the guess", started: iso(now.Add(-time.Minute)), runsOK: true, want: deployState{deploying: true, guessed: true}},
		{name: "latest run in progress: its stage", runs: fixtureRuns, runsOK: true, started: iso(ms(1787085957516).Add(-time.Second)),
			want: deployState{deploying: true, result: "IN_PROGRESS", stage: "components", runID: "412"}},
		{name: "latest run succeeded", runs: success, runsOK: true, started: iso(now.Add(-61 * time.Minute)),
			want: deployState{result: "SUCCESS", runID: "411", finished: now.Add(-59 * time.Minute)}},
		{name: "Jenkins says done although the guess window is open: Jenkins wins",
			runs:    []jenkins.Run{{ID: "412", Status: "SUCCESS", Start: now.Add(-4 * time.Minute), End: now.Add(-time.Minute)}},
			runsOK:  true,
			started: iso(now.Add(-5 * time.Minute)),
			want:    deployState{result: "SUCCESS", runID: "412", finished: now.Add(-time.Minute)}},
		{name: "accepted after the latest run started: queued", runs: success, runsOK: true, started: iso(now.Add(-time.Minute)),
			want: deployState{deploying: true, stage: "queued"}},
		{name: "accepted after the latest run but long ago: the run's word", runs: success, runsOK: true, started: iso(now.Add(-30 * time.Minute)),
			want: deployState{result: "SUCCESS", runID: "411", finished: now.Add(-59 * time.Minute)}},
		{name: "failed run", runs: []jenkins.Run{{ID: "9", Status: "FAILURE", Start: now.Add(-time.Hour), End: now.Add(-50 * time.Minute)}}, runsOK: true,
			want: deployState{result: "FAILURE", runID: "9", finished: now.Add(-50 * time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := deployStatus(&persistence.State{DeployStartedAt: tt.started}, tt.runs, tt.runsOK, now)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(deployState{})); diff != "" {
				t.Errorf("deployStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
