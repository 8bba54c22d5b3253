package persistence

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rebaseState builds a state with the given deploy time and rows.
func rebaseState(lastDeploy string, prs ...PR) *State {
	st := NewState()
	st.LastDeployAt = lastDeploy
	st.PRs = prs
	return st
}

func rpr(n int, commit string, active bool, mods ...func(*PR)) PR {
	p := NewPR(n, commit)
	p.Active = active
	for _, m := range mods {
		m(&p)
	}
	return p
}

func staged(sha string) func(*PR) { return func(p *PR) { p.PullLatestSHA = sha } }
func pending(v bool) func(*PR)    { return func(p *PR) { p.PendingActive = &v } }
func titled(s string) func(*PR)   { return func(p *PR) { p.Title = s } }

// summary is what the tests compare: number, commit, active, staged, pending, title.
func summary(st *State) []string {
	var out []string
	out = append(out, "deploy="+st.LastDeployAt)
	for _, p := range st.PRs {
		pa := "-"
		if p.PendingActive != nil {
			pa = map[bool]string{true: "on", false: "off"}[*p.PendingActive]
		}
		out = append(out, strings.Join([]string{
			strconv.Itoa(p.Number), p.Commit, map[bool]string{true: "active", false: "inactive"}[p.Active],
			"latest=" + p.PullLatestSHA, "pending=" + pa, "title=" + p.Title}, "/"))
	}
	return out
}

func TestRebase(t *testing.T) {
	t.Parallel()
	// before: what the deploy started from; after: what it wrote (pins moved, toggles
	// applied, #3 removed as merged, deployed now); theirs: after plus a legacy write.
	before := rebaseState("old",
		rpr(1, "a1", true, staged("a2")),
		rpr(2, "b1", true, pending(false)),
		rpr(3, "c1", true),
		rpr(4, "d1", false, titled("four")),
	)
	after := rebaseState("now",
		rpr(1, "a2", true),
		rpr(2, "b1", false),
		rpr(4, "d1", false, titled("four")),
	)
	tests := []struct {
		name   string
		theirs func(st *State)
		want   *State
	}{
		{
			name:   "nobody else wrote: exactly before",
			theirs: func(*State) {},
			want:   before,
		},
		{
			name: "a legacy add is kept",
			theirs: func(st *State) {
				st.PRs = append(st.PRs, rpr(5, "e1", true))
			},
			want: rebaseState("old",
				rpr(1, "a1", true, staged("a2")),
				rpr(2, "b1", true, pending(false)),
				rpr(3, "c1", true),
				rpr(4, "d1", false, titled("four")),
				rpr(5, "e1", true)),
		},
		{
			name: "a legacy remove is kept",
			theirs: func(st *State) {
				st.PRs = slices.DeleteFunc(st.PRs, func(p PR) bool { return p.Number == 4 })
			},
			want: rebaseState("old",
				rpr(1, "a1", true, staged("a2")),
				rpr(2, "b1", true, pending(false)),
				rpr(3, "c1", true)),
		},
		{
			name: "a field legacy changed wins; the deploy's other changes are undone",
			theirs: func(st *State) {
				st.PRs[0].PendingActive = new(bool) // stage a disable of #1
				st.PRs[1].Active = true             // #2 back on, as before the deploy
				st.PRs[2].Title = "renamed"         // retitle #4
			},
			want: rebaseState("old",
				rpr(1, "a1", true, staged("a2"), pending(false)),
				rpr(2, "b1", true, pending(false)),
				rpr(3, "c1", true),
				rpr(4, "d1", false, titled("renamed"))),
		},
		{
			name: "a PR the deploy removed and legacy added again stays theirs",
			theirs: func(st *State) {
				st.PRs = append(st.PRs, rpr(3, "c9", true))
			},
			want: rebaseState("old",
				rpr(1, "a1", true, staged("a2")),
				rpr(2, "b1", true, pending(false)),
				rpr(4, "d1", false, titled("four")),
				rpr(3, "c9", true)),
		},
		{
			name: "a removed PR comes back at its place, first of all",
			theirs: func(st *State) {
				st.PRs = st.PRs[1:] // legacy removed #1
			},
			want: rebaseState("old",
				rpr(2, "b1", true, pending(false)),
				rpr(3, "c1", true),
				rpr(4, "d1", false, titled("four"))),
		},
		{
			name: "legacy deployed too: its deploy time stays",
			theirs: func(st *State) {
				st.LastDeployAt = "later"
			},
			want: func() *State { s := before.Clone(); s.LastDeployAt = "later"; return s }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			theirs := after.Clone()
			tt.theirs(theirs)
			got := rebase(before, after, theirs)
			if diff := cmp.Diff(summary(tt.want), summary(got)); diff != "" {
				t.Errorf("rebase (-want +got):\n%s", diff)
			}
			// The inputs are not changed.
			if diff := cmp.Diff(summary(rebaseState("now", rpr(1, "a2", true), rpr(2, "b1", false), rpr(4, "d1", false, titled("four")))), summary(after)); diff != "" {
				t.Errorf("after changed:\n%s", diff)
			}
		})
	}
}

// TestStoreTransactRestoreKeepsUnlockedWrite: a writer that takes no lock (the legacy
// page: temp file + rename) writes during the commit step; the failed commit's restore
// keeps that write and undoes only the uncommitted change.
func TestStoreTransactRestoreKeepsUnlockedWrite(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": [{"pr": 1, "commit": "aaaaaaa", "active": true}]}`))
	errCommit := errors.New("jenkins refused")
	_, err := s.Transact(t.Context(), "", func(st *State) error {
		st.LastDeployAt = "2026-12-04T21:00:00+00:00"
		st.PRs[0].Active = false
		return nil
	}, func(_, after Snapshot) error {
		theirs := after.State.Clone()
		theirs.PRs = append(theirs.PRs, NewPR(2, "bbbbbbb"))
		tmp := s.Path() + ".legacy"
		if err := os.WriteFile(tmp, theirs.Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, s.Path()); err != nil {
			t.Fatal(err)
		}
		return errCommit
	})
	if !errors.Is(err, errCommit) {
		t.Fatalf("Transact = %v; want the commit's error", err)
	}
	snap, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deploy=", "1/aaaaaaa/active/latest=/pending=-/title=", "2/bbbbbbb/active/latest=/pending=-/title="}
	if diff := cmp.Diff(want, summary(snap.State)); diff != "" {
		t.Errorf("after the failed commit (-want +got):\n%s", diff)
	}
	// A fresh reader agrees with the cache.
	fresh, err := NewStore(s.Path(), nil).Load(t.Context())
	if err != nil || fresh.Version != snap.Version {
		t.Errorf("fresh Load = %v, %v; want version %s", fresh.Version, err, snap.Version)
	}
	if _, err := os.Stat(s.journalPath()); !os.IsNotExist(err) {
		t.Errorf("journal left behind: %v", err)
	}
}

// TestStoreTransactRestoreLeavesCorruptWrite: what an unlocked writer left during the
// commit does not parse: it is reported, not overwritten.
func TestStoreTransactRestoreLeavesCorruptWrite(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	_, err := s.Transact(t.Context(), "", addPR(1), func(_, _ Snapshot) error {
		if err := os.WriteFile(s.Path(), []byte("{garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		return errors.New("jenkins refused")
	})
	if err == nil {
		t.Fatal("Transact succeeded")
	}
	if got := string(readFile(t, s.Path())); got != "{garbage" {
		t.Errorf("file = %q; want the corrupt write left as it is", got)
	}
	if _, err := s.Load(t.Context()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load = %v; want ErrCorrupt", err)
	}
}
