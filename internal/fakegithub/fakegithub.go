// Package fakegithub is a wire-level fake of the parts of GitHub's REST API that
// testingd reads: the open-PR listing, single pull requests and commit comparisons of
// one repository. It speaks GitHub's JSON, ETags (and 304s), Link pagination and
// X-RateLimit-* headers, records what it was asked, and can be slow, fail, hang,
// answer garbage or rate-limit on demand. It is for tests and load generators.
package fakegithub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultRepo is the repository served unless WithRepo says otherwise.
const DefaultRepo = "internetarchive/openlibrary"

// PullSpec describes one pull request.
type PullSpec struct {
	Number   int
	Title    string
	Head     string // head SHA; "" = a stable made-up SHA derived from Number
	Author   string // user.login; "" = "author"
	Assignee string // assignee.login; "" = unassigned (null)
	State    string // "open" (default) or "closed"; Merged implies "closed"
	Merged   bool
	// Mergeable is served by the single-PR endpoint only (null when nil), as GitHub does.
	Mergeable *bool
}

// Request is one request the fake received.
type Request struct {
	Method        string
	Path          string // decoded path, including any /api/v3 prefix
	Query         string // raw query
	Kind          string // "list", "pull", "compare" or "" for anything else
	Authorization string // the Authorization header as sent
	IfNoneMatch   string
	// Status is the status answered; 0 while the request is still being served or
	// when it never got an answer (Hang, or the client gave up during SetLatency).
	Status int
}

// Kinds of request, for Count.
const (
	KindList    = "list"
	KindPull    = "pull"
	KindCompare = "compare"
)

// Option configures a Server.
type Option func(*Server)

// WithRepo serves "owner/name" instead of DefaultRepo.
func WithRepo(fullName string) Option {
	return func(s *Server) { s.owner, s.repo, _ = strings.Cut(fullName, "/") }
}

// WithPulls starts the server with these pull requests.
func WithPulls(specs ...PullSpec) Option {
	return func(s *Server) {
		for _, p := range specs {
			s.setPullLocked(p)
		}
	}
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	// URL is the API base URL (no trailing slash), to pass as the client's BaseURL.
	URL string

	ts        *httptest.Server
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	owner    string
	repo     string
	pulls    map[int]*pullState
	compares map[[2]string]compareSpec

	latency        time.Duration
	failNext       int
	failNextStatus int
	failAll        int
	rateUntil      time.Time // primary limit exhausted until then
	secondaryUntil time.Time // secondary limit until then
	garbage        bool
	hang           bool

	quotaLimit     int
	quotaRemaining int
	quotaReset     time.Time

	requests    []Request
	counts      map[string]int
	notModified int
	inFlight    int
	records     int // bumped by ResetRecords: requests from before it are not written back
	maxInFlight int

	// hooks is the webhook state (webhook.go). Its own mutex may be taken while
	// holding mu, never the other way round.
	hooks webhooks
}

type pullState struct {
	spec      PullSpec
	createdAt time.Time
	updatedAt time.Time
	closedAt  time.Time
	mergedAt  time.Time
}

type compareSpec struct {
	status        string
	ahead, behind int
}

// unlimited is the default quota: large enough that no test or benchmark runs out by
// accident (a Remaining of 0 would make go-github refuse requests locally).
const unlimited = 1_000_000

