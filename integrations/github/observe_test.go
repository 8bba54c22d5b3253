package github

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/internetarchive/testingd/internal/fakegithub"
)

func TestEndpointOf(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/repos/o/r/pulls":                  EndpointListPulls,
		"/api/v3/repos/o/r/pulls":           EndpointListPulls,
		"/repos/o/r/pulls/13269":            EndpointGetPull,
		"/api/v3/repos/o/r/pulls/1":         EndpointGetPull,
		"/repos/o/r/compare/abc...def":      EndpointCompare,
		"/repos/o/r/compare/a%2Fb...master": EndpointCompare,
		"/repos/o/r/pulls/1/files":          EndpointOther,
		"/repos/o/r/pulls/":                 EndpointOther,
		"/repos/o/r/pulls/x":                EndpointOther,
		"/repos/o/r/compare/abc":            EndpointOther,
		"/repos/o/r/issues/1":               EndpointOther,
		"/repos/o/r":                        EndpointOther,
		"/repos//r/pulls":                   EndpointOther,
		"/rate_limit":                       EndpointOther,
		"/":                                 EndpointOther,
	} {
		if got := endpointOf(path); got != want {
			t.Errorf("endpointOf(%q) = %q, want %q", path, got, want)
		}
	}
}

type observed struct {
	endpoint string
	status   int
}

// responseLog records what ObserveResponses reports.
type responseLog struct {
	mu  sync.Mutex
	got []observed
}

func (l *responseLog) observe(endpoint string, status int, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	l.got = append(l.got, observed{endpoint, status})
}

func (l *responseLog) take() []observed {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// The observer sees each request as it went over the wire: a 304 as 304 (the caller
// gets the remembered 200), a failure with its status, no answer as 0.
func TestObserveResponses(t *testing.T) {
	t.Parallel()
	head := strings.Repeat("a", 40)
	pin := strings.Repeat("b", 40)
	fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 7, Head: head}))
	fake.SetCompare(pin, head, "ahead", 2, 0)
	c, err := New(Options{BaseURL: fake.URL, Repo: fake.Repo(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var log responseLog
	c.ObserveResponses(log.observe)
	ctx := t.Context()
	check := func(step string, want ...observed) {
		t.Helper()
		got := log.take()
		if len(got) != len(want) {
			t.Fatalf("%s: observed %v, want %v", step, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: observed %v, want %v", step, got, want)
			}
		}
	}

	for _, want := range []int{http.StatusOK, http.StatusNotModified} {
		if _, err := c.GetPull(ctx, 7); err != nil {
			t.Fatal(err)
		}
		check("GetPull", observed{EndpointGetPull, want})
		if _, err := c.Compare(ctx, pin, head); err != nil {
			t.Fatal(err)
		}
		check("Compare", observed{EndpointCompare, want})
	}
	if _, err := c.ListOpenPulls(ctx); err != nil {
		t.Fatal(err)
	}
	// Page 1 and the speculative page 2, in either order.
	if got := log.take(); len(got) != 2 || got[0] != (observed{EndpointListPulls, http.StatusOK}) || got[1] != got[0] {
		t.Fatalf("ListOpenPulls: observed %v, want two list_pulls 200", got)
	}
	if _, err := c.GetPull(ctx, 8); err == nil {
		t.Fatal("GetPull of a PR that does not exist succeeded")
	}
	check("GetPull of a missing PR", observed{EndpointGetPull, http.StatusNotFound})
	fake.FailNext(1, http.StatusBadGateway)
	if _, err := c.GetPull(ctx, 7); err == nil {
		t.Fatal("GetPull answered 502 succeeded")
	}
	check("GetPull answered 502", observed{EndpointGetPull, http.StatusBadGateway})

	fake.Close()
	if _, err := c.GetPull(ctx, 7); err == nil {
		t.Fatal("GetPull of a closed server succeeded")
	}
	check("GetPull with no answer", observed{EndpointGetPull, 0})

	c.ObserveResponses(nil)
	_, _ = c.GetPull(ctx, 7)
	check("observing stopped")
}
