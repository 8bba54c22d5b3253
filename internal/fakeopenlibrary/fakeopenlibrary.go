// Package fakeopenlibrary is a wire-level fake of the one Open Library endpoint
// testingd reads: usergroup documents (GET /usergroup/{name}.json), in Open Library's
// JSON. It counts what it is asked and can be slow, fail or answer garbage on
// demand. It is for tests.
package fakeopenlibrary

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultMaintainers is what /usergroup/maintainers.json answers until SetMembers
// changes it: the shared fixture, with members openlibrary and mekarpeles. No other
// group exists until SetMembers creates it.
//
//go:embed testdata/usergroup-maintainers.json
var DefaultMaintainers []byte

// Request is one request received.
type Request struct {
	Method string
	Path   string
	Group  string // the usergroup asked for; "" when the path is not a usergroup's
	Status int    // the status answered; 0 when the client gave up first
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	URL string // base URL, no trailing slash

	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	groups   map[string][]byte // name → document
	failAll  int
	latency  time.Duration
	garbage  bool
	requests []Request
}

// New starts a fake closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := Start()
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test; call Close when done.
func Start() *Server {
	s := &Server{
		done:   make(chan struct{}),
		groups: map[string][]byte{"maintainers": DefaultMaintainers},
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	return s
}

// Close stops the server, releasing any sleeping request first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// Client returns a new *http.Client for the server, the caller's to change.
func (s *Server) Client() *http.Client {
	c := *s.ts.Client()
	return &c
}

// SetMembers makes group exist with exactly these members (usernames, without
// "/people/").
func (s *Server) SetMembers(group string, users ...string) {
	type key struct {
		Key string `json:"key"`
	}
	doc := struct {
		Key            string `json:"key"`
		Type           key    `json:"type"`
		Description    string `json:"description"`
		Members        []key  `json:"members"`
		LatestRevision int    `json:"latest_revision"`
		Revision       int    `json:"revision"`
	}{
		Key: "/usergroup/" + group, Type: key{"/type/usergroup"}, Description: "Open Library " + group,
		Members: []key{}, LatestRevision: 1, Revision: 1,
	}
	for _, u := range users {
		doc.Members = append(doc.Members, key{"/people/" + u})
	}
	data, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = data
}

// DeleteGroup makes group not exist (404).
func (s *Server) DeleteGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, group)
}

// FailAll makes every request answer status (0 = stop failing).
func (s *Server) FailAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = status
}

// SetLatency makes every request wait d first; a client giving up ends the wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Garbage makes usergroup requests answer 200 with a body that is not JSON.
func (s *Server) Garbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests asked for group ("" = every request).
func (s *Server) Count(group string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if group == "" || r.Group == group {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	group := ""
	if name, ok := strings.CutPrefix(r.URL.Path, "/usergroup/"); ok {
		if name, ok = strings.CutSuffix(name, ".json"); ok && name != "" && !strings.Contains(name, "/") {
			group = name
		}
	}
	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Group: group})
	latency := s.latency
	s.mu.Unlock()

	status := s.answer(w, r, group, latency)

	s.mu.Lock()
	s.requests[idx].Status = status
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, group string, latency time.Duration) int {
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return 0
		case <-s.done:
			return 0
		}
	}
	s.mu.Lock()
	failAll, garbage := s.failAll, s.garbage
	doc, exists := s.groups[group]
	s.mu.Unlock()

	switch {
	case failAll != 0:
		return writeError(w, failAll)
	case group == "" || r.Method != http.MethodGet && r.Method != http.MethodHead:
		return writeError(w, http.StatusNotFound)
	case garbage:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body><h1>Open Library is under maintenance</h1></body></html>"))
		return http.StatusOK
	case !exists:
		// Open Library answers an unknown document's JSON with 404 and this body.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		body, _ := json.Marshal(map[string]string{"error": "notfound", "key": "/usergroup/" + group})
		_, _ = w.Write(body)
		return http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return http.StatusOK
}

func writeError(w http.ResponseWriter, status int) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
	return status
}
