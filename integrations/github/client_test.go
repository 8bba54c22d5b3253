package github_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/internal/fakegithub"
)

const token = "ghp_s3cr3tTOKENvalue0123456789"

func ptr[T any](v T) *T { return &v }

// newClient returns a client of fake, with a short timeout and a log buffer.
func newClient(t *testing.T, fake *fakegithub.Server, mod func(*github.Options)) (*github.Client, *bytes.Buffer) {
	t.Helper()
	var logs syncBuffer
	opts := github.Options{
		BaseURL: fake.URL,
		Repo:    fake.Repo(),
		Token:   token,
		Timeout: 30 * time.Second, // generous: CI machines are busy; timeout tests set their own
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := github.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), token) {
			t.Errorf("the token appears in the log:\n%s", logs.String())
		}
	})
	return c, &logs.buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    github.Options
		wantErr bool
	}{
		{"default base URL", github.Options{Repo: "internetarchive/openlibrary"}, false},
		{"base URL without slash", github.Options{Repo: "a/b", BaseURL: "http://127.0.0.1:1/api/v3"}, false},
		{"dots and dashes", github.Options{Repo: "some-org/repo.name_2"}, false},
		{"empty repo", github.Options{}, true},
		{"no slash", github.Options{Repo: "openlibrary"}, true},
		{"two slashes", github.Options{Repo: "a/b/c"}, true},
		{"empty owner", github.Options{Repo: "/b"}, true},
		{"empty name", github.Options{Repo: "a/"}, true},
		{"dot dot", github.Options{Repo: "../b"}, true},
		{"space", github.Options{Repo: "a b/c"}, true},
		{"relative base URL", github.Options{Repo: "a/b", BaseURL: "api.github.com"}, true},
		{"ftp base URL", github.Options{Repo: "a/b", BaseURL: "ftp://example.com/"}, true},
		{"credentials in base URL", github.Options{Repo: "a/b", BaseURL: "https://user:pw@example.com/"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := github.New(tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%+v) error = %v, want error: %v", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestParsePullFixture(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/pull.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := github.ParsePull(data)
	if err != nil {
		t.Fatalf("ParsePull: %v", err)
	}
	if diff := cmp.Diff(fixturePull, got); diff != "" {
		t.Errorf("ParsePull(fixture) mismatch (-want +got):\n%s", diff)
	}
}

var fixturePull = github.Pull{
	Number:         13269,
	State:          "open",
	Title:          "Test PR",
	HeadSHA:        "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
	Author:         "author",
	AuthorAvatar:   "https://avatars.githubusercontent.com/u/1?v=4",
	Assignee:       "assignee",
	AssigneeAvatar: "https://avatars.githubusercontent.com/u/2?v=4",
	Mergeable:      ptr(true),
	MergeableState: "clean",
}

// The fixture served as is, through the real client.
func TestGetPullFixtureOverTheWire(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/pull.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/internetarchive/openlibrary/pulls/13269" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	c, err := github.New(github.Options{BaseURL: srv.URL, Repo: "internetarchive/openlibrary"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetPull(t.Context(), 13269)
	if err != nil {
		t.Fatalf("GetPull: %v", err)
	}
	if diff := cmp.Diff(fixturePull, got); diff != "" {
		t.Errorf("GetPull mismatch (-want +got):\n%s", diff)
	}
}

func TestParsePullErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "null", "[]", `{"number": "x"}`, `{"title": "no number"}`, `{"number": 0}`, "<html>"} {
		if _, err := github.ParsePull([]byte(in)); !errors.Is(err, github.ErrUnavailable) {
			t.Errorf("ParsePull(%q) error = %v, want ErrUnavailable", in, err)
		}
	}
}