// New starts a fake closed when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := Start(opts...)
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake outside a test (e.g. in a load generator); call Close when done.
func Start(opts ...Option) *Server {
	s := &Server{
		done:     make(chan struct{}),
		pulls:    make(map[int]*pullState),
		compares: make(map[[2]string]compareSpec),
		counts:   make(map[string]int),
	}
	s.owner, s.repo, _ = strings.Cut(DefaultRepo, "/")
	s.resetQuotaLocked(unlimited)
	for _, o := range opts {
		o(s)
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

// Repo returns "owner/name" as served.
func (s *Server) Repo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner + "/" + s.repo
}

// Client returns a new *http.Client for the server, the caller's to change.
func (s *Server) Client() *http.Client {
	c := *s.ts.Client()
	return &c
}

// SetPull adds or replaces a pull request. updated_at changes only when something in
// the spec did, so re-setting an identical PR keeps its ETags.
//
// After SetWebhook, each change is also delivered as GitHub's pull_request events.
func (s *Server) SetPull(p PullSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.pulls[p.Number]
	s.setPullLocked(p)
	s.pullChangedLocked(old, s.pulls[p.Number])
}

func (s *Server) setPullLocked(p PullSpec) {
	if p.Head == "" {
		sum := sha1.Sum([]byte("head-" + strconv.Itoa(p.Number)))
		p.Head = hex.EncodeToString(sum[:])
	}
	if p.Author == "" {
		p.Author = "author"
	}
	if p.Merged {
		p.State = "closed"
	}
	if p.State == "" {
		p.State = "open"
	}
	if p.Mergeable != nil {
		m := *p.Mergeable
		p.Mergeable = &m
	}
	now := time.Now().UTC().Truncate(time.Second)
	old := s.pulls[p.Number]
	if old != nil && sameSpec(old.spec, p) {
		return
	}
	st := &pullState{spec: p, createdAt: now.Add(-time.Duration(100000-p.Number%100000) * time.Minute), updatedAt: now}
	if old != nil {
		st.createdAt = old.createdAt
		st.closedAt, st.mergedAt = old.closedAt, old.mergedAt
	}
	if p.State == "closed" {
		if st.closedAt.IsZero() {
			st.closedAt = now
		}
	} else {
		st.closedAt = time.Time{}
	}
	if p.Merged {
		if st.mergedAt.IsZero() {
			st.mergedAt = st.closedAt
		}
	} else {
		st.mergedAt = time.Time{}
	}
	s.pulls[p.Number] = st
}

func sameSpec(a, b PullSpec) bool {
	am, bm := a.Mergeable, b.Mergeable
	a.Mergeable, b.Mergeable = nil, nil
	if a != b || (am == nil) != (bm == nil) {
		return false
	}
	return am == nil || *am == *bm
}

// RemovePull deletes a pull request: it 404s from now on.
func (s *Server) RemovePull(number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pulls, number)
}

// SetCompare makes GET compare/{base}...{head} answer with status and counts.
// Pairs never set answer 404.
func (s *Server) SetCompare(base, head, status string, ahead, behind int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compares[[2]string{base, head}] = compareSpec{status: status, ahead: ahead, behind: behind}
}

// SetLatency makes every request wait d before it is served (0 = none). A client
// giving up ends the wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n requests fail with status (e.g. 500, 502, 404, 429).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failNextStatus = n, status
}

// FailAll makes every request fail with status until FailAll(0) or Heal.
func (s *Server) FailAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = status
}

// RateLimit answers every request with GitHub's primary rate-limit 403
// (X-RateLimit-Remaining: 0, X-RateLimit-Reset: until) until the given time.
// A zero time lifts it.
func (s *Server) RateLimit(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateUntil = until
}

// SecondaryRateLimit answers every request with GitHub's secondary-rate-limit 403
// (Retry-After, documentation_url ending in secondary-rate-limits) for d.
func (s *Server) SecondaryRateLimit(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondaryUntil = time.Now().Add(d)
}

// SetQuota enforces a primary rate limit of limit requests, resetting an hour from now:
// every answered request except a 304 uses one, and once none are left requests get
// the rate-limit 403 until the reset. The default is a quota nothing runs out of.
func (s *Server) SetQuota(limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetQuotaLocked(limit)
}

func (s *Server) resetQuotaLocked(limit int) {
	s.quotaLimit, s.quotaRemaining = limit, limit
	s.quotaReset = time.Now().Add(time.Hour).Truncate(time.Second)
}

// Garbage makes every request answer 200 with a body that is not JSON.
func (s *Server) Garbage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.garbage = on
}

// Hang makes every request block, without answering, until the client gives up or the
// server closes. Heal ends it for new requests.
func (s *Server) Hang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

// Heal lifts every failure knob: FailNext, FailAll, RateLimit, SecondaryRateLimit,
// Garbage and Hang. Latency and quota stay.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failAll = 0, 0
	s.rateUntil, s.secondaryUntil = time.Time{}, time.Time{}
	s.garbage, s.hang = false, false
}

// Requests returns a copy of every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests of kind (KindList, KindPull, KindCompare) arrived,
// whatever their outcome. Count("") counts requests of no known kind.
func (s *Server) Count(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

// NotModified returns how many requests were answered 304.
func (s *Server) NotModified() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notModified
}

