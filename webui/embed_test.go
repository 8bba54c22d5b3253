package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantIndex          bool
	}{
		{"root", "GET", "/", 200, true},
		{"index.html", "GET", "/index.html", 200, true},
		{"HEAD root", "HEAD", "/", 200, false},
		{"app route", "GET", "/prs/123", 200, true},
		{"app route with trailing slash", "GET", "/events/", 200, true},
		{"dot dot stays inside", "GET", "/../../etc/hosts.conf", 404, false},
		{"dot dot cleaned", "GET", "/a/../index.html", 200, true},
		{"missing asset", "GET", "/app.missing.js", 404, false},
		{"missing nested asset", "GET", "/assets/x.css", 404, false},
		{"POST", "POST", "/", 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantIndex {
				if string(body) != string(index) {
					t.Errorf("body is not index.html: %.200s", body)
				}
				if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
					t.Errorf("Content-Type %q", got)
				}
			}
			if resp.StatusCode == 200 {
				if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
					t.Errorf("Cache-Control %q, want no-cache", got)
				}
				if resp.Header.Get("ETag") == "" {
					t.Error("no ETag")
				}
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")

	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: status %d, want 304", resp.StatusCode)
	}
}

func TestPlaceholderPointsAtTheAPI(t *testing.T) {
	t.Parallel()
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), "openlibrary.testing.v1.TestingService") {
		t.Error("the placeholder page does not say where the API is")
	}
}