func TestGetPullMapping(t *testing.T) {
	t.Parallel()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		spec fakegithub.PullSpec
		want github.Pull // times are checked separately
	}{
		{
			name: "open, assigned, mergeable",
			spec: fakegithub.PullSpec{Number: 1, Title: "Fix it", Head: sha, Author: "alice", Assignee: "bob", Mergeable: ptr(true)},
			want: github.Pull{Number: 1, State: "open", Title: "Fix it", HeadSHA: sha, Author: "alice", Assignee: "bob", Mergeable: ptr(true), MergeableState: "clean"},
		},
		{
			name: "unassigned, mergeability not computed yet",
			spec: fakegithub.PullSpec{Number: 2, Title: "t", Head: sha, Author: "alice"},
			want: github.Pull{Number: 2, State: "open", Title: "t", HeadSHA: sha, Author: "alice", MergeableState: "unknown"},
		},
		{
			name: "conflicting",
			spec: fakegithub.PullSpec{Number: 3, Head: sha, Author: "alice", Mergeable: ptr(false)},
			want: github.Pull{Number: 3, State: "open", HeadSHA: sha, Author: "alice", Mergeable: ptr(false), MergeableState: "dirty"},
		},
		{
			name: "merged",
			spec: fakegithub.PullSpec{Number: 4, Head: sha, Author: "alice", Merged: true},
			want: github.Pull{Number: 4, State: "closed", HeadSHA: sha, Author: "alice", Merged: true, MergeableState: "unknown"},
		},
		{
			name: "closed without merging",
			spec: fakegithub.PullSpec{Number: 5, Head: sha, Author: "alice", State: "closed"},
			want: github.Pull{Number: 5, State: "closed", HeadSHA: sha, Author: "alice", MergeableState: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegithub.New(t, fakegithub.WithPulls(tt.spec))
			c, _ := newClient(t, fake, nil)
			got, err := c.GetPull(t.Context(), tt.spec.Number)
			if err != nil {
				t.Fatalf("GetPull: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(github.Pull{}, "AuthorAvatar", "AssigneeAvatar", "MergedAt", "ClosedAt", "UpdatedAt")); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if got.AuthorAvatar == "" {
				t.Error("AuthorAvatar is empty")
			}
			if (got.Assignee == "") != (got.AssigneeAvatar == "") {
				t.Errorf("Assignee %q but AssigneeAvatar %q", got.Assignee, got.AssigneeAvatar)
			}
			if got.UpdatedAt.IsZero() {
				t.Error("UpdatedAt is zero")
			}
			if got.Merged == got.MergedAt.IsZero() {
				t.Errorf("Merged = %v but MergedAt = %v", got.Merged, got.MergedAt)
			}
			if (got.State == "closed") == got.ClosedAt.IsZero() {
				t.Errorf("State = %q but ClosedAt = %v", got.State, got.ClosedAt)
			}
			if tt.want.Closed() != got.Closed() {
				t.Errorf("Closed() = %v, want %v", got.Closed(), tt.want.Closed())
			}
		})
	}
}

// The listing carries merged_at but no "merged": a PR listed with merged_at set is merged.
func TestListingMergedFromMergedAt(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, `[{"number": 7, "state": "open", "merged_at": "2026-01-02T03:04:05Z", "assignee": null, "user": {"login": "a"}, "head": {"sha": "abc"}}]`)
	}))
	t.Cleanup(srv.Close)
	c, err := github.New(github.Options{BaseURL: srv.URL, Repo: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListOpenPulls(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Merged || got[0].MergedAt.IsZero() || got[0].Assignee != "" || got[0].Mergeable != nil {
		t.Errorf("ListOpenPulls = %+v, want one merged, unassigned PR with unknown mergeability", got)
	}
}

// pulls makes n open PRs numbered 1..n plus a few closed and merged ones that the
// listing must leave out.
func pulls(n int) []fakegithub.PullSpec {
	var specs []fakegithub.PullSpec
	for i := 1; i <= n; i++ {
		specs = append(specs, fakegithub.PullSpec{Number: i, Title: fmt.Sprintf("PR %d", i), Author: "dev"})
	}
	specs = append(specs,
		fakegithub.PullSpec{Number: n + 1, State: "closed"},
		fakegithub.PullSpec{Number: n + 2, Merged: true},
	)
	return specs
}

func TestListOpenPulls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		open      int
		wantPages int
	}{
		{"none", 0, 1},
		{"one", 1, 1},
		{"exactly one page", 100, 1},
		{"one more than a page", 101, 2},
		{"three pages", 250, 3},
		{"seven pages", 700, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegithub.New(t, fakegithub.WithPulls(pulls(tt.open)...))
			fake.SetLatency(100 * time.Millisecond) // so that concurrent page fetches overlap
			c, _ := newClient(t, fake, nil)
			check := func(got []github.Pull) {
				t.Helper()
				if len(got) != tt.open {
					t.Fatalf("got %d pulls, want %d", len(got), tt.open)
				}
				for i, p := range got {
					// GitHub's order, newest first: n, n-1, …, 1.
					if want := tt.open - i; p.Number != want || p.Title != fmt.Sprintf("PR %d", want) || p.State != "open" {
						t.Fatalf("pull[%d] = #%d %q %s, want #%d", i, p.Number, p.Title, p.State, want)
					}
				}
			}
			got, err := c.ListOpenPulls(t.Context())
			if err != nil {
				t.Fatalf("ListOpenPulls: %v", err)
			}
			check(got)
			// Cold, the client guesses two pages: a repository of one page costs one
			// request more, once.
			cold := max(tt.wantPages, 2)
			if n := fake.Count(fakegithub.KindList); n != cold {
				t.Errorf("fake served %d listing requests, want %d", n, cold)
			}
			for _, r := range fake.Requests() {
				if !strings.Contains(r.Query, "per_page=100") || !strings.Contains(r.Query, "state=open") {
					t.Errorf("listing query %q lacks per_page=100 and state=open", r.Query)
				}
			}
			if fake.MaxInFlight() < 2 {
				t.Errorf("pages 1 and 2 were not fetched together (max in flight %d)", fake.MaxInFlight())
			}
			if s := c.Stats(); s.Requests != int64(cold) || s.Errors != 0 {
				t.Errorf("Stats = %+v, want %d requests and no errors", s, cold)
			}

			// The next listing asks for exactly the pages the last one had, all at once;
			// nothing changed, so every one is a 304.
			got, err = c.ListOpenPulls(t.Context())
			if err != nil {
				t.Fatalf("second ListOpenPulls: %v", err)
			}
			check(got)
			want := github.Stats{Requests: int64(cold + tt.wantPages), NotModified: int64(tt.wantPages)}
			if tt.wantPages == 1 {
				// The cold guess's empty page 2 is not asked again.
				want.NotModified = 1
			}
			if diff := cmp.Diff(want, c.Stats()); diff != "" {
				t.Errorf("Stats after a second listing (-want +got):\n%s", diff)
			}
			if n := pagesAsked(fake, cold); !slices.Equal(n, pageRange(tt.wantPages)) {
				t.Errorf("second listing asked pages %v, want 1..%d", n, tt.wantPages)
			}
		})
	}
}