// MaxInFlight returns the most requests that were being served at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// ResetRecords forgets the recorded requests and counters.
func (s *Server) ResetRecords() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.records++
	s.counts = make(map[string]int)
	s.notModified = 0
	s.maxInFlight = s.inFlight
}

// route is what a request asks for.
type route struct {
	kind   string
	prefix string // "" or "/api/v3"
	number int    // pull
	base   string // compare
	head   string
}

func (s *Server) parseRoute(path string) (route, bool) {
	var rt route
	if rest, ok := strings.CutPrefix(path, "/api/v3"); ok && strings.HasPrefix(rest, "/") {
		rt.prefix, path = "/api/v3", rest
	}
	rest, ok := strings.CutPrefix(path, "/repos/")
	if !ok {
		return rt, false
	}
	owner, rest, _ := strings.Cut(rest, "/")
	repo, rest, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	match := strings.EqualFold(owner, s.owner) && strings.EqualFold(repo, s.repo)
	s.mu.Unlock()
	if !match {
		return rt, false
	}
	switch {
	case rest == "pulls":
		rt.kind = KindList
	case strings.HasPrefix(rest, "pulls/"):
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "pulls/"))
		if err != nil || n <= 0 {
			return rt, false
		}
		rt.kind, rt.number = KindPull, n
	case strings.HasPrefix(rest, "compare/"):
		// base and head may contain "/" (branch names); "..." separates them.
		base, head, ok := strings.Cut(strings.TrimPrefix(rest, "compare/"), "...")
		if !ok || base == "" || head == "" {
			return rt, false
		}
		rt.kind, rt.base, rt.head = KindCompare, base, head
	default:
		return rt, false
	}
	return rt, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rt, known := s.parseRoute(r.URL.Path)

	s.mu.Lock()
	idx, records := len(s.requests), s.records
	s.requests = append(s.requests, Request{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Kind:          rt.kind,
		Authorization: r.Header.Get("Authorization"),
		IfNoneMatch:   r.Header.Get("If-None-Match"),
	})
	s.counts[rt.kind]++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	latency, hang := s.latency, s.hang
	s.mu.Unlock()

	status := s.answer(w, r, rt, known, latency, hang)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	if records != s.records {
		return // ResetRecords ran while this request was served: its record is gone
	}
	s.requests[idx].Status = status
	if status == http.StatusNotModified {
		s.notModified++
	}
}

// answer serves one request and returns the status written (0 for none).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rt route, known bool, latency time.Duration, hang bool) int {
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
	now := time.Now()
	if !s.quotaReset.After(now) {
		s.resetQuotaLocked(s.quotaLimit)
	}
	fail := 0
	switch {
	case s.failNext > 0:
		s.failNext--
		fail = s.failNextStatus
	case s.failAll != 0:
		fail = s.failAll
	}
	primaryLimited := now.Before(s.rateUntil) || s.quotaRemaining <= 0
	secondaryLimited := now.Before(s.secondaryUntil)
	rateReset := s.quotaReset
	if now.Before(s.rateUntil) {
		rateReset = s.rateUntil
	}
	retryAfter := int(time.Until(s.secondaryUntil).Seconds() + 0.999)
	garbage := s.garbage
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")

	switch {
	case fail != 0:
		s.rateHeaders(h, true)
		return s.writeError(w, fail)
	case primaryLimited:
		s.rateHeaders(h, false)
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(rateReset.Unix(), 10))
		return writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
			"documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
		})
	case secondaryLimited:
		s.rateHeaders(h, false)
		h.Set("Retry-After", strconv.Itoa(max(retryAfter, 1)))
		return writeJSON(w, http.StatusForbidden, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	case garbage:
		s.rateHeaders(h, true)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body><h1>Unicorn!</h1> This page is taking too long to load.</body></html>\n"))
		return http.StatusOK
	case !known || r.Method != http.MethodGet && r.Method != http.MethodHead:
		s.rateHeaders(h, true)
		return s.writeError(w, http.StatusNotFound)
	}

	var (
		body any
		link string
		ok   bool
	)
	switch rt.kind {
	case KindList:
		body, link = s.listing(r)
		ok = true
	case KindPull:
		body, ok = s.pull(rt.number)
	case KindCompare:
		body, ok = s.compare(rt)
	}
	if !ok {
		s.rateHeaders(h, true)
		return s.writeError(w, http.StatusNotFound)
	}
	data, err := json.Marshal(body)
	if err != nil {
		s.rateHeaders(h, true)
		return s.writeError(w, http.StatusInternalServerError)
	}
	data = append(data, '\n')

	// The ETag covers the Link header too: when the number of pages changes, page 1
	// may read the same but must not be answered 304 with a stale "last".
	sum := sha256.Sum256(append([]byte(link+"\n"), data...))
	etag := `"` + hex.EncodeToString(sum[:20]) + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if link != "" {
		h.Set("Link", link)
	}
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		s.rateHeaders(h, false) // a 304 costs nothing
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	s.rateHeaders(h, true)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return http.StatusOK
}

