// Package fakejenkins is a wire-level fake of the two Jenkins endpoints testingd uses:
// the monitored deploy job's wfapi runs list and the testing-deploy job's
// buildWithParameters trigger. It records triggers and can be slow, fail, hang or
// answer garbage on demand. It is for tests and load generators.
package fakejenkins

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/jenkins"
)

// DefaultRuns is what the runs endpoint serves until SetRuns: the shared fixture, run
// #412 IN_PROGRESS at stage "components" and #411 SUCCESS.
//
//go:embed testdata/wfapi-runs.json
var DefaultRuns []byte

// Paths served. The runs path has an escaped space and parentheses in its URL; it is
// matched on the decoded path, so every equivalent escaping of it is accepted.
const (
	RunsPath    = "/job/ol-dev1-deploy (internal)/wfapi/runs"
	TriggerPath = "/job/testing-deploy/buildWithParameters"

	runsEscaped = "/job/ol-dev1-deploy%20(internal)/wfapi/runs"
)

// Trigger is one trigger request received.
type Trigger struct {
	Method string
	Token  string // the token query parameter
	Lines  string // the GH_REPO_AND_BRANCH query parameter, decoded
	Query  string // the raw query, exactly as sent
	Status int    // the status answered
}

// Request is any request received.
type Request struct {
	Method string
	Path   string // decoded
	Query  string // raw
	Status int    // 0 when no answer was given (Hang, client gave up)
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	URL string // base URL, no trailing slash

	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	runs          []byte
	triggerStatus int
	token         string
	latency       time.Duration
	failAll       int
	garbage       bool
	hang          bool
	queueItem     int
	triggers      []Trigger
	requests      []Request
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
		done:          make(chan struct{}),
		runs:          DefaultRuns,
		triggerStatus: http.StatusCreated,
		queueItem:     1000,
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	return s
}

// Close stops the server, releasing any hanging or sleeping request first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// RunsURL is the runs list's URL as testingd is configured with it (escaped, with
// ?fullStages=true).
func (s *Server) RunsURL() string { return s.URL + runsEscaped + "?fullStages=true" }

// Client returns a new *http.Client for the server, the caller's to change.
func (s *Server) Client() *http.Client {
	c := *s.ts.Client()
	return &c
}

// TriggerURL is the trigger's URL without the token.
func (s *Server) TriggerURL() string { return s.URL + TriggerPath }

// SetRuns sets what the runs endpoint answers: a string or []byte is served as is
// (any bytes, valid JSON or not); []jenkins.Run is rendered as wfapi JSON.
func (s *Server) SetRuns(v any) {
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
	case []byte:
		data = append([]byte(nil), v...)
	case []jenkins.Run:
		data = renderRuns(v)
	default:
		panic(fmt.Sprintf("fakejenkins: SetRuns(%T): want string, []byte or []jenkins.Run", v))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = data
}

// SetTriggerStatus sets how triggers are answered: 201 (queued, with a new Location;
// the default), 303 (an identical item is already queued: the last Location again), or
// any other status.
func (s *Server) SetTriggerStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggerStatus = status
}

// SetToken makes triggers with any other token answer 403, as Jenkins does. "" (the
// default) accepts every token.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetLatency makes every request wait d first; a client giving up ends the wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailAll makes every request answer status (0 = stop failing).
func (s *Server) FailAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = status
}

// Garbage makes the runs endpoint answer 200 with a body that is not JSON.
func (s *Server) Garbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// Hang makes every request block, without answering, until the client gives up or the
// server closes.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Heal lifts FailAll, Garbage and Hang.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll, s.garbage, s.hang = 0, false, false
}

// Triggers returns the trigger requests received, in order.
func (s *Server) Triggers() []Trigger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Trigger(nil), s.triggers...)
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RunsCount returns how many runs requests arrived.
func (s *Server) RunsCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == RunsPath {
			n++
		}
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
	latency, hang := s.latency, s.hang
	s.mu.Unlock()

	status := s.answer(w, r, latency, hang)

	s.mu.Lock()
	s.requests[idx].Status = status
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, latency time.Duration, hang bool) int {
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
	if hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return 0
	}

	s.mu.Lock()
	failAll, garbage, runs := s.failAll, s.garbage, s.runs
	s.mu.Unlock()

	w.Header().Set("X-Jenkins", "2.462.3")
	switch {
	case r.URL.Path == RunsPath && r.Method == http.MethodGet:
		if failAll != 0 {
			return writeError(w, failAll)
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusOK)
		if garbage {
			_, _ = w.Write([]byte("<html><head><title>Jenkins is starting</title></head><body>Please wait</body></html>"))
		} else {
			_, _ = w.Write(runs)
		}
		return http.StatusOK
	case r.URL.Path == TriggerPath && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return s.triggered(w, r, failAll)
	default:
		return writeError(w, http.StatusNotFound)
	}
}

func (s *Server) triggered(w http.ResponseWriter, r *http.Request, failAll int) int {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	status := s.triggerStatus
	switch {
	case failAll != 0:
		status = failAll
	case s.token != "" && q.Get("token") != s.token:
		status = http.StatusForbidden
	}
	s.triggers = append(s.triggers, Trigger{
		Method: r.Method,
		Token:  q.Get("token"),
		Lines:  q.Get("GH_REPO_AND_BRANCH"),
		Query:  r.URL.RawQuery,
		Status: status,
	})
	switch status {
	case http.StatusCreated:
		s.queueItem++
		w.Header().Set("Location", s.queueURLLocked())
		w.WriteHeader(status)
		return status
	case http.StatusSeeOther:
		w.Header().Set("Location", s.queueURLLocked())
		w.WriteHeader(status)
		return status
	}
	return writeError(w, status)
}

func (s *Server) queueURLLocked() string {
	return s.URL + "/queue/item/" + strconv.Itoa(s.queueItem) + "/"
}

func writeError(w http.ResponseWriter, status int) int {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html><body><h2>HTTP ERROR %d %s</h2></body></html>\n", status, http.StatusText(status))
	return status
}

type wfStage struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	StartTimeMillis int64  `json:"startTimeMillis"`
	DurationMillis  int64  `json:"durationMillis"`
}

type wfRun struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Status          string    `json:"status"`
	StartTimeMillis int64     `json:"startTimeMillis"`
	EndTimeMillis   int64     `json:"endTimeMillis"`
	DurationMillis  int64     `json:"durationMillis"`
	Stages          []wfStage `json:"stages"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func renderRuns(runs []jenkins.Run) []byte {
	out := make([]wfRun, len(runs))
	for i, r := range runs {
		w := wfRun{
			ID:              r.ID,
			Name:            r.Name,
			Status:          r.Status,
			StartTimeMillis: millis(r.Start),
			EndTimeMillis:   millis(r.End),
			Stages:          make([]wfStage, len(r.Stages)),
		}
		if !r.Start.IsZero() && !r.End.IsZero() {
			w.DurationMillis = r.End.Sub(r.Start).Milliseconds()
		}
		for j, st := range r.Stages {
			w.Stages[j] = wfStage{ID: strconv.Itoa(j + 1), Name: st.Name, Status: st.Status}
		}
		out[i] = w
	}
	data, err := json.Marshal(out)
	if err != nil {
		panic(err) // only strings and integers: cannot happen
	}
	return data
}
