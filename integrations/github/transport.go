package github

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of the conditional-request cache. GitHub's pull objects are large (a listing
// page of 100 PRs can weigh a couple of MiB), so the cache is bounded by bytes as well as
// by entries; a body over maxEntryBytes is simply not cached.
const (
	defaultMaxEntries = 4096
	defaultMaxBytes   = 64 << 20
	maxEntryBytes     = 8 << 20
)

// transport sits under go-github. It authenticates every request, counts what goes over
// the wire, and makes GETs conditional: it remembers the last ETag and body per URL,
// sends If-None-Match, and turns a 304 back into a 200 carrying the remembered body,
// because go-github treats any 304 as an error. GitHub does not count a 304 against the
// primary rate limit, so an unchanged listing or pull costs nothing.
//
// The cache is kept per token: a key starts with a fingerprint of the token the request
// carried, because GitHub answers a conditional request with 304 for free only to the
// credential that got the ETag, and a body one token may read is not another's to reuse.
//
// It also reads X-RateLimit-* from every response (304s included), so the service
// knows its remaining budget before it runs out rather than when it has.
//
// Concurrent identical requests are not collapsed here; callers use singleflight.
type transport struct {
	base     http.RoundTripper
	token    string
	tokenTag string // fingerprint of token, the first part of every cache key
	now      func() time.Time

	budgetMu sync.Mutex
	budget   Budget

	requests    atomic.Int64
	notModified atomic.Int64
	observer    atomic.Pointer[ResponseObserver] // (*Client).ObserveResponses

	mu         sync.Mutex
	entries    map[string]*list.Element // key → element whose Value is *cacheEntry
	lru        *list.List               // front = most recently used
	bytes      int
	maxEntries int
	maxBytes   int
}

type cacheEntry struct {
	key    string
	etag   string
	body   []byte
	header http.Header
}

func newTransport(base http.RoundTripper, token string) *transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{
		base:       base,
		token:      token,
		tokenTag:   tokenTag(token),
		now:        time.Now,
		entries:    make(map[string]*list.Element),
		lru:        list.New(),
		maxEntries: defaultMaxEntries,
		maxBytes:   defaultMaxBytes,
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not modify the caller's request.
	req = req.Clone(req.Context())
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}

	cacheable := req.Method == http.MethodGet && req.Header.Get("If-None-Match") == ""
	key := t.tokenTag + " " + req.URL.String()
	var cached *cacheEntry
	if cacheable {
		cached = t.lookup(key)
		if cached != nil {
			req.Header.Set("If-None-Match", cached.etag)
		}
	}

	t.requests.Add(1)
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if f := t.observer.Load(); f != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		(*f)(endpointOf(req.URL.EscapedPath()), status, time.Since(start))
	}
	if err == nil {
		t.observe(resp)
	}
	if err != nil || !cacheable {
		return resp, err
	}

	switch {
	case resp.StatusCode == http.StatusNotModified && cached != nil:
		t.notModified.Add(1)
		// Drain so the connection can be reused; a 304 has no body anyway.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return fromCache(req, resp, cached), nil

	case resp.StatusCode == http.StatusOK:
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.ContentLength > maxEntryBytes {
			t.forget(key)
			return resp, nil
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxEntryBytes+1))
		if err != nil {
			resp.Body.Close()
			return nil, err
		}
		if len(body) > maxEntryBytes {
			// Too big to remember: hand back what was read followed by the rest.
			t.forget(key)
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			return resp, nil
		}
		resp.Body.Close()
		t.store(&cacheEntry{key: key, etag: etag, body: body, header: resp.Header.Clone()})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil

	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		// The resource is gone: whatever we remembered about it is stale.
		t.forget(key)
	}
	return resp, nil
}

// Endpoints a ResponseObserver is told of: a fixed, small set, fit for a metric label.
const (
	EndpointListPulls = "list_pulls" // GET /repos/{owner}/{repo}/pulls (a page of the listing)
	EndpointGetPull   = "get_pull"   // GET /repos/{owner}/{repo}/pulls/{number}
	EndpointCompare   = "compare"    // GET /repos/{owner}/{repo}/compare/{base}...{head}
	EndpointOther     = "other"      // anything else
)

// ResponseObserver is told of every request sent to GitHub: which endpoint, the status
// GitHub answered as it answered it (304 stays 304 here, though the caller sees the
// remembered 200; 0 when no answer came: connection refused, timeout, cancellation)
// and how long the response's headers took to arrive.
type ResponseObserver func(endpoint string, status int, d time.Duration)