// rateHeaders sets X-RateLimit-*, using one request from the quota when charge is set.
func (s *Server) rateHeaders(h http.Header, charge bool) {
	s.mu.Lock()
	if charge && s.quotaRemaining > 0 {
		s.quotaRemaining--
	}
	limit, remaining, reset := s.quotaLimit, s.quotaRemaining, s.quotaReset
	s.mu.Unlock()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(limit-remaining))
	h.Set("X-RateLimit-Resource", "core")
}

func (s *Server) writeError(w http.ResponseWriter, status int) int {
	msg := http.StatusText(status)
	doc := "https://docs.github.com/rest"
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60")
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
		doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	case http.StatusForbidden:
		msg = "Resource not accessible by integration"
	case http.StatusUnprocessableEntity:
		msg = "Validation Failed"
	}
	if status == 0 || msg == "" {
		msg = "Error"
	}
	return writeJSON(w, status, map[string]string{"message": msg, "documentation_url": doc})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
	return status
}

// etagMatch is If-None-Match's weak comparison.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// JSON shapes, in GitHub's field names. The listing's items lack merged, mergeable
// and mergeable_state, as GitHub's do.

type userJSON struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	AvatarURL string `json:"avatar_url"`
	HTMLURL   string `json:"html_url"`
	Type      string `json:"type"`
}

type repoJSON struct {
	FullName string `json:"full_name"`
}

type branchJSON struct {
	Label string    `json:"label"`
	Ref   string    `json:"ref"`
	SHA   string    `json:"sha"`
	User  userJSON  `json:"user"`
	Repo  *repoJSON `json:"repo"`
}

