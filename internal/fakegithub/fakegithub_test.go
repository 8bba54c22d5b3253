package fakegithub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/internetarchive/testingd/internal/fakegithub"
)

// get fetches path from fake with optional headers ("Name", "value", …).
func get(t *testing.T, fake *fakegithub.Server, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fake.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func decode(t *testing.T, body []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return v
}

func many(n int) fakegithub.Option {
	var specs []fakegithub.PullSpec
	for i := 1; i <= n; i++ {
		specs = append(specs, fakegithub.PullSpec{Number: i})
	}
	return fakegithub.WithPulls(specs...)
}

const repoPath = "/repos/internetarchive/openlibrary"

func TestPullShape(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithPulls(
		fakegithub.PullSpec{Number: 1, Title: "T", Head: "abc", Author: "alice", Assignee: "bob", Mergeable: new(true)},
		fakegithub.PullSpec{Number: 2, Merged: true},
	))
	resp, body := get(t, fake, repoPath+"/pulls/1")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := decode(t, body).(map[string]any)
	for key, want := range map[string]any{
		"number": 1.0, "title": "T", "state": "open", "merged": false, "mergeable": true, "merged_at": nil, "closed_at": nil,
	} {
		if got, ok := p[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if p["head"].(map[string]any)["sha"] != "abc" || p["user"].(map[string]any)["login"] != "alice" || p["assignee"].(map[string]any)["login"] != "bob" {
		t.Errorf("head/user/assignee wrong: %s", body)
	}
	if !strings.HasPrefix(p["user"].(map[string]any)["avatar_url"].(string), "https://avatars.githubusercontent.com/u/") {
		t.Errorf("avatar_url wrong: %s", body)
	}

	_, body = get(t, fake, repoPath+"/pulls/2")
	p = decode(t, body).(map[string]any)
	if p["state"] != "closed" || p["merged"] != true || p["merged_at"] == nil || p["assignee"] != nil || p["mergeable"] != nil {
		t.Errorf("merged PR wrong: %s", body)
	}

	// The listing lacks merged and mergeable, as GitHub's does.
	_, body = get(t, fake, repoPath+"/pulls?state=all")
	list := decode(t, body).([]any)
	if len(list) != 2 {
		t.Fatalf("state=all listed %d, want 2", len(list))
	}
	for _, item := range list {
		m := item.(map[string]any)
		for _, key := range []string{"merged", "mergeable", "mergeable_state"} {
			if _, ok := m[key]; ok {
				t.Errorf("listing item has %q", key)
			}
		}
		if _, ok := m["merged_at"]; !ok {
			t.Error("listing item lacks merged_at")
		}
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, many(250))
	tests := []struct {
		name      string
		query     string
		wantCount int
		wantFirst int // number of the first item
		wantRels  map[string]int
	}{
		{"default page size", "", 30, 250, map[string]int{"next": 2, "last": 9}},
		{"page 1 of 3", "?per_page=100", 100, 250, map[string]int{"next": 2, "last": 3}},
		{"page 2 of 3", "?per_page=100&page=2", 100, 150, map[string]int{"prev": 1, "next": 3, "last": 3, "first": 1}},
		{"page 3 of 3", "?per_page=100&page=3", 50, 50, map[string]int{"prev": 2, "first": 1}},
		{"page size capped at 100", "?per_page=500", 100, 250, map[string]int{"next": 2, "last": 3}},
		{"past the end", "?per_page=100&page=9", 0, 0, map[string]int{"prev": 3, "first": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, fake, repoPath+"/pulls"+tt.query)
			list := decode(t, body).([]any)
			if len(list) != tt.wantCount {
				t.Fatalf("%d items, want %d", len(list), tt.wantCount)
			}
			if tt.wantCount > 0 {
				if n := list[0].(map[string]any)["number"].(float64); int(n) != tt.wantFirst {
					t.Errorf("first item #%v, want #%d", n, tt.wantFirst)
				}
			}
			rels := parseLink(t, resp.Header.Get("Link"))
			if fmt.Sprint(rels) != fmt.Sprint(tt.wantRels) {
				t.Errorf("Link rels %v, want %v (header %q)", rels, tt.wantRels, resp.Header.Get("Link"))
			}
		})
	}
	t.Run("one page has no Link", func(t *testing.T) {
		t.Parallel()
		small := fakegithub.New(t, many(3))
		resp, _ := get(t, small, repoPath+"/pulls")
		if l := resp.Header.Get("Link"); l != "" {
			t.Errorf("Link = %q, want none", l)
		}
	})
}

// parseLink returns rel → page of a Link header, checking each URL keeps the query.
func parseLink(t *testing.T, h string) map[string]int {
	t.Helper()
	rels := map[string]int{}
	if h == "" {
		return rels
	}
	for _, part := range strings.Split(h, ", ") {
		u, rel, ok := strings.Cut(part, "; ")
		if !ok || !strings.HasPrefix(u, "<http://") || !strings.HasSuffix(u, ">") || !strings.HasPrefix(rel, `rel="`) {
			t.Fatalf("malformed Link part %q", part)
		}
		_, q, _ := strings.Cut(strings.Trim(u, "<>"), "?")
		var page int
		for _, kv := range strings.Split(q, "&") {
			if v, ok := strings.CutPrefix(kv, "page="); ok {
				page, _ = strconv.Atoi(v)
			}
		}
		rels[strings.TrimSuffix(strings.TrimPrefix(rel, `rel="`), `"`)] = page
	}
	return rels
}

func TestETag(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, many(150))
	for _, path := range []string{repoPath + "/pulls/1", repoPath + "/pulls?per_page=100", repoPath + "/pulls?per_page=100&page=2"} {
		resp, body := get(t, fake, path)
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || !strings.HasPrefix(etag, `"`) || len(body) == 0 {
			t.Fatalf("%s: %d, ETag %q", path, resp.StatusCode, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag} {
			resp, body = get(t, fake, path, "If-None-Match", inm)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Errorf("%s with If-None-Match %s: %d with %d bytes, want an empty 304", path, inm, resp.StatusCode, len(body))
			}
			if resp.Header.Get("X-RateLimit-Remaining") == "" {
				t.Error("304 without X-RateLimit-Remaining")
			}
		}
		resp, _ = get(t, fake, path, "If-None-Match", `"stale"`)
		if resp.StatusCode != 200 {
			t.Errorf("%s with a stale ETag: %d, want 200", path, resp.StatusCode)
		}
	}
	if n := fake.NotModified(); n != 9 {
		t.Errorf("NotModified() = %d, want 9", n)
	}

	// A change makes a new ETag; re-setting the same spec does not.
	resp, _ := get(t, fake, repoPath+"/pulls/1")
	before := resp.Header.Get("ETag")
	fake.SetPull(fakegithub.PullSpec{Number: 1})
	if resp, _ = get(t, fake, repoPath+"/pulls/1"); resp.Header.Get("ETag") != before {
		t.Error("re-setting an identical PR changed its ETag")
	}
	fake.SetPull(fakegithub.PullSpec{Number: 1, Title: "new"})
	if resp, _ = get(t, fake, repoPath+"/pulls/1", "If-None-Match", before); resp.StatusCode != 200 {
		t.Errorf("changed PR answered %d to its old ETag, want 200", resp.StatusCode)
	}
}

