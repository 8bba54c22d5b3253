package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ghRecorder sits under the GitHub client (below its ETag cache, so it sees what goes
// over the wire) and records when each request was sent and answered, so the report
// can say how many GitHub round trips in a row a resolve took, whatever the resolver's
// algorithm.
type ghRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []ghRequest
}

type ghRequest struct {
	kind       string // list, pull, compare
	start, end time.Time
}

func (g *ghRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := g.next.RoundTrip(req)
	g.mu.Lock()
	g.reqs = append(g.reqs, ghRequest{kind: kindOf(req.URL.Path), start: start, end: time.Now()})
	g.mu.Unlock()
	return resp, err
}

func kindOf(path string) string {
	switch {
	case strings.Contains(path, "/compare/"):
		return "compare"
	case strings.Contains(path, "/pulls/"):
		return "pull"
	case strings.HasSuffix(path, "/pulls"):
		return "list"
	}
	return "other"
}

// chain is the longest sequence of recorded requests in which each was sent after the
// one before it was answered: the GitHub round trips a resolve waited for in a row.
func (g *ghRecorder) chain() []string {
	g.mu.Lock()
	reqs := slices.Clone(g.reqs)
	g.mu.Unlock()
	slices.SortFunc(reqs, func(a, b ghRequest) int { return a.start.Compare(b.start) })
	depth := make([]int, len(reqs))
	prev := make([]int, len(reqs))
	best := -1
	for i, r := range reqs {
		depth[i], prev[i] = 1, -1
		for j := range i {
			if !reqs[j].end.After(r.start) && depth[j]+1 > depth[i] {
				depth[i], prev[i] = depth[j]+1, j
			}
		}
		if best < 0 || depth[i] > depth[best] {
			best = i
		}
	}
	var out []string
	for i := best; i >= 0; i = prev[i] {
		out = append(out, reqs[i].kind)
	}
	slices.Reverse(out)
	return out
}
