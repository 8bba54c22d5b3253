package openlibrary

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/internal/fakeclock"
	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
)

type clock = fakeclock.Clock

func newGroups(t *testing.T, ol *fakeopenlibrary.Server) (*Groups, *clock) {
	t.Helper()
	client := ol.Client()
	client.Timeout = time.Second
	g, err := NewGroups(ol.URL, client, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := fakeclock.New(time.Date(2026, 1, 18, 17, 0, 0, 0, time.UTC))
	g.now = c.Now
	return g, c
}

func TestNewGroupsRefusesBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "openlibrary.org", "ftp://openlibrary.org", "http://"} {
		if _, err := NewGroups(u, nil, 0, nil); err == nil {
			t.Errorf("NewGroups(%q) succeeded", u)
		}
	}
}

func TestMembersFixture(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, _ := newGroups(t, ol)
	got, err := g.Members(t.Context(), "maintainers")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"openlibrary": true, "mekarpeles": true}, got); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	// The set is the caller's: changing it changes nothing cached.
	got["mallory"] = true
	if again, _ := g.Members(t.Context(), "maintainers"); again["mallory"] {
		t.Error("a caller's change reached the cache")
	}
	if reqs := ol.Requests(); len(reqs) != 1 || reqs[0].Path != "/usergroup/maintainers.json" || reqs[0].Method != http.MethodGet {
		t.Errorf("requests = %+v; want one GET /usergroup/maintainers.json", reqs)
	}
}

func TestMembersBasePath(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, err := NewGroups(ol.URL+"/", ol.Client(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Members(t.Context(), "maintainers"); err != nil {
		t.Fatal(err)
	}
	if reqs := ol.Requests(); reqs[0].Path != "/usergroup/maintainers.json" {
		t.Errorf("path = %q", reqs[0].Path)
	}
}

func TestMembersCache(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, clk := newGroups(t, ol)
	ctx := t.Context()
	for range 3 {
		if _, err := g.Members(ctx, "maintainers"); err != nil {
			t.Fatal(err)
		}
	}
	if n := ol.Count("maintainers"); n != 1 {
		t.Fatalf("%d requests for 3 lookups within the TTL; want 1", n)
	}
	ol.SetMembers("maintainers", "openlibrary")
	clk.Advance(59 * time.Second)
	if m, _ := g.Members(ctx, "maintainers"); !m["mekarpeles"] {
		t.Error("a change was seen before the TTL")
	}
	clk.Advance(2 * time.Second)
	// Past the TTL the cached answer is served at once and Open Library asked in
	// the background; the lookup after that fetch sees the removal.
	if m, err := g.Members(ctx, "maintainers"); err != nil || !m["mekarpeles"] {
		t.Errorf("just past the TTL: %v, %v; want the cached answer while revalidating", m, err)
	}
	g.background.Wait()
	m, err := g.Members(ctx, "maintainers")
	if err != nil || m["mekarpeles"] || !m["openlibrary"] {
		t.Errorf("after the revalidation: %v, %v; want the removal seen", m, err)
	}
	if n := ol.Count("maintainers"); n != 2 {
		t.Errorf("%d requests; want 2", n)
	}
	// Past maxStale nothing cached is trusted: the lookup waits for Open Library.
	ol.SetMembers("maintainers", "someone")
	clk.Advance(maxStale + time.Second)
	m, err = g.Members(ctx, "maintainers")
	if err != nil || m["openlibrary"] || !m["someone"] {
		t.Errorf("past maxStale: %v, %v; want a fresh answer", m, err)
	}
}

// A slow or hanging Open Library never makes a lookup wait while a cached answer
// within maxStale exists: it is served and revalidated in the background, one fetch
// for every concurrent lookup.
func TestMembersStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, clk := newGroups(t, ol)
	ctx := t.Context()
	if _, err := g.Members(ctx, "maintainers"); err != nil {
		t.Fatal(err)
	}
	ol.SetMembers("maintainers", "openlibrary")
	ol.SetLatency(time.Hour) // the client's 1 s timeout ends the fetch

	clk.Advance(2 * time.Minute)
	for range 10 {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"})
		cancel()
		if !ok || err != nil {
			t.Fatalf("OL hanging, answer 2 minutes old: IsMember = %v, %v; want the cached yes at once", ok, err)
		}
	}
	g.background.Wait()
	if n := ol.Count("maintainers"); n != 2 {
		t.Errorf("%d requests; want the first and one shared revalidation", n)
	}
	// The failed revalidation is not retried within the backoff; still served.
	if ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"}); !ok || err != nil {
		t.Fatalf("after a failed revalidation: %v, %v", ok, err)
	}
	g.background.Wait()
	if n := ol.Count("maintainers"); n != 2 {
		t.Errorf("%d requests; want no new one within the failure backoff", n)
	}
	// OL answers again: the next revalidation brings the change.
	ol.SetLatency(0)
	clk.Advance(failBackoff)
	if _, err := g.Members(ctx, "maintainers"); err != nil {
		t.Fatal(err)
	}
	g.background.Wait()
	if ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"}); ok || err != nil {
		t.Errorf("after OL came back: IsMember = %v, %v; want the removal seen", ok, err)
	}
}