func TestCompareAndNotFound(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.WithRepo("Owner/Repo"), fakegithub.WithPulls(fakegithub.PullSpec{Number: 1}))
	fake.SetCompare("aaa", "feature/x", "diverged", 2, 3)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantKind   string
	}{
		{"compare", "/repos/Owner/Repo/compare/aaa...feature%2Fx?per_page=1", 200, fakegithub.KindCompare},
		{"repo names are case-insensitive", "/repos/owner/repo/pulls/1", 200, fakegithub.KindPull},
		{"enterprise prefix", "/api/v3/repos/Owner/Repo/pulls/1", 200, fakegithub.KindPull},
		{"unknown pair", "/repos/Owner/Repo/compare/aaa...bbb", 404, fakegithub.KindCompare},
		{"unknown pull", "/repos/Owner/Repo/pulls/2", 404, fakegithub.KindPull},
		{"other repo", "/repos/Owner/Other/pulls/1", 404, ""},
		{"bad number", "/repos/Owner/Repo/pulls/x", 404, ""},
		{"elsewhere", "/user", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, fake, tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			m := decode(t, body).(map[string]any)
			if tt.wantStatus == 404 && m["message"] != "Not Found" {
				t.Errorf("404 body %s", body)
			}
			if tt.wantKind == fakegithub.KindCompare && tt.wantStatus == 200 {
				if m["status"] != "diverged" || m["ahead_by"] != 2.0 || m["behind_by"] != 3.0 || m["total_commits"] != 2.0 {
					t.Errorf("compare body %s", body)
				}
			}
			reqs := fake.Requests()
			if last := reqs[len(reqs)-1]; last.Kind != tt.wantKind || last.Status != tt.wantStatus {
				t.Errorf("recorded %+v, want kind %q status %d", last, tt.wantKind, tt.wantStatus)
			}
		})
	}
	fake.RemovePull(1)
	if resp, _ := get(t, fake, "/repos/Owner/Repo/pulls/1"); resp.StatusCode != 404 {
		t.Errorf("removed PR: %d, want 404", resp.StatusCode)
	}
	if got := fake.Count(fakegithub.KindPull); got != 4 {
		t.Errorf("Count(pull) = %d, want 4", got)
	}
}