// pagesAsked returns the pages of the listing requests the fake received after the
// first skip, sorted.
func pagesAsked(fake *fakegithub.Server, skip int) []int {
	var pages []int
	for _, r := range fake.Requests()[skip:] {
		if r.Kind != fakegithub.KindList {
			continue
		}
		q, _ := url.ParseQuery(r.Query)
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil {
			n = 1
		}
		pages = append(pages, n)
	}
	slices.Sort(pages)
	return pages
}

func pageRange(n int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		out = append(out, i)
	}
	return out
}

// barrier is a transport that holds listing requests for the pages of a group until
// every page of that group has been asked for: a listing that asked them one after
// another would never get past it. A group that does not fill up within 10 s is let
// through and recorded as broken (a guard against hanging, not a timing check).
type barrier struct {
	base http.RoundTripper

	mu      sync.Mutex
	groups  []map[int]bool // page → asked
	full    []chan struct{}
	broken  []int // groups that timed out
	arrived []int // pages in order of arrival
}

func newBarrier(groups ...[]int) *barrier {
	b := &barrier{base: http.DefaultTransport}
	for _, g := range groups {
		m := map[int]bool{}
		for _, p := range g {
			m[p] = false
		}
		b.groups = append(b.groups, m)
		b.full = append(b.full, make(chan struct{}))
	}
	return b
}

