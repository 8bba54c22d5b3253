package openlibrary

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrUnavailable is wrapped by every error of Groups: Open Library could not say who
// is in a usergroup (unreachable, timed out, 5xx, or an answer that makes no sense).
// A caller must then deny, never allow.
var ErrUnavailable = errors.New("open library unavailable")

const (
	// DefaultGroupsTTL is how long a usergroup's members are trusted without asking
	// Open Library again: a member removed there loses access within this long.
	DefaultGroupsTTL = 60 * time.Second
	// maxStale is how old a cached answer may be and still be served while Open
	// Library cannot be reached. Beyond it nothing trustworthy is known and the
	// answer is ErrUnavailable. See Groups.
	maxStale = 5 * time.Minute
	// failBackoff: after a failed fetch, the next one waits this long, so that an
	// outage costs each request an immediate answer instead of a timeout.
	failBackoff = 2 * time.Second
	// groupsTimeout bounds one fetch, whatever the caller's deadline.
	groupsTimeout = 5 * time.Second
	maxGroupBody  = 4 << 20
)

// Groups reads the members of Open Library usergroups (GET {base}/usergroup/{name}.json)
// and caches them. It is safe for concurrent use.
//
// Caching: an answer is fresh for the TTL. After that, while it is at most 5 minutes
// old, it is still served at once and the group is fetched again in the background
// (stale-while-revalidate: a slow or hanging Open Library never makes a request
// wait, and concurrent lookups share one fetch); the next lookup after that fetch
// sees its answer. When the fetch fails the cached answer keeps being served (and the
// failure logged): a member removed in Open Library keeps access at most 5 minutes,
// in exchange for an Open Library blip not locking every maintainer out. Past 5
// minutes, or with nothing cached, a lookup waits for the fetch, and when that fails
// the answer is ErrUnavailable: "allow" is never the result of not knowing.
//
// A group Open Library does not have (404) has no members; that is cached like any
// answer and logged once.
type Groups struct {
	base   *url.URL
	client *http.Client
	ttl    time.Duration
	logger *slog.Logger
	now    func() time.Time

	flight     singleflight.Group
	background sync.WaitGroup // revalidations in flight (tests wait for them)

	mu      sync.Mutex
	entries map[string]*groupEntry
}

type groupEntry struct {
	members   map[string]bool // nil until the first successful fetch
	fetched   time.Time       // of members
	missing   bool            // the last successful fetch found no such group
	failedAt  time.Time       // of the last failed fetch; zero after a success
	lastError error
	// revalidating: a background fetch was claimed and has not stored its outcome yet.
	revalidating bool
}

// NewGroups returns a client of the Open Library at baseURL (e.g.
// https://openlibrary.org). A nil httpClient means http.DefaultClient; ttl ≤ 0 means
// DefaultGroupsTTL; a nil logger discards.
func NewGroups(baseURL string, httpClient *http.Client, ttl time.Duration, logger *slog.Logger) (*Groups, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("open library URL %q is not an http(s) URL", baseURL)
	}
	if ttl <= 0 {
		ttl = DefaultGroupsTTL
	}
	return &Groups{
		base:    u,
		client:  cmp.Or(httpClient, http.DefaultClient),
		ttl:     ttl,
		logger:  cmp.Or(logger, slog.New(slog.DiscardHandler)),
		now:     time.Now,
		entries: make(map[string]*groupEntry),
	}, nil
}

// Members returns the usernames ("/people/x" → "x") in group, as a set the caller
// may keep and change.
func (g *Groups) Members(ctx context.Context, group string) (map[string]bool, error) {
	m, err := g.members(ctx, group)
	if err != nil {
		return nil, err
	}
	return maps.Clone(m), nil
}

// IsMember reports whether username is in any of groups. The groups are looked up
// concurrently; a yes from one group is an answer even when another cannot be
// read, but a no is only an answer when every group could be read: otherwise the
// error wraps ErrUnavailable.
func (g *Groups) IsMember(ctx context.Context, username string, groups []string) (bool, error) {
	if username == "" || len(groups) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		member bool
		err    error
	}
	results := make(chan result, len(groups))
	for _, group := range groups {
		go func() {
			m, err := g.members(ctx, group)
			results <- result{m[username], err}
		}()
	}
	var errs []error
	for range groups {
		r := <-results
		if r.member {
			return true, nil // the deferred cancel stops the others' waiting
		}
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if len(errs) > 0 {
		return false, errors.Join(errs...)
	}
	return false, nil
}

// members returns the cached set (not to be changed) or fetches it.
func (g *Groups) members(ctx context.Context, group string) (map[string]bool, error) {
	m, answered, revalidate, err := g.cached(group, true)
	if revalidate {
		g.revalidate(ctx, group)
	}
	if answered {
		return m, err
	}
	select {
	case res := <-g.fetchShared(ctx, group):
		m, _ := res.Val.(map[string]bool)
		return m, res.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("usergroup %s: %w", group, ctx.Err())
	}
}

