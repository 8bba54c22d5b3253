package drift

import (
	"maps"
	"testing"

	"github.com/internetarchive/testingd/integrations/github"
)

func TestLearnAnswersWithoutGitHub(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub()
	cache := newMapCache()
	e := newEnv(t, gh, cache, newClock())
	head := "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
	e.r.Learn(t.Context(), []github.Pull{{Number: 7, State: "open", Title: "Seven", HeadSHA: head, Author: "a"}})
	before := gh.count()
	res := e.r.Resolve(t.Context(), []Target{{Number: 7, Pin: head}})
	f := res.PRs[7]
	if !f.Known || f.Stale || f.Drift != 0 || f.Title != "Seven" || f.HeadSHA != head {
		t.Errorf("facts after Learn = %+v; want fresh facts with drift 0", f)
	}
	if got := gh.count(); !maps.Equal(got, before) {
		t.Errorf("Resolve after Learn called GitHub: %v → %v", before, got)
	}
	e.r.flights.Wait() // the shared cache is written in the background
	if _, _, ok := cache.get(e.r.pullKey(7)); !ok {
		t.Errorf("Learn did not share the facts through the cache")
	}
}