func (b *barrier) RoundTrip(r *http.Request) (*http.Response, error) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil {
		page = 1
	}
	b.mu.Lock()
	b.arrived = append(b.arrived, page)
	wait := -1
	for i, g := range b.groups {
		if asked, ok := g[page]; ok && !asked {
			g[page], wait = true, i
			all := true
			for _, v := range g {
				all = all && v
			}
			if all {
				close(b.full[i])
			}
			break
		}
	}
	b.mu.Unlock()
	if wait >= 0 {
		select {
		case <-b.full[wait]:
		case <-time.After(10 * time.Second):
			b.mu.Lock()
			b.broken = append(b.broken, wait)
			b.mu.Unlock()
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return b.base.RoundTrip(r)
}

func (b *barrier) check(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, i := range b.broken {
		t.Errorf("pages %v were not all asked for at once (arrival order %v)", slices.Sorted(maps.Keys(b.groups[i])), b.arrived)
	}
	b.broken = nil
}

// Pages 1 and 2 go out together; the pages page 1 announces beyond them go out
// together as soon as page 1 is in; the next listing asks for all five at once.
func TestListOpenPullsAsksPagesAtOnce(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(pulls(450)...))
	cold := newBarrier([]int{1, 2}, []int{3, 4, 5})
	c, _ := newClient(t, fake, func(o *github.Options) { o.HTTPClient = &http.Client{Transport: cold} })
	got, err := c.ListOpenPulls(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cold.check(t)
	if len(got) != 450 || got[0].Number != 450 || got[449].Number != 1 {
		t.Fatalf("got %d pulls", len(got))
	}
	if n := fake.Count(fakegithub.KindList); n != 5 {
		t.Errorf("cold listing: %d requests, want 5", n)
	}

	// A client that remembers five pages (a second one over the same fake, with its
	// own empty ETag cache, would guess again: use the same client).
	warm := newBarrier([]int{1, 2, 3, 4, 5})
	cold.mu.Lock()
	cold.groups, cold.full = warm.groups, warm.full
	cold.mu.Unlock()
	if _, err := c.ListOpenPulls(t.Context()); err != nil {
		t.Fatal(err)
	}
	cold.check(t)
	if n, m := fake.Count(fakegithub.KindList), fake.NotModified(); n != 10 || m != 5 {
		t.Errorf("warm listing: %d requests in all, %d 304s; want 10 and 5", n, m)
	}
}

// The listing shrinks by a page, then grows by two: one wasted request for the page
// that no longer exists, one round trip more for the pages that page 1 announces.
func TestListOpenPullsPageCountChanges(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(pulls(250)...))
	c, _ := newClient(t, fake, nil)
	list := func(want int) {
		t.Helper()
		got, err := c.ListOpenPulls(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != want {
			t.Fatalf("got %d pulls, want %d", len(got), want)
		}
		seen := map[int]bool{}
		for _, p := range got {
			if seen[p.Number] || p.State != "open" {
				t.Fatalf("pull #%d twice or not open", p.Number)
			}
			seen[p.Number] = true
		}
	}
	list(250) // pages 1, 2, then 3
	for n := 1; n <= 100; n++ {
		fake.SetPull(fakegithub.PullSpec{Number: n, State: "closed"})
	}
	before := len(fake.Requests())
	list(150) // pages 1..3 at once; page 3 is now empty
	if got := pagesAsked(fake, before); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("after shrinking: pages asked %v, want [1 2 3]", got)
	}
	before = len(fake.Requests())
	list(150) // the count was remembered
	if got := pagesAsked(fake, before); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("shrunk listing again: pages asked %v, want [1 2]", got)
	}
	for n := 1000; n < 1200; n++ {
		fake.SetPull(fakegithub.PullSpec{Number: n, Title: fmt.Sprintf("PR %d", n)})
	}
	before = len(fake.Requests())
	list(350)
	if got := pagesAsked(fake, before); !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("after growing: pages asked %v, want [1 2 3 4]", got)
	}
	if s := c.Stats(); s.Errors != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// A speculative page that turns out not to be needed may fail without failing the
// listing; a needed page failing fails it, even when it fails before page 1 says it is
// needed.
func TestListOpenPullsSpeculativePageFails(t *testing.T) {
	t.Parallel()
	t.Run("not needed", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, fakegithub.WithPulls(pulls(50)...))
		c, _ := newClient(t, fake, func(o *github.Options) {
			o.HTTPClient = &http.Client{Transport: failPage{page: "2", base: http.DefaultTransport}}
		})
		got, err := c.ListOpenPulls(t.Context())
		if err != nil || len(got) != 50 {
			t.Fatalf("ListOpenPulls = %d pulls, %v; want 50", len(got), err)
		}
		if s := c.Stats(); s.Errors != 0 {
			t.Errorf("Stats = %+v, want no error", s)
		}
	})
	t.Run("needed, failing before page 1 is in", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, fakegithub.WithPulls(pulls(150)...))
		page2Failed := make(chan struct{})
		c, _ := newClient(t, fake, func(o *github.Options) {
			o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				switch r.URL.Query().Get("page") {
				case "2":
					defer close(page2Failed)
					return nil, errors.New("connection reset by peer")
				case "1":
					select {
					case <-page2Failed:
					case <-time.After(10 * time.Second):
						t.Error("page 2 was not asked for while page 1 was in flight")
					}
				}
				return http.DefaultTransport.RoundTrip(r)
			})}
		})
		_, err := c.ListOpenPulls(t.Context())
		if !errors.Is(err, github.ErrUnavailable) || !strings.Contains(err.Error(), "page 2") {
			t.Fatalf("ListOpenPulls error = %v, want ErrUnavailable for page 2", err)
		}
		if s := c.Stats(); s.Errors != 1 {
			t.Errorf("Stats = %+v, want one error", s)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// failPage is a transport that fails the listing's page n.
type failPage struct {
	page string
	base http.RoundTripper
}

func (f failPage) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Query().Get("page") == f.page {
		return nil, errors.New("connection reset by peer")
	}
	return f.base.RoundTrip(r)
}

