package github

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// etagServer answers every path with a body naming it, an ETag, and the current
// X-RateLimit-Remaining, honouring If-None-Match.
func etagServer(t *testing.T, size int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var remaining atomic.Int64
	remaining.Store(5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag := `"` + r.URL.Path + `"`
		w.Header().Set("ETag", etag)
		w.Header().Set("X-RateLimit-Remaining", strconv.FormatInt(remaining.Load(), 10))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		remaining.Add(-1)
		w.Header().Set("X-Body", "original")
		_, _ = io.WriteString(w, r.URL.Path+strings.Repeat("x", size))
	}))
	t.Cleanup(srv.Close)
	return srv, &remaining
}

func get(t *testing.T, hc *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestTransportTurns304Into200(t *testing.T) {
	t.Parallel()
	srv, remaining := etagServer(t, 10)
	tr := newTransport(nil, "")
	hc := &http.Client{Transport: tr}
	_, first := get(t, hc, srv.URL+"/a")
	remaining.Store(1234)
	resp, second := get(t, hc, srv.URL+"/a")
	if resp.StatusCode != http.StatusOK || second != first {
		t.Fatalf("second GET: %d %q, want 200 %q", resp.StatusCode, second, first)
	}
	if got := resp.Header.Get("X-RateLimit-Remaining"); got != "1234" {
		t.Errorf("X-RateLimit-Remaining = %q, want the 304's fresh 1234", got)
	}
	if got := resp.Header.Get("X-Body"); got != "original" {
		t.Errorf("X-Body = %q, want the remembered header", got)
	}
	if resp.ContentLength != int64(len(first)) {
		t.Errorf("ContentLength = %d, want %d", resp.ContentLength, len(first))
	}
	if tr.requests.Load() != 2 || tr.notModified.Load() != 1 {
		t.Errorf("requests %d, 304s %d; want 2, 1", tr.requests.Load(), tr.notModified.Load())
	}
}

func TestTransportBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int
		bodySize   int
		wantLen    int
	}{
		{"by entries", 3, 1 << 20, 10, 3},
		{"by bytes", 100, 250, 100, 2},
		{"nothing fits", 100, 50, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := etagServer(t, tt.bodySize)
			tr := newTransport(nil, "")
			tr.maxEntries, tr.maxBytes = tt.maxEntries, tt.maxBytes
			hc := &http.Client{Transport: tr}
			for i := range 5 {
				get(t, hc, fmt.Sprintf("%s/%d", srv.URL, i))
			}
			if got := tr.len(); got != tt.wantLen {
				t.Fatalf("cache holds %d entries, want %d", got, tt.wantLen)
			}
			// The newest entries are the ones kept: the last URL costs a 304.
			if tt.wantLen > 0 {
				get(t, hc, fmt.Sprintf("%s/%d", srv.URL, 4))
				if tr.notModified.Load() != 1 {
					t.Errorf("the newest entry was evicted")
				}
			}
			if tr.bytes > tt.maxBytes {
				t.Errorf("cache holds %d bytes, more than %d", tr.bytes, tt.maxBytes)
			}
		})
	}
}

func TestTransportLeavesRequestAlone(t *testing.T) {
	t.Parallel()
	srv, _ := etagServer(t, 1)
	hc := &http.Client{Transport: newTransport(nil, "tok")}
	get(t, hc, srv.URL+"/a")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/a", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.Header.Get("Authorization") != "" || req.Header.Get("If-None-Match") != "" {
		t.Errorf("the caller's request was modified: %v", req.Header)
	}
}

// Conditional-request entries belong to the token that got them.
func TestTransportCachePerToken(t *testing.T) {
	t.Parallel()
	srv, _ := etagServer(t, 10)
	tr := newTransport(nil, "token-a")
	get(t, &http.Client{Transport: tr}, srv.URL+"/a")
	if tr.lookup(tokenTag("token-a")+" "+srv.URL+"/a") == nil {
		t.Fatal("the answer was not remembered for its token")
	}
	if tr.lookup(tokenTag("token-b")+" "+srv.URL+"/a") != nil || tr.lookup(tokenTag("")+" "+srv.URL+"/a") != nil {
		t.Error("another token (or none) finds token-a's entry")
	}
	if tag := tokenTag("token-a"); strings.Contains(tag, "token-a") || tag == tokenTag("token-b") {
		t.Errorf("tokenTag = %q: must hide the token and tell tokens apart", tag)
	}
}

// Rate-limit headers from answers of an older window, or of another resource, do not
// overwrite the current figure.
func TestTransportObserveBudget(t *testing.T) {
	t.Parallel()
	tr := newTransport(nil, "")
	resp := func(status int, remaining, reset int64, resource string) *http.Response {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(remaining, 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		if resource != "" {
			h.Set("X-RateLimit-Resource", resource)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	steps := []struct {
		name          string
		resp          *http.Response
		wantRemaining int
	}{
		{"first", resp(200, 4000, 2000, "core"), 4000},
		{"lower in the same window", resp(200, 3990, 2000, "core"), 3990},
		{"late answer, same window", resp(200, 3995, 2000, ""), 3990},
		{"another resource", resp(200, 10, 2000, "search"), 3990},
		{"older window", resp(200, 1, 1000, "core"), 3990},
		{"new window", resp(304, 4999, 5600, "core"), 4999},
		{"a rate-limit 403 still counts", resp(403, 0, 5600, "core"), 0},
	}
	for _, s := range steps {
		tr.observe(s.resp)
		if got := tr.currentBudget().Remaining; got != s.wantRemaining {
			t.Errorf("%s: remaining %d; want %d", s.name, got, s.wantRemaining)
		}
	}
}

// FuzzObserveBudget: any rate-limit headers leave a sane budget (never negative, never
// more left than the limit) and never panic.
func FuzzObserveBudget(f *testing.F) {
	f.Add(200, "5000", "4999", "1700000000", "core")
	f.Add(304, "60", "0", "1700003600", "")
	f.Add(403, "-1", "5", "x", "search")
	f.Add(200, "10", "20", "99999999999999999999", "core")
	f.Fuzz(func(t *testing.T, status int, limit, remaining, reset, resource string) {
		tr := newTransport(nil, "")
		h := http.Header{}
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Resource", resource)
		tr.observe(&http.Response{StatusCode: status, Header: h})
		b := tr.currentBudget()
		if b.Known && (b.Remaining < 0 || b.Limit < 0 || b.Remaining > b.Limit || b.Reset.IsZero()) {
			t.Errorf("budget %+v from limit %q remaining %q reset %q", b, limit, remaining, reset)
		}
	})
}
