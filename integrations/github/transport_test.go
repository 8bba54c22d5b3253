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