func TestListOpenPullsPageFails(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(pulls(450)...))
	c, _ := newClient(t, fake, func(o *github.Options) {
		o.HTTPClient = &http.Client{Transport: failPage{page: "3", base: http.DefaultTransport}}
	})
	_, err := c.ListOpenPulls(t.Context())
	if !errors.Is(err, github.ErrUnavailable) {
		t.Fatalf("ListOpenPulls error = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "page 3") {
		t.Errorf("error %q does not say which page failed", err)
	}
}

// A listing is read again when PRs are opened meanwhile and the last page points on.
func TestListOpenPullsFollowsNextPastLast(t *testing.T) {
	t.Parallel()
	// A server whose Link on page 1 says last=2, but whose page 2 says next=3.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := r.URL.Query().Get("page")
		link := func(n int, rel string) string {
			return fmt.Sprintf(`<http://%s%s?page=%d&per_page=100&state=open>; rel=%q`, r.Host, r.URL.Path, n, rel)
		}
		switch page {
		case "", "1":
			w.Header().Set("Link", link(2, "next")+", "+link(2, "last"))
			_, _ = fmt.Fprint(w, `[{"number": 3}]`)
		case "2":
			w.Header().Set("Link", link(1, "prev")+", "+link(3, "next")+", "+link(3, "last"))
			_, _ = fmt.Fprint(w, `[{"number": 2}, {"number": 3}]`)
		case "3":
			_, _ = fmt.Fprint(w, `[{"number": 1}]`)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := github.New(github.Options{BaseURL: srv.URL, Repo: "a/b"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListOpenPulls(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, p := range got {
		numbers = append(numbers, p.Number)
	}
	if diff := cmp.Diff([]int{3, 2, 1}, numbers); diff != "" {
		t.Errorf("numbers (duplicates dropped, page order kept) mismatch (-want +got):\n%s", diff)
	}
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	t.Run("listing", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, fakegithub.WithPulls(pulls(250)...))
		c, _ := newClient(t, fake, nil)
		first, err := c.ListOpenPulls(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.ListOpenPulls(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("second listing differs (-first +second):\n%s", diff)
		}
		want := github.Stats{Requests: 6, NotModified: 3}
		if diff := cmp.Diff(want, c.Stats()); diff != "" {
			t.Errorf("Stats mismatch (-want +got):\n%s", diff)
		}
		if got := fake.NotModified(); got != 3 {
			t.Errorf("fake answered %d 304s, want 3", got)
		}
		// A change to the oldest PR changes only the last page.
		fake.SetPull(fakegithub.PullSpec{Number: 1, Title: "changed"})
		third, err := c.ListOpenPulls(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(third) != 250 || third[249].Title != "changed" {
			t.Errorf("after a change: %d pulls, last titled %q", len(third), third[len(third)-1].Title)
		}
		if s := c.Stats(); s.Requests != 9 || s.NotModified != 5 {
			t.Errorf("Stats after a change = %+v, want 9 requests, 5 of them 304 (pages 1 and 2)", s)
		}
		// A new PR shifts every page (newest first).
		fake.SetPull(fakegithub.PullSpec{Number: 1000, Title: "new"})
		fourth, err := c.ListOpenPulls(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(fourth) != 251 || fourth[0].Number != 1000 || fourth[250].Number != 1 {
			t.Errorf("after a new PR: %d pulls, first #%d", len(fourth), fourth[0].Number)
		}
	})
	t.Run("pull", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 42, Title: "before"}))
		c, _ := newClient(t, fake, nil)
		for range 3 {
			if _, err := c.GetPull(t.Context(), 42); err != nil {
				t.Fatal(err)
			}
		}
		if s := c.Stats(); s.Requests != 3 || s.NotModified != 2 {
			t.Errorf("Stats = %+v, want 3 requests, 2 of them 304", s)
		}
		if got := fake.NotModified(); got != 2 {
			t.Errorf("fake answered %d 304s, want 2", got)
		}
		reqs := fake.Requests()
		if reqs[0].IfNoneMatch != "" || reqs[1].IfNoneMatch == "" {
			t.Errorf("If-None-Match: first %q, second %q; want none, then the ETag", reqs[0].IfNoneMatch, reqs[1].IfNoneMatch)
		}
		fake.SetPull(fakegithub.PullSpec{Number: 42, Title: "after"})
		p, err := c.GetPull(t.Context(), 42)
		if err != nil {
			t.Fatal(err)
		}
		if p.Title != "after" {
			t.Errorf("after a change: title %q, want %q", p.Title, "after")
		}
		if got := fake.NotModified(); got != 2 {
			t.Errorf("a changed pull was answered 304 (%d 304s)", got)
		}
	})
	t.Run("compare", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t)
		fake.SetCompare("aaa", "bbb", "ahead", 2, 0)
		c, _ := newClient(t, fake, nil)
		for range 2 {
			if _, err := c.Compare(t.Context(), "aaa", "bbb"); err != nil {
				t.Fatal(err)
			}
		}
		if s := c.Stats(); s.Requests != 2 || s.NotModified != 1 {
			t.Errorf("Stats = %+v, want 2 requests, 1 of them 304", s)
		}
	})
}