func TestKnobs(t *testing.T) {
	t.Parallel()
	const path = repoPath + "/pulls/1"
	t.Run("FailNext", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.FailNext(2, 502)
		for i, want := range []int{502, 502, 200} {
			if resp, _ := get(t, fake, path); resp.StatusCode != want {
				t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
			}
		}
	})
	t.Run("FailAll and Heal", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.FailAll(500)
		for range 3 {
			if resp, _ := get(t, fake, path); resp.StatusCode != 500 {
				t.Errorf("%d, want 500", resp.StatusCode)
			}
		}
		fake.Heal()
		if resp, _ := get(t, fake, path); resp.StatusCode != 200 {
			t.Errorf("after Heal: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.FailNext(1, 429)
		resp, _ := get(t, fake, path)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		until := time.Now().Add(time.Hour)
		fake.RateLimit(until)
		resp, body := get(t, fake, path)
		if resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" ||
			resp.Header.Get("X-RateLimit-Reset") != strconv.FormatInt(until.Unix(), 10) ||
			!strings.Contains(string(body), "API rate limit exceeded") {
			t.Errorf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		fake.RateLimit(time.Time{})
		if resp, _ := get(t, fake, path); resp.StatusCode != 200 {
			t.Errorf("after lifting: %d", resp.StatusCode)
		}
	})
	t.Run("SecondaryRateLimit", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.SecondaryRateLimit(time.Minute)
		resp, body := get(t, fake, path)
		if resp.StatusCode != 403 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "secondary-rate-limits") {
			t.Errorf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("SetQuota", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.SetQuota(2)
		resp, _ := get(t, fake, path)
		etag := resp.Header.Get("ETag")
		if resp.Header.Get("X-RateLimit-Remaining") != "1" || resp.Header.Get("X-RateLimit-Limit") != "2" {
			t.Errorf("after one request: %v", resp.Header)
		}
		// 304s are free.
		for range 3 {
			if resp, _ := get(t, fake, path, "If-None-Match", etag); resp.StatusCode != 304 {
				t.Errorf("conditional: %d, want 304", resp.StatusCode)
			}
		}
		if resp, _ := get(t, fake, path); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
			t.Errorf("second request: %d, remaining %s", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
		}
		if resp, _ := get(t, fake, path); resp.StatusCode != 403 {
			t.Errorf("third request: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.Garbage(true)
		resp, body := get(t, fake, path)
		if resp.StatusCode != 200 || json.Valid(body) {
			t.Errorf("%d %s, want 200 with invalid JSON", resp.StatusCode, body)
		}
	})
	t.Run("SetLatency", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.SetLatency(100 * time.Millisecond)
		start := time.Now()
		get(t, fake, path)
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("answered after %v, want at least 100ms", d)
		}
	})
	t.Run("Hang ends with the client", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t, many(1))
		fake.Hang()
		client := fake.Client()
		client.Timeout = 100 * time.Millisecond
		if _, err := client.Get(fake.URL + path); err == nil {
			t.Fatal("a hanging request got an answer")
		}
		if r := fake.Requests()[0]; r.Status != 0 {
			t.Errorf("hung request recorded status %d, want 0", r.Status)
		}
	})
	t.Run("Close releases hanging requests", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.Start(many(1))
		fake.Hang()
		done := make(chan error, 1)
		go func() {
			resp, err := fake.Client().Get(fake.URL + path)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		for len(fake.Requests()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		closed := make(chan struct{})
		go func() { fake.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close blocked on a hanging request")
		}
		<-done
	})
}

func TestRecords(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, many(1))
	fake.SetCompare("a", "b", "identical", 0, 0)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fake.URL+repoPath+"/pulls?state=open", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, fake, repoPath+"/pulls/1")
	get(t, fake, repoPath+"/compare/a...b")
	reqs := fake.Requests()
	want := []fakegithub.Request{
		{Method: "GET", Path: repoPath + "/pulls", Query: "state=open", Kind: "list", Authorization: "Bearer tok", Status: 200},
		{Method: "GET", Path: repoPath + "/pulls/1", Kind: "pull", Status: 200},
		{Method: "GET", Path: repoPath + "/compare/a...b", Kind: "compare", Status: 200},
	}
	if fmt.Sprint(reqs) != fmt.Sprint(want) {
		t.Errorf("Requests()\n got %+v\nwant %+v", reqs, want)
	}
	for _, kind := range []string{fakegithub.KindList, fakegithub.KindPull, fakegithub.KindCompare} {
		if fake.Count(kind) != 1 {
			t.Errorf("Count(%s) = %d, want 1", kind, fake.Count(kind))
		}
	}
	fake.ResetRecords()
	if len(fake.Requests()) != 0 || fake.Count(fakegithub.KindList) != 0 {
		t.Error("ResetRecords left records")
	}
}

func TestResetRecordsDuringARequest(t *testing.T) {
	t.Parallel()
	s := fakegithub.New(t)
	s.SetLatency(200 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		resp, err := s.Client().Get(s.URL + "/repos/internetarchive/openlibrary/pulls/1")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Count("pull") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.ResetRecords()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The fake still answers and records: it neither panicked nor kept its lock.
	s.SetLatency(0)
	resp, err := s.Client().Get(s.URL + "/repos/internetarchive/openlibrary/pulls/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := len(s.Requests()); got != 1 {
		t.Errorf("%d requests recorded after the reset; want 1", got)
	}
}