func TestMembersSingleflight(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	ol.SetLatency(100 * time.Millisecond)
	g, _ := newGroups(t, ol)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, errs[i] = g.Members(t.Context(), "maintainers") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := ol.Count(""); n != 1 {
		t.Errorf("%d requests for 20 concurrent lookups; want 1", n)
	}
}

func TestMembersCallerGivesUp(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	ol.SetLatency(300 * time.Millisecond)
	g, _ := newGroups(t, ol)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := g.Members(ctx, "maintainers"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want the caller's deadline", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("the caller waited %v after giving up", d)
	}
	// The fetch went on for whoever asks next.
	if _, err := g.Members(t.Context(), "maintainers"); err != nil {
		t.Fatal(err)
	}
	if n := ol.Count(""); n != 1 {
		t.Errorf("%d requests; want the one fetch shared", n)
	}
}

func TestMembersFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*fakeopenlibrary.Server)
	}{
		{"500", func(ol *fakeopenlibrary.Server) { ol.FailAll(http.StatusInternalServerError) }},
		{"503", func(ol *fakeopenlibrary.Server) { ol.FailAll(http.StatusServiceUnavailable) }},
		{"403", func(ol *fakeopenlibrary.Server) { ol.FailAll(http.StatusForbidden) }},
		{"garbage", func(ol *fakeopenlibrary.Server) { ol.Garbage(true) }},
		{"timeout", func(ol *fakeopenlibrary.Server) { ol.SetLatency(5 * time.Second) }},
		{"down", func(ol *fakeopenlibrary.Server) { ol.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ol := fakeopenlibrary.New(t)
			tt.setup(ol)
			g, _ := newGroups(t, ol)
			m, err := g.Members(t.Context(), "maintainers")
			if !errors.Is(err, ErrUnavailable) || m != nil {
				t.Errorf("Members = %v, %v; want ErrUnavailable", m, err)
			}
			ok, err := g.IsMember(t.Context(), "openlibrary", []string{"maintainers"})
			if ok || !errors.Is(err, ErrUnavailable) {
				t.Errorf("IsMember = %v, %v; want false, ErrUnavailable", ok, err)
			}
		})
	}
}

func TestParseUsergroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want map[string]bool // nil = error
	}{
		{"members", `{"key": "/usergroup/g", "members": [{"key": "/people/a"}, {"key": "/people/b"}]}`, map[string]bool{"a": true, "b": true}},
		{"no members", `{"key": "/usergroup/g"}`, map[string]bool{}},
		{"null members", `{"key": "/usergroup/g", "members": null}`, map[string]bool{}},
		{"other keys skipped", `{"key": "/usergroup/g", "members": [{"key": "/usergroup/h"}, {"key": "/people/"}, {"key": "/people/a/b"}, {}, {"key": "/people/c"}]}`, map[string]bool{"c": true}},
		{"another document", `{"key": "/usergroup/admin", "members": [{"key": "/people/a"}]}`, nil},
		{"no key", `{"members": [{"key": "/people/a"}]}`, nil},
		{"array", `[{"key": "/people/a"}]`, nil},
		{"html", `<html>maintenance</html>`, nil},
		{"members not a list", `{"key": "/usergroup/g", "members": "/people/a"}`, nil},
		{"member not an object", `{"key": "/usergroup/g", "members": ["/people/a"]}`, nil},
		{"truncated", `{"key": "/usergroup/g", "members": [{"key": "/people/a"`, nil},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseUsergroup([]byte(tt.body), "g")
			if tt.want == nil {
				if err == nil {
					t.Errorf("parseUsergroup = %v; want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMembersMissingGroup(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, _ := newGroups(t, ol)
	for range 2 {
		m, err := g.Members(t.Context(), "admin")
		if err != nil || len(m) != 0 {
			t.Fatalf("Members(admin) = %v, %v; want no members", m, err)
		}
	}
	if n := ol.Count("admin"); n != 1 {
		t.Errorf("%d requests; want the 404 cached", n)
	}
}

func TestMembersStaleOnFailure(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, clk := newGroups(t, ol)
	ctx := t.Context()
	if _, err := g.Members(ctx, "maintainers"); err != nil {
		t.Fatal(err)
	}
	ol.FailAll(http.StatusBadGateway)

	// Past the TTL but within maxStale, a failed refresh serves the last answer.
	clk.Advance(2 * time.Minute)
	if ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"}); !ok || err != nil {
		t.Fatalf("2 minutes old, OL down: IsMember = %v, %v; want the cached yes", ok, err)
	}
	g.background.Wait()
	// Within failBackoff of that failure, OL is not asked again.
	n := ol.Count("")
	clk.Advance(time.Second)
	if _, err := g.Members(ctx, "maintainers"); err != nil {
		t.Fatal(err)
	}
	if ol.Count("") != n {
		t.Error("OL asked again within the failure backoff")
	}
	// Past maxStale nothing trustworthy is known: unavailable, never allowed.
	clk.Advance(maxStale)
	if ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"}); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("past maxStale, OL down: IsMember = %v, %v; want false, ErrUnavailable", ok, err)
	}
	// Within the backoff, still unavailable and OL not asked.
	n = ol.Count("")
	if _, err := g.Members(ctx, "maintainers"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Members = %v; want ErrUnavailable", err)
	}
	if ol.Count("") != n {
		t.Error("OL asked again within the failure backoff")
	}
	// OL back: answers again after the backoff.
	ol.FailAll(0)
	clk.Advance(failBackoff)
	if ok, err := g.IsMember(ctx, "mekarpeles", []string{"maintainers"}); !ok || err != nil {
		t.Fatalf("OL back: IsMember = %v, %v", ok, err)
	}
}

func TestIsMember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		user     string
		groups   []string
		setup    func(*fakeopenlibrary.Server)
		want     bool
		wantErr  bool
		requests int // -1 = don't check
	}{
		{"in the first group", "openlibrary", []string{"maintainers", "admin"}, nil, true, false, -1},
		// The groups are asked at once and a yes answers at once, so whether the
		// other group was asked yet is a race: not counted.
		{"in the second group", "root", []string{"maintainers", "admin"}, func(ol *fakeopenlibrary.Server) { ol.SetMembers("admin", "root") }, true, false, -1},
		{"in none", "reader", []string{"maintainers", "admin"}, func(ol *fakeopenlibrary.Server) { ol.SetMembers("admin", "root") }, false, false, 2},
		{"no such groups", "openlibrary", []string{"librarians"}, nil, false, false, 1},
		{"case matters", "OpenLibrary", []string{"maintainers"}, nil, false, false, 1},
		{"empty username", "", []string{"maintainers"}, nil, false, false, 0},
		{"no groups", "openlibrary", nil, nil, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ol := fakeopenlibrary.New(t)
			if tt.setup != nil {
				tt.setup(ol)
			}
			g, _ := newGroups(t, ol)
			got, err := g.IsMember(t.Context(), tt.user, tt.groups)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("IsMember = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
			if n := ol.Count(""); tt.requests >= 0 && n != tt.requests {
				t.Errorf("%d requests; want %d", n, tt.requests)
			}
		})
	}
}

// A yes from one group stands when another group cannot be read; a no does not.
func TestIsMemberPartialFailure(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	g, _ := newGroups(t, ol)
	ctx := t.Context()
	if _, err := g.Members(ctx, "maintainers"); err != nil { // cached
		t.Fatal(err)
	}
	ol.FailAll(http.StatusInternalServerError) // admin cannot be read
	if ok, err := g.IsMember(ctx, "openlibrary", []string{"admin", "maintainers"}); !ok || err != nil {
		t.Errorf("member of a readable group: %v, %v; want true", ok, err)
	}
	if ok, err := g.IsMember(ctx, "reader", []string{"admin", "maintainers"}); ok || !errors.Is(err, ErrUnavailable) {
		t.Errorf("member of no readable group: %v, %v; want false, ErrUnavailable", ok, err)
	}
}

func TestIsMemberConcurrent(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	ol.SetMembers("admin", "root")
	ol.SetMembers("librarians", "lib")
	ol.SetLatency(200 * time.Millisecond)
	g, _ := newGroups(t, ol)
	start := time.Now()
	ok, err := g.IsMember(t.Context(), "nobody", []string{"maintainers", "admin", "librarians"})
	if ok || err != nil {
		t.Fatalf("IsMember = %v, %v", ok, err)
	}
	if d := time.Since(start); d > 550*time.Millisecond {
		t.Errorf("3 groups of 200ms each took %v; want them fetched concurrently", d)
	}
}

func FuzzParseUsergroup(f *testing.F) {
	f.Add([]byte(`{"key": "/usergroup/maintainers", "members": [{"key": "/people/openlibrary"}, {"key": "/people/mekarpeles"}]}`))
	f.Add([]byte(`{"key": "/usergroup/maintainers", "members": null}`))
	f.Add([]byte(`<html></html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseUsergroup(body, "maintainers")
		if err != nil {
			if m != nil {
				t.Fatalf("members %v with error %v", m, err)
			}
			return
		}
		for name := range m {
			if name == "" || strings.Contains(name, "/") {
				t.Fatalf("member %q", name)
			}
		}
	})
}
