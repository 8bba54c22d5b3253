// Package gitmirror predicts what a deploy will do: which PRs of the testing set
// merge into the integration branch, and which the deploy script will skip with
// "Merge conflict for PR #N — skipping", before anyone presses Deploy.
//
// It keeps a local bare clone of the repository (a Mirror), fetches the base branch
// and refs/pull/N/head of the PRs in the set into refs/testingd/, and merges with the
// real git (`git merge-tree --write-tree`, git >= 2.38), never with hand-written merge
// logic and never in a work tree. Every git command runs with a bounded time and an
// isolated environment (no system or global config, no prompts, the C locale, a
// fixed identity and date so that simulated commits are deterministic).
//
// # The prediction
//
// Mirror.Predict does what make-integration-branch.sh does, on the mirror:
//
//	current := base
//	for each item (active PR, post-deploy pin) in state order:
//	    pin not in the mirror            → Missing  ("Pinned commit … unavailable — skipping")
//	    git merge-tree --write-tree current pin   (merge base chosen by git)
//	    refused (unrelated histories)    → Refused, skipped
//	    conflicted                       → ConflictsBase or ConflictsPR, skipped
//	    clean, pin already in current    → Empty ("Already up to date.", no commit)
//	    clean                            → Clean; current := git commit-tree <tree> -p current -p pin
//
// The merge commit has the same two parents as the one `git merge` makes, so later
// merges see the same history and merge bases. (`git merge` would fast-forward when
// current is an ancestor of the pin; the tree and every later merge base are the same
// either way, so the simulation always makes a merge commit.) A clean merge that
// changes nothing but whose pin is not contained is Clean, as git makes a commit.
//
// # Attribution
//
// A conflicted pin is skipped, exactly as the deploy does; the prediction then says
// why, using only merges git already made for this deploy:
//
//   - ConflictsBase when merging the pin onto the base alone conflicts: it would
//     conflict whatever else is deployed.
//   - Otherwise ConflictsPR with With = the earliest merged PR after whose merge the
//     pin conflicts: the intermediate integration commits C1, C2, … (after each clean
//     merge, in order) are tried in turn and the first one the pin conflicts with
//     names its PR. Skipped PRs never count, as they were not merged. Since the
//     current commit conflicts, some PR is always found. When several PRs touch the
//     same lines, the earliest is named; Pairwise lists all of them.
//
// These extra merges run in one `git merge-tree --stdin` (git >= 2.39; one command
// per merge before), and are memoized like every merge.
//
// Outcome.Paths are the conflicted paths of the merge the deploy will actually attempt
// (the pin into the integration branch as built so far).
//
// # Caching
//
// Every step is memoized under a hash of its exact prefix (base commit, then each
// item's number and resolved commit, in order), so a change to the end of the set
// re-merges only from the first changed item; merge-tree results are memoized by
// their two commits. The memo is bounded and its entries expire after a day, well
// inside git's two-week grace before unreferenced objects (the simulated merges) may
// be pruned.
//
// # The matrix
//
// Mirror.Pairwise merges every PR alone onto the base, then for every two that merge
// cleanly, the later one onto (base + the earlier one), as a deploy of just those two
// would. Merging the two PR heads directly would also count base changes between
// their forks; this does not. At most two merges run at once.
//
// # The front
//
// Predictor answers reads without blocking: from a cache keyed by the exact inputs
// (the mirror's base commit and the ordered items), else "pending" while one
// background computation per inputs runs, showing the latest prediction for the same
// items as stale meanwhile. Its Run loop fetches at start, every FetchInterval and
// when nudged (after a webhook), and once more by itself when a pin is missing (it may
// have been pushed since the last fetch). A nil Predictor, or one made by Disabled,
// is off and says so; a fetch failing or git missing is reported, never fatal.
//
// # Limits
//
// merge-tree in a bare repository reads attributes only from $GIT_DIR/info/attributes,
// not from .gitattributes in the commits, so merge drivers or text/eol attributes
// declared there are not applied, while the deploy's `git merge` in its work tree
// applies them. Both use git's default merge (ort, rename detection on); a deploy box
// with rerere or other merge configuration may resolve what is predicted as a
// conflict.
package gitmirror