// fetchShared starts (or joins) the one fetch of group. The fetch belongs to everyone
// waiting for it, and its answer to the cache: one caller giving up must neither
// cancel it for the others nor lose its answer, so it runs detached, bounded by its
// own timeout, and stores what it learnt.
func (g *Groups) fetchShared(ctx context.Context, group string) <-chan singleflight.Result {
	return g.flight.DoChan(group, func() (any, error) {
		// A fetch that finished between the caller's look at the cache and this
		// flight has already answered.
		if m, answered, revalidate, err := g.cached(group, false); answered && !revalidate {
			return m, err
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupsTimeout)
		defer cancel()
		f, err := g.fetch(fctx, group)
		return g.store(group, f, err)
	})
}

// revalidate fetches group in the background (joining a fetch already running). The
// lookup that claimed the revalidation (see cached) calls it; the others are answered
// from the cache without starting anything.
func (g *Groups) revalidate(ctx context.Context, group string) {
	ch := g.fetchShared(ctx, group)
	g.background.Add(1)
	go func() {
		defer g.background.Done()
		<-ch
	}()
}

// cached answers from the cache when it can; answered is false when Open Library
// must be asked and waited for. revalidate is true when the answer is past the TTL
// (but within maxStale) and Open Library should be asked in the background; with
// claim, only the first lookup since the last fetch gets true (the others need not
// start anything: that revalidation is under way).
func (g *Groups) cached(group string, claim bool) (m map[string]bool, answered, revalidate bool, err error) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries[group]
	switch {
	case e == nil:
		return nil, false, false, nil
	case e.members != nil && now.Sub(e.fetched) < g.ttl:
		return e.members, true, false, nil
	case !e.failedAt.IsZero() && now.Sub(e.failedAt) < failBackoff:
		m, err := g.staleLocked(e, now, e.lastError, false)
		return m, true, false, err
	case e.members != nil && now.Sub(e.fetched) <= maxStale:
		if !claim {
			return e.members, true, true, nil
		}
		revalidate = !e.revalidating
		e.revalidating = true
		return e.members, true, revalidate, nil
	}
	return nil, false, false, nil
}

// store caches the outcome of a fetch and returns what to answer: the members, or
// after a failure a recent enough cached answer or the failure.
func (g *Groups) store(group string, f fetched, err error) (map[string]bool, error) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.entries[group]
	if e == nil {
		e = &groupEntry{}
		g.entries[group] = e
	}
	e.revalidating = false
	if err != nil {
		e.failedAt, e.lastError = now, err
		return g.staleLocked(e, now, err, true)
	}
	if f.missing && !e.missing {
		g.logger.Warn("open library has no such usergroup; it has no members", "group", group)
	}
	e.members, e.missing, e.fetched = f.members, f.missing, now
	e.failedAt, e.lastError = time.Time{}, nil
	return e.members, nil
}

// staleLocked answers from a cached set no older than maxStale after a failure, or
// with the failure; logFailure is false while answering within failBackoff of a
// failure already logged. g.mu is held.
func (g *Groups) staleLocked(e *groupEntry, now time.Time, err error, logFailure bool) (map[string]bool, error) {
	if e.members != nil && now.Sub(e.fetched) <= maxStale {
		if logFailure {
			g.logger.Warn("open library unavailable; serving cached usergroup members",
				"age", now.Sub(e.fetched).Round(time.Second).String(), "err", err)
		}
		return e.members, nil
	}
	return nil, err
}

type fetched struct {
	members map[string]bool
	missing bool
}

// usergroupDoc is the part of a usergroup document that is read.
type usergroupDoc struct {
	Key     string `json:"key"`
	Members []struct {
		Key string `json:"key"`
	} `json:"members"`
}

func (g *Groups) fetch(ctx context.Context, group string) (fetched, error) {
	u := g.base.JoinPath("usergroup", url.PathEscape(group)+".json")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fetched{}, fmt.Errorf("usergroup %s: %w: %v", group, ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return fetched{}, fmt.Errorf("usergroup %s: %w: %v", group, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGroupBody+1))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fetched{members: map[string]bool{}, missing: true}, nil
	case resp.StatusCode != http.StatusOK:
		return fetched{}, fmt.Errorf("usergroup %s: %w: HTTP %d", group, ErrUnavailable, resp.StatusCode)
	case err != nil:
		return fetched{}, fmt.Errorf("usergroup %s: %w: reading the answer: %v", group, ErrUnavailable, err)
	case len(body) > maxGroupBody:
		return fetched{}, fmt.Errorf("usergroup %s: %w: answer larger than %d bytes", group, ErrUnavailable, maxGroupBody)
	}
	members, err := parseUsergroup(body, group)
	if err != nil {
		return fetched{}, fmt.Errorf("usergroup %s: %w: %v", group, ErrUnavailable, err)
	}
	return fetched{members: members}, nil
}

// parseUsergroup reads the member usernames of a usergroup document. Anything that
// is not the document of that group is an error (so the caller denies); members
// that are not /people/ keys are skipped.
func parseUsergroup(body []byte, group string) (map[string]bool, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return nil, errors.New("answer is not a JSON object")
	}
	var doc usergroupDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("answer is not a usergroup document: %v", err)
	}
	if doc.Key != "/usergroup/"+group {
		return nil, fmt.Errorf("answer is the document %q, not /usergroup/%s", doc.Key, group)
	}
	members := make(map[string]bool, len(doc.Members))
	for _, m := range doc.Members {
		if name, ok := strings.CutPrefix(m.Key, peoplePrefix); ok && name != "" && !strings.Contains(name, "/") {
			members[name] = true
		}
	}
	return members, nil
}