func TestCompare(t *testing.T) {
	t.Parallel()
	const pin, head = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	tests := []struct {
		name       string
		base, head string
		want       github.Comparison
	}{
		{"ahead", pin, head, github.Comparison{Status: "ahead", AheadBy: 3}},
		{"identical", head, head, github.Comparison{Status: "identical"}},
		{"diverged", "3333333", head, github.Comparison{Status: "diverged", AheadBy: 2, BehindBy: 5}},
		{"branch names with slashes", "master", "feature/x", github.Comparison{Status: "behind", BehindBy: 1}},
	}
	fake := fakegithub.New(t)
	for _, tt := range tests {
		fake.SetCompare(tt.base, tt.head, tt.want.Status, tt.want.AheadBy, tt.want.BehindBy)
	}
	c, _ := newClient(t, fake, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Compare(t.Context(), tt.base, tt.head)
			if err != nil {
				t.Fatalf("Compare: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("asks for one commit", func(t *testing.T) {
		t.Parallel()
		if _, err := c.Compare(t.Context(), pin, head); err != nil {
			t.Fatal(err)
		}
		for _, r := range fake.Requests() {
			if r.Kind == fakegithub.KindCompare && r.Query != "per_page=1" {
				t.Errorf("compare query = %q, want per_page=1", r.Query)
			}
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	type call func(context.Context, *github.Client) error
	getPull := func(n int) call {
		return func(ctx context.Context, c *github.Client) error { _, err := c.GetPull(ctx, n); return err }
	}
	list := func(ctx context.Context, c *github.Client) error { _, err := c.ListOpenPulls(ctx); return err }
	compare := func(base, head string) call {
		return func(ctx context.Context, c *github.Client) error { _, err := c.Compare(ctx, base, head); return err }
	}
	resetAt := time.Now().Add(17 * time.Minute).Truncate(time.Second)

	tests := []struct {
		name  string
		setup func(*fakegithub.Server)
		call  call
		want  error
		// for rate limits: the reset wanted, within tolerance
		wantReset time.Time
		tolerance time.Duration
		// timeout is the client's per-request timeout, short where the case is about it
		timeout time.Duration
	}{
		{name: "no such pull", call: getPull(99), want: github.ErrNotFound},
		{name: "pull number zero", call: getPull(0), want: github.ErrNotFound},
		{name: "unknown comparison", call: compare("aaa", "zzz"), want: github.ErrNotFound},
		{name: "empty base", call: compare("", "zzz"), want: github.ErrNotFound},
		{name: "422", setup: func(f *fakegithub.Server) { f.FailNext(1, 422) }, call: compare("aaa", "bbb"), want: github.ErrNotFound},
		{
			name: "primary rate limit", setup: func(f *fakegithub.Server) { f.RateLimit(resetAt) },
			call: getPull(1), want: github.ErrUnavailable, wantReset: resetAt,
		},
		{
			name: "primary rate limit on listing", setup: func(f *fakegithub.Server) { f.RateLimit(resetAt) },
			call: list, want: github.ErrUnavailable, wantReset: resetAt,
		},
		{
			name: "secondary rate limit", setup: func(f *fakegithub.Server) { f.SecondaryRateLimit(90 * time.Second) },
			call: getPull(1), want: github.ErrUnavailable, wantReset: time.Now().Add(90 * time.Second), tolerance: 5 * time.Second,
		},
		{
			name: "429 with Retry-After", setup: func(f *fakegithub.Server) { f.FailNext(1, 429) },
			call: compare("aaa", "bbb"), want: github.ErrUnavailable, wantReset: time.Now().Add(60 * time.Second), tolerance: 5 * time.Second,
		},
		{
			name: "quota used up", setup: func(f *fakegithub.Server) { f.SetQuota(0) },
			call: getPull(1), want: github.ErrUnavailable, wantReset: time.Now().Add(time.Hour), tolerance: 5 * time.Second,
		},
		{name: "forbidden, not a rate limit", setup: func(f *fakegithub.Server) { f.FailAll(403) }, call: getPull(1), want: github.ErrUnavailable},
		{name: "401", setup: func(f *fakegithub.Server) { f.FailAll(401) }, call: getPull(1), want: github.ErrUnavailable},
		{name: "500", setup: func(f *fakegithub.Server) { f.FailAll(500) }, call: getPull(1), want: github.ErrUnavailable},
		{name: "502 on listing", setup: func(f *fakegithub.Server) { f.FailAll(502) }, call: list, want: github.ErrUnavailable},
		{name: "503 on compare", setup: func(f *fakegithub.Server) { f.FailAll(503) }, call: compare("aaa", "bbb"), want: github.ErrUnavailable},
		{name: "garbage pull", setup: func(f *fakegithub.Server) { f.Garbage(true) }, call: getPull(1), want: github.ErrUnavailable},
		{name: "garbage listing", setup: func(f *fakegithub.Server) { f.Garbage(true) }, call: list, want: github.ErrUnavailable},
		{name: "garbage compare", setup: func(f *fakegithub.Server) { f.Garbage(true) }, call: compare("aaa", "bbb"), want: github.ErrUnavailable},
		{name: "hang", setup: func(f *fakegithub.Server) { f.Hang() }, call: getPull(1), want: github.ErrUnavailable, timeout: 150 * time.Millisecond},
		{name: "hang on listing", setup: func(f *fakegithub.Server) { f.Hang() }, call: list, want: github.ErrUnavailable, timeout: 150 * time.Millisecond},
		{name: "slower than the timeout", setup: func(f *fakegithub.Server) { f.SetLatency(5 * time.Second) }, call: compare("aaa", "bbb"), want: github.ErrUnavailable, timeout: 150 * time.Millisecond},
		{name: "unreachable", setup: func(f *fakegithub.Server) { f.Close() }, call: getPull(1), want: github.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 1}))
			fake.SetCompare("aaa", "bbb", "ahead", 1, 0)
			if tt.setup != nil {
				tt.setup(fake)
			}
			c, _ := newClient(t, fake, func(o *github.Options) {
				if tt.timeout != 0 {
					o.Timeout = tt.timeout
				}
			})
			start := time.Now()
			err := tt.call(t.Context(), c)
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %v, want a quick failure", elapsed)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if errors.Is(err, github.ErrNotFound) && errors.Is(err, github.ErrUnavailable) {
				t.Errorf("error %v is both not found and unavailable", err)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "http://") {
				t.Errorf("error %q leaks the token or a URL", err)
			}
			var rl *github.RateLimitError
			isRL := errors.As(err, &rl)
			if isRL != !tt.wantReset.IsZero() {
				t.Fatalf("error %v: rate limit = %v, want %v", err, isRL, !tt.wantReset.IsZero())
			}
			if isRL {
				if d := rl.Reset.Sub(tt.wantReset).Abs(); d > tt.tolerance {
					t.Errorf("Reset = %v, want %v (±%v)", rl.Reset, tt.wantReset, tt.tolerance)
				}
				if s := c.Stats(); s.RateLimited != 1 || s.Errors != 1 {
					t.Errorf("Stats = %+v, want 1 rate-limited error", s)
				}
			}
		})
	}
}