type pullJSON struct {
	URL       string     `json:"url"`
	ID        int64      `json:"id"`
	HTMLURL   string     `json:"html_url"`
	Number    int        `json:"number"`
	State     string     `json:"state"`
	Locked    bool       `json:"locked"`
	Title     string     `json:"title"`
	User      userJSON   `json:"user"`
	Body      *string    `json:"body"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	ClosedAt  *string    `json:"closed_at"`
	MergedAt  *string    `json:"merged_at"`
	Assignee  *userJSON  `json:"assignee"`
	Assignees []userJSON `json:"assignees"`
	Draft     bool       `json:"draft"`
	Head      branchJSON `json:"head"`
	Base      branchJSON `json:"base"`
}

type pullDetailJSON struct {
	pullJSON
	Merged         bool    `json:"merged"`
	Mergeable      *bool   `json:"mergeable"`
	MergeableState string  `json:"mergeable_state"`
	MergedBy       *string `json:"merged_by"`
	Comments       int     `json:"comments"`
	Commits        int     `json:"commits"`
}

type compareJSON struct {
	URL          string            `json:"url"`
	HTMLURL      string            `json:"html_url"`
	BaseCommit   map[string]string `json:"base_commit"`
	Status       string            `json:"status"`
	AheadBy      int               `json:"ahead_by"`
	BehindBy     int               `json:"behind_by"`
	TotalCommits int               `json:"total_commits"`
	Commits      []any             `json:"commits"`
	Files        []any             `json:"files"`
}

const timeFormat = "2006-01-02T15:04:05Z"

func user(login string) userJSON {
	h := fnv.New32a()
	h.Write([]byte(login))
	id := int64(h.Sum32()%100_000_000) + 1
	return userJSON{
		Login:     login,
		ID:        id,
		AvatarURL: fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id),
		HTMLURL:   "https://github.com/" + login,
		Type:      "User",
	}
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(timeFormat)
	return &s
}

// pullJSONLocked renders p; s.mu must be held.
func (s *Server) pullJSONLocked(p *pullState) pullJSON {
	full := s.owner + "/" + s.repo
	spec := p.spec
	j := pullJSON{
		URL:       fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", full, spec.Number),
		ID:        int64(1_000_000_000 + spec.Number),
		HTMLURL:   fmt.Sprintf("https://github.com/%s/pull/%d", full, spec.Number),
		Number:    spec.Number,
		State:     spec.State,
		Title:     spec.Title,
		User:      user(spec.Author),
		CreatedAt: p.createdAt.UTC().Format(timeFormat),
		UpdatedAt: p.updatedAt.UTC().Format(timeFormat),
		ClosedAt:  optTime(p.closedAt),
		MergedAt:  optTime(p.mergedAt),
		Assignees: []userJSON{},
		Head: branchJSON{
			Label: spec.Author + ":pr-" + strconv.Itoa(spec.Number),
			Ref:   "pr-" + strconv.Itoa(spec.Number),
			SHA:   spec.Head,
			User:  user(spec.Author),
			Repo:  &repoJSON{FullName: spec.Author + "/" + s.repo},
		},
		Base: branchJSON{
			Label: s.owner + ":master",
			Ref:   "master",
			SHA:   "4f2a9c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b",
			User:  user(s.owner),
			Repo:  &repoJSON{FullName: full},
		},
	}
	if spec.Assignee != "" {
		a := user(spec.Assignee)
		j.Assignee = &a
		j.Assignees = []userJSON{a}
	}
	return j
}

func (s *Server) pull(number int) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pulls[number]
	if !ok {
		return nil, false
	}
	return s.pullDetailLocked(p), true
}

// pullDetailLocked renders p as the single-PR endpoint (and webhooks) serve it;
// s.mu must be held.
func (s *Server) pullDetailLocked(p *pullState) pullDetailJSON {
	d := pullDetailJSON{pullJSON: s.pullJSONLocked(p), Merged: p.spec.Merged, Mergeable: p.spec.Mergeable, Commits: 1}
	switch {
	case p.spec.State == "closed":
		d.MergeableState = "unknown"
	case p.spec.Mergeable == nil:
		d.MergeableState = "unknown"
	case *p.spec.Mergeable:
		d.MergeableState = "clean"
	default:
		d.MergeableState = "dirty"
	}
	return d
}

// listing answers GET pulls: state (open|closed|all, default open), per_page (default
// 30, at most 100), page (from 1), newest (highest number) first, with GitHub's Link
// header.
func (s *Server) listing(r *http.Request) (any, string) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	perPage := 30
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	page := 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}

	s.mu.Lock()
	var all []*pullState
	for _, p := range s.pulls {
		if state == "all" || p.spec.State == state {
			all = append(all, p)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].spec.Number > all[j].spec.Number })
	items := []pullJSON{}
	for i := (page - 1) * perPage; i < len(all) && i < page*perPage; i++ {
		items = append(items, s.pullJSONLocked(all[i]))
	}
	s.mu.Unlock()

	last := max((len(all)+perPage-1)/perPage, 1)
	return items, linkHeader(r, page, last)
}

// linkHeader builds GitHub's Link header: next and last unless on the last page,
// first and prev unless on the first.
func linkHeader(r *http.Request, page, last int) string {
	if last <= 1 && page <= 1 {
		return ""
	}
	pageURL := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		return u.String()
	}
	var links []string
	add := func(n int, rel string) { links = append(links, fmt.Sprintf(`<%s>; rel="%s"`, pageURL(n), rel)) }
	if page > 1 {
		add(min(page-1, last), "prev")
	}
	if page < last {
		add(page+1, "next")
		add(last, "last")
	}
	if page > 1 {
		add(1, "first")
	}
	return strings.Join(links, ", ")
}

func (s *Server) compare(rt route) (any, bool) {
	s.mu.Lock()
	c, ok := s.compares[[2]string{rt.base, rt.head}]
	full := s.owner + "/" + s.repo
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return compareJSON{
		URL:          fmt.Sprintf("https://api.github.com/repos/%s/compare/%s...%s", full, rt.base, rt.head),
		HTMLURL:      fmt.Sprintf("https://github.com/%s/compare/%s...%s", full, rt.base, rt.head),
		BaseCommit:   map[string]string{"sha": rt.base},
		Status:       c.status,
		AheadBy:      c.ahead,
		BehindBy:     c.behind,
		TotalCommits: c.ahead,
		Commits:      []any{},
		Files:        []any{},
	}, true
}
