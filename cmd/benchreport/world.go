package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

const (
	trackedBase   = 10000 // tracked PRs are trackedBase+1 … trackedBase+N
	unrelatedBase = 20000 // open PRs nobody tracks: unrelatedBase+1 … +unrelatedOpen
	unrelatedOpen = 100   // with N tracked, the open listing is 2 or 3 pages of 100
	// The first tracked PR is merged and the second closed unmerged: they are absent
	// from the open listing, so the resolver asks for each of them on its own.
	mergedIndex = 0
	closedIndex = 1
)

// world is what one set size runs against: a fake GitHub that holds the tracked PRs
// (every pin behind its head, so every PR needs a comparison: the worst case) among
// unrelated open PRs, and a state file tracking them.
type world struct {
	n          int
	gh         *fakegithub.Server
	statePath  string
	transcript string // never written: no build has run
	targets    []drift.Target
	merged     int // how many tracked PRs are merged or closed
	allOpen    bool
}

func sha(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// newWorld builds the world of n tracked PRs in its own directory under dir. allOpen
// leaves out the merged and the closed PR (a variant, to show what they cost).
func newWorld(n int, dir string, latency time.Duration, allOpen bool) (*world, error) {
	w := &world{n: n, allOpen: allOpen}
	specs := make([]fakegithub.PullSpec, 0, n+unrelatedOpen)
	st := persistence.NewState()
	st.LastDeployAt = "2026-08-05T18:00:00+00:00"
	for i := range n {
		num := trackedBase + 1 + i
		p := fakegithub.PullSpec{
			Number: num,
			Title:  fmt.Sprintf("Benchmark PR %d: a title of ordinary length for a pull request", num),
			Head:   sha("head-" + strconv.Itoa(num)),
			Author: fmt.Sprintf("contributor%d", i%17),
		}
		if i%3 == 0 {
			p.Assignee = fmt.Sprintf("maintainer%d", i%5)
		}
		switch {
		case allOpen:
		case i == mergedIndex:
			p.Merged = true
			w.merged++
		case i == closedIndex:
			p.State = "closed"
			w.merged++
		}
		specs = append(specs, p)

		pr := persistence.NewPR(num, sha("pin-"+strconv.Itoa(num)))
		pr.AddedAt = "2026-08-01T10:00:00+00:00"
		pr.AddedBy = "benchreport"
		st.PRs = append(st.PRs, pr)
		st.Deployed = append(st.Deployed, persistence.DeployedEntry{Key: strconv.Itoa(num), Title: p.Title})
		w.targets = append(w.targets, drift.Target{Number: num, Pin: pr.Commit})
	}
	for i := range unrelatedOpen {
		num := unrelatedBase + 1 + i
		specs = append(specs, fakegithub.PullSpec{Number: num, Title: fmt.Sprintf("Unrelated PR %d", num), Author: "someone"})
	}

	sub := filepath.Join(dir, fmt.Sprintf("n%d", n))
	if allOpen {
		sub += "-open"
	}
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	w.statePath = filepath.Join(sub, "_testing-prs.json")
	w.transcript = filepath.Join(sub, "_dev-merged_status.txt")
	if err := os.WriteFile(w.statePath, st.Marshal(), 0o644); err != nil {
		return nil, err
	}

	w.gh = fakegithub.Start(fakegithub.WithPulls(specs...))
	for _, t := range w.targets {
		// The pin is 1 to 7 commits behind the head.
		w.gh.SetCompare(t.Pin, sha("head-"+strconv.Itoa(t.Number)), "ahead", 1+t.Number%7, 0)
	}
	w.gh.SetLatency(latency)
	return w, nil
}

// openListed is how many open PRs the listing holds.
func (w *world) openListed() int { return w.n - w.merged + unrelatedOpen }

func (w *world) close() { w.gh.Close() }