// After a primary rate limit go-github refuses locally until the reset; that still
// has to come out as a *RateLimitError, and costs no request.
func TestRateLimitRememberedLocally(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 1}))
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	fake.RateLimit(reset)
	c, _ := newClient(t, fake, nil)
	if _, err := c.GetPull(t.Context(), 1); !errors.Is(err, github.ErrUnavailable) {
		t.Fatalf("first GetPull error = %v, want rate limited", err)
	}
	fake.Heal()
	_, err := c.GetPull(t.Context(), 1)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || !rl.Reset.Equal(reset) {
		t.Fatalf("second GetPull error = %v, want *RateLimitError until %v", err, reset)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("fake saw %d requests, want 1 (the second refused locally)", n)
	}
	if s := c.Stats(); s.Requests != 1 || s.RateLimited != 2 {
		t.Errorf("Stats = %+v, want 1 request and 2 rate-limited calls", s)
	}
}

func TestCallerCancels(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t)
	fake.Hang()
	c, _ := newClient(t, fake, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.GetPull(ctx, 1)
	if !errors.Is(err, github.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"token as bearer", token, "Bearer " + token},
		{"anonymous", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegithub.New(t, fakegithub.WithPulls(pulls(150)...))
			c, _ := newClient(t, fake, func(o *github.Options) { o.Token = tt.token })
			if _, err := c.ListOpenPulls(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetPull(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			for _, r := range fake.Requests() {
				if r.Authorization != tt.want {
					t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.Path, r.Authorization, tt.want)
				}
			}
		})
	}
}

