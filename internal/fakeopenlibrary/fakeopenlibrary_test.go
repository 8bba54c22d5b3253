package fakeopenlibrary_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
)

func get(t *testing.T, ol *fakeopenlibrary.Server, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ol.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ol.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestDefaultIsTheFixture(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("../../testdata/fixtures/usergroup-maintainers.json")
	if err != nil {
		t.Skip("shared fixture not found:", err)
	}
	if !bytes.Equal(fixture, fakeopenlibrary.DefaultMaintainers) {
		t.Error("testdata/usergroup-maintainers.json differs from the shared fixture")
	}
	ol := fakeopenlibrary.New(t)
	status, body := get(t, ol, "/usergroup/maintainers.json")
	if status != http.StatusOK || !bytes.Equal(body, fixture) {
		t.Errorf("GET maintainers = %d %s", status, body)
	}
}

// members reads a usergroup document the way Open Library's shape has it.
func members(t *testing.T, body []byte) (string, []string) {
	t.Helper()
	var doc struct {
		Key     string `json:"key"`
		Members []struct {
			Key string `json:"key"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var keys []string
	for _, m := range doc.Members {
		keys = append(keys, m.Key)
	}
	return doc.Key, keys
}

func TestSetMembers(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	ol.SetMembers("admin", "root", "mek")
	status, body := get(t, ol, "/usergroup/admin.json")
	key, keys := members(t, body)
	if status != http.StatusOK || key != "/usergroup/admin" || !cmp.Equal(keys, []string{"/people/root", "/people/mek"}) {
		t.Errorf("GET admin = %d %s", status, body)
	}
	ol.SetMembers("admin")
	if _, body := get(t, ol, "/usergroup/admin.json"); !bytes.Contains(body, []byte(`"members":[]`)) {
		t.Errorf("empty group = %s", body)
	}
	ol.DeleteGroup("admin")
	if status, _ := get(t, ol, "/usergroup/admin.json"); status != http.StatusNotFound {
		t.Errorf("deleted group = %d", status)
	}
}

func TestKnobs(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/usergroup/librarians.json", http.StatusNotFound},
		{"/usergroup/maintainers", http.StatusNotFound},
		{"/people/openlibrary.json", http.StatusNotFound},
	} {
		if status, _ := get(t, ol, tt.path); status != tt.status {
			t.Errorf("GET %s = %d; want %d", tt.path, status, tt.status)
		}
	}
	ol.FailAll(http.StatusServiceUnavailable)
	if status, _ := get(t, ol, "/usergroup/maintainers.json"); status != http.StatusServiceUnavailable {
		t.Errorf("FailAll: %d", status)
	}
	ol.FailAll(0)
	ol.Garbage(true)
	if status, body := get(t, ol, "/usergroup/maintainers.json"); status != http.StatusOK || json.Valid(body) {
		t.Errorf("Garbage: %d %s", status, body)
	}
	ol.Garbage(false)
	ol.SetLatency(50 * time.Millisecond)
	start := time.Now()
	get(t, ol, "/usergroup/maintainers.json")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("SetLatency: answered in %v", d)
	}
	if n, all := ol.Count("maintainers"), ol.Count(""); n != 3 || all != 6 {
		t.Errorf("Count(maintainers) = %d, Count() = %d; want 3, 6", n, all)
	}
	if reqs := ol.Requests(); reqs[0].Group != "librarians" || reqs[0].Status != http.StatusNotFound || reqs[1].Group != "" {
		t.Errorf("requests = %+v", reqs)
	}
}