// ObserveResponses makes f be told of every request the client sends from now on
// (nil stops it). f runs on the requesting goroutine and must be quick: it is for
// metrics.
func (c *Client) ObserveResponses(f ResponseObserver) {
	if f == nil {
		c.tr.observer.Store(nil)
		return
	}
	c.tr.observer.Store(&f)
}

// endpointOf names the endpoint of an API path (with or without a prefix such as
// GitHub Enterprise's /api/v3).
func endpointOf(path string) string {
	_, rest, ok := strings.Cut(path, "/repos/")
	if !ok {
		return EndpointOther
	}
	// owner, name, kind, what follows
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return EndpointOther
	}
	switch {
	case parts[2] == "pulls" && len(parts) == 3:
		return EndpointListPulls
	case parts[2] == "pulls" && len(parts) == 4 && parts[3] != "" && strings.Trim(parts[3], "0123456789") == "":
		return EndpointGetPull
	case parts[2] == "compare" && len(parts) == 4 && strings.Contains(parts[3], "..."):
		return EndpointCompare
	}
	return EndpointOther
}

// fromCache builds the 200 that go-github sees for a 304: the remembered body and
// headers, overlaid with the fresh headers of the 304 (rate limits, ETag, Link, Date).
func fromCache(req *http.Request, notModified *http.Response, e *cacheEntry) *http.Response {
	h := e.header.Clone()
	for k, v := range notModified.Header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         notModified.Proto,
		ProtoMajor:    notModified.ProtoMajor,
		ProtoMinor:    notModified.ProtoMinor,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(e.body)),
		ContentLength: int64(len(e.body)),
		Request:       req,
		TLS:           notModified.TLS,
	}
}

func (t *transport) lookup(key string) *cacheEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[key]
	if !ok {
		return nil
	}
	t.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (t *transport) store(e *cacheEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.entries[e.key]; ok {
		t.removeLocked(el)
	}
	t.entries[e.key] = t.lru.PushFront(e)
	t.bytes += len(e.body)
	for t.lru.Len() > t.maxEntries || t.bytes > t.maxBytes {
		t.removeLocked(t.lru.Back())
	}
}

func (t *transport) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.entries[key]; ok {
		t.removeLocked(el)
	}
}

func (t *transport) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	t.lru.Remove(el)
	delete(t.entries, e.key)
	t.bytes -= len(e.body)
}

func (t *transport) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// tokenTag fingerprints a token for cache keys (never the token itself, so a heap dump
// or a debug print of the cache shows no credential).
func tokenTag(token string) string {
	if token == "" {
		return "anonymous"
	}
	sum := sha256.Sum256([]byte(token))
	return "token:" + hex.EncodeToString(sum[:8])
}

// Budget is what GitHub last said about the rate limit of our credential (the "core"
// resource, which pulls and compares use), and when it last answered us.
type Budget struct {
	// Known: some response carried X-RateLimit-* headers.
	Known     bool
	Limit     int       // requests per window (60 anonymous, 5,000 with a token)
	Remaining int       // left in the current window
	Reset     time.Time // when the window resets
	// ObservedAt is when those headers were read.
	ObservedAt time.Time
	// LastContact is when GitHub last answered a request successfully (2xx or 304).
	LastContact time.Time
}

// observe reads the rate-limit headers and the success of one response. Responses
// arrive out of order, so within one window the lowest Remaining wins; a later Reset
// starts a new window.
func (t *transport) observe(resp *http.Response) {
	now := t.now()
	h := resp.Header
	ok := resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified
	res := h.Get("X-RateLimit-Resource")
	limit, errL := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, errR := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	resetUnix, errT := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	headers := (res == "" || res == "core") && errL == nil && errR == nil && errT == nil &&
		limit >= 0 && remaining >= 0 && remaining <= limit && resetUnix > 0
	if !ok && !headers {
		return
	}
	t.budgetMu.Lock()
	defer t.budgetMu.Unlock()
	b := &t.budget
	if ok {
		b.LastContact = now
	}
	if !headers {
		return
	}
	reset := time.Unix(resetUnix, 0)
	switch {
	case !b.Known, reset.After(b.Reset), limit != b.Limit:
		b.Limit, b.Remaining, b.Reset = limit, remaining, reset
	case reset.Equal(b.Reset):
		b.Remaining = min(b.Remaining, remaining)
	default:
		return // an answer from an older window, overtaken
	}
	b.Known, b.ObservedAt = true, now
}

// currentBudget returns what is known of the budget.
func (t *transport) currentBudget() Budget {
	t.budgetMu.Lock()
	defer t.budgetMu.Unlock()
	return t.budget
}