// The caller's HTTP client is used but not changed.
func TestHTTPClientNotModified(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 1}))
	hc := &http.Client{}
	c, _ := newClient(t, fake, func(o *github.Options) { o.HTTPClient = hc })
	if _, err := c.GetPull(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if hc.Transport != nil {
		t.Errorf("the caller's client's Transport was replaced")
	}
}

// Under the race detector: many concurrent calls share the ETag cache.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(pulls(120)...))
	fake.SetCompare("aaa", "bbb", "ahead", 1, 0)
	c, _ := newClient(t, fake, nil)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = c.ListOpenPulls(t.Context())
			case 1:
				_, err = c.GetPull(t.Context(), 1+i%5)
			case 2:
				_, err = c.Compare(t.Context(), "aaa", "bbb")
			}
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Requests != int64(len(fake.Requests())) || s.NotModified != int64(fake.NotModified()) {
		t.Errorf("Stats %+v disagree with the fake: %d requests, %d 304s", s, len(fake.Requests()), fake.NotModified())
	}
}

// BenchmarkListOpenPulls lists 250 open PRs (3 pages): "changed" answers 200s (a PR
// title changes before every listing, so every page differs), "unchanged" only 304s.
func BenchmarkListOpenPulls(b *testing.B) {
	for _, changed := range []bool{true, false} {
		b.Run(map[bool]string{true: "changed", false: "unchanged"}[changed], func(b *testing.B) {
			fake := fakegithub.New(b, fakegithub.WithPulls(pulls(250)...))
			c, err := github.New(github.Options{BaseURL: fake.URL, Repo: fake.Repo()})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				if changed {
					for n := 1; n <= 250; n += 100 {
						fake.SetPull(fakegithub.PullSpec{Number: n, Title: fmt.Sprintf("PR %d", i), Author: "dev"})
					}
				}
				if _, err := c.ListOpenPulls(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			s := c.Stats()
			b.ReportMetric(float64(s.Requests-s.NotModified)/float64(b.N), "charged-requests/op")
		})
	}
}

// The budget is read from every answer, 304s included, and a 304 does not spend it.
func TestBudget(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 1}, fakegithub.PullSpec{Number: 2}))
	fake.SetQuota(100)
	c, _ := newClient(t, fake, nil)
	ctx := t.Context()
	if b := c.Budget(); b.Known || !b.LastContact.IsZero() {
		t.Fatalf("before any request: %+v; want nothing known", b)
	}
	start := time.Now()
	for _, n := range []int{1, 2, 1} { // the second GetPull(1) is answered 304
		if _, err := c.GetPull(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	b := c.Budget()
	if !b.Known || b.Limit != 100 || b.Remaining != 98 {
		t.Errorf("after 2 counted requests and a 304: known %v, %d of %d left; want 98 of 100", b.Known, b.Remaining, b.Limit)
	}
	if b.Reset.Before(start) || b.LastContact.Before(start) {
		t.Errorf("reset %v, last contact %v; want both after %v", b.Reset, b.LastContact, start)
	}
	// A failure is no contact, but its headers still say what is left.
	contact := b.LastContact
	fake.FailNext(1, http.StatusBadGateway)
	if _, err := c.GetPull(ctx, 2); err == nil {
		t.Fatal("GetPull succeeded through a 502")
	}
	if b := c.Budget(); !b.LastContact.Equal(contact) {
		t.Errorf("a 502 moved the last contact from %v to %v", contact, b.LastContact)
	}
}
