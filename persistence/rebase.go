package persistence

import "slices"

// rebase undoes a change that failed to commit while keeping what another writer did
// meanwhile. before is the state the change was made from, after the state it wrote,
// theirs what the file holds now: after plus a write of someone who does not take the
// lock (the legacy page), made while the commit step ran. The result is theirs with
// every field the change set put back to its before value, wherever theirs still holds
// the changed value; a field theirs changed again stays theirs. A PR the change
// removed comes back (at its old place) unless theirs added it again; a PR theirs added
// or removed stays added or removed.
//
// It is a three-way merge by field, not by line: two people changing the same field
// cannot both win, and theirs does (it is the later write).
func rebase(before, after, theirs *State) *State {
	out := theirs.Clone()
	undo := func(mine, changed, old string) string {
		if mine == changed {
			return old
		}
		return mine
	}
	out.LastDeployAt = undo(out.LastDeployAt, after.LastDeployAt, before.LastDeployAt)
	out.DeployStartedAt = undo(out.DeployStartedAt, after.DeployStartedAt, before.DeployStartedAt)
	if slices.Equal(out.Deployed, after.Deployed) {
		out.Deployed = slices.Clone(before.Deployed)
	}
	if slices.EqualFunc(out.Removed, after.Removed, sameRemoved) {
		out.Removed = cloneRemoved(before.Removed)
	}

	beforePR := indexPRs(before.PRs)
	afterPR := indexPRs(after.PRs)
	for i := range out.PRs {
		p := &out.PRs[i]
		a, inAfter := afterPR[p.Number]
		b, inBefore := beforePR[p.Number]
		if !inAfter || !inBefore {
			continue // theirs added it (or it was added and removed by the change): theirs
		}
		p.Commit = undo(p.Commit, a.Commit, b.Commit)
		p.Title = undo(p.Title, a.Title, b.Title)
		p.AddedAt = undo(p.AddedAt, a.AddedAt, b.AddedAt)
		p.AddedBy = undo(p.AddedBy, a.AddedBy, b.AddedBy)
		p.PullLatestSHA = undo(p.PullLatestSHA, a.PullLatestSHA, b.PullLatestSHA)
		p.Author = undo(p.Author, a.Author, b.Author)
		p.AuthorAvatar = undo(p.AuthorAvatar, a.AuthorAvatar, b.AuthorAvatar)
		p.Assignee = undo(p.Assignee, a.Assignee, b.Assignee)
		p.AssigneeAvatar = undo(p.AssigneeAvatar, a.AssigneeAvatar, b.AssigneeAvatar)
		if p.Active == a.Active {
			p.Active = b.Active
		}
		if equalPending(p.PendingActive, a.PendingActive) {
			p.PendingActive = clonePending(b.PendingActive)
		}
	}

	// PRs the change removed, which theirs did not bring back: back at their place,
	// after the nearest PR that preceded them in before.
	for i, b := range before.PRs {
		if _, kept := afterPR[b.Number]; kept {
			continue
		}
		if slices.ContainsFunc(out.PRs, func(p PR) bool { return p.Number == b.Number }) {
			continue
		}
		at := 0
		for j := i - 1; j >= 0; j-- {
			if k := slices.IndexFunc(out.PRs, func(p PR) bool { return p.Number == before.PRs[j].Number }); k >= 0 {
				at = k + 1
				break
			}
		}
		out.PRs = slices.Insert(out.PRs, at, b.clone())
	}
	return out
}

func indexPRs(prs []PR) map[int]PR {
	m := make(map[int]PR, len(prs))
	for _, p := range prs {
		if _, dup := m[p.Number]; !dup {
			m[p.Number] = p
		}
	}
	return m
}

func equalPending(a, b *bool) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func clonePending(p *bool) *bool {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func sameRemoved(a, b RemovedPR) bool {
	return a.RemovedAt == b.RemovedAt && a.RemovedBy == b.RemovedBy && a.PR.Number == b.PR.Number && a.PR.Commit == b.PR.Commit
}

func cloneRemoved(r []RemovedPR) []RemovedPR {
	out := make([]RemovedPR, len(r))
	for i, x := range r {
		out[i] = RemovedPR{PR: x.PR.clone(), RemovedAt: x.RemovedAt, RemovedBy: x.RemovedBy}
	}
	if r == nil {
		return nil
	}
	return out
}
