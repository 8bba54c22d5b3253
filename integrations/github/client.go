package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gh "github.com/google/go-github/v60/github"
)

const (
	defaultBaseURL = "https://api.github.com/"
	defaultTimeout = 10 * time.Second

	perPage = 100 // GitHub's maximum page size
	// maxPages bounds a listing (10,000 open PRs) so that a broken Link header cannot
	// make us fetch forever.
	maxPages = 100
	// defaultPageGuess is how many listing pages are asked for at once before any
	// listing has said how many there are.
	defaultPageGuess = 2
	// maxPagesInFlight bounds the listing pages asked for at once (and so the guess).
	maxPagesInFlight = 10
)

// Options configures a Client.
type Options struct {
	// BaseURL of the REST API; default "https://api.github.com/".
	BaseURL string
	// Repo is "owner/name".
	Repo string
	// Token is sent as "Authorization: Bearer"; "" means anonymous (60 requests an hour).
	Token string
	// HTTPClient is used for every request; nil means a default one. Its Transport is
	// wrapped, not replaced.
	HTTPClient *http.Client
	// Timeout bounds every single request (default 10s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Client reads one repository's pull requests and comparisons. It is safe for
// concurrent use.
type Client struct {
	gh          *gh.Client
	tr          *transport
	owner, repo string
	timeout     time.Duration
	log         *slog.Logger

	rateLimited atomic.Int64
	errors      atomic.Int64
	// listPages is how many pages the last complete listing had (0: none yet), the
	// number of pages the next listing asks for at once.
	listPages atomic.Int32
}

// Stats are counters since the client was created.
type Stats struct {
	// Requests is how many HTTP requests went over the wire (304s included; requests
	// that go-github refused locally because a rate limit had not reset yet are not).
	Requests int64
	// NotModified is how many of those GitHub answered with 304, which costs no quota.
	// Requests - NotModified is what counted against the rate limit.
	NotModified int64
	// RateLimited is how many calls failed with a *RateLimitError (including local
	// refusals before the reset time).
	RateLimited int64
	// Errors is how many calls (ListOpenPulls, GetPull, Compare) returned an error.
	Errors int64
}

// Budget returns what GitHub last said about the rate limit and when it last answered.
// A window whose reset time has passed is reported as full again.
func (c *Client) Budget() Budget {
	b := c.tr.currentBudget()
	if b.Known && !b.Reset.IsZero() && c.tr.now().After(b.Reset) {
		b.Remaining = b.Limit
	}
	return b
}

// Stats returns the counters since the client was created.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:    c.tr.requests.Load(),
		NotModified: c.tr.notModified.Load(),
		RateLimited: c.rateLimited.Load(),
		Errors:      c.errors.Load(),
	}
}

var repoPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// New returns a Client for opts.Repo.
func New(opts Options) (*Client, error) {
	owner, repo, ok := strings.Cut(opts.Repo, "/")
	if !ok || !validRepoPart(owner) || !validRepoPart(repo) {
		return nil, fmt.Errorf("github: repo %q: want owner/name", opts.Repo)
	}
	base := opts.BaseURL
	if base == "" {
		base = defaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github: base URL %q: want an absolute http(s) URL", base)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("github: base URL: must not carry credentials, a query or a fragment")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	// Copy the caller's client so that wrapping its transport does not change it.
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	tr := newTransport(hc.Transport, opts.Token)
	hc.Transport = tr

	g := gh.NewClient(&hc)
	g.BaseURL = u
	g.UserAgent = "testingd (+https://github.com/internetarchive/testingd)"

	return &Client{
		gh:      g,
		tr:      tr,
		owner:   owner,
		repo:    repo,
		timeout: timeout,
		log:     logger.With("component", "github"),
	}, nil
}

func validRepoPart(s string) bool {
	return repoPart.MatchString(s) && s != "." && s != ".."
}

// ListOpenPulls returns every open pull request, newest first as GitHub orders them.
//
// The listing is on the critical path of every cold status read, so its pages are not
// asked one round trip after another: page 1 and the pages the last listing had (two
// when nothing is known yet) go out at once; when page 1's Link rel="last" says there
// are more, the rest go out at once as soon as page 1 is in. Pages are joined in page
// order, then rel="next" is followed from the last one (PRs opened meanwhile).
//
// A speculative page past the real last page answers [] and is dropped. It costs a
// request only when the listing shrank since the last one (and once, on the first
// listing of a repository of a single page); an unchanged listing asks exactly its
// pages again, each answered 304.
func (c *Client) ListOpenPulls(ctx context.Context) ([]Pull, error) {
	start := time.Now()
	guess := int(c.listPages.Load())
	if guess <= 0 {
		guess = defaultPageGuess
	}
	guess = min(guess, maxPagesInFlight)

	got, end, err := c.fetchPages(ctx, guess)
	if err != nil {
		return nil, c.record(ctx, err)
	}
	// take is page p as fetched above, or asked for now if it was not (or failed while
	// it was not known to be needed).
	take := func(p int) (listedPage, error) {
		if r, ok := got[p]; ok && r.err == nil {
			return r, nil
		}
		pulls, resp, err := c.listPage(ctx, p)
		if err != nil {
			return listedPage{}, mapError(ctx, pageOp(p), err)
		}
		return listedPage{pulls: pulls, next: resp.NextPage}, nil
	}

	// Pages 1..end as page 1 announced them, then rel="next" one page at a time: when
	// GitHub gave no rel="last", or when PRs were opened while we listed and the last
	// page now points further.
	pages := make([][]*wirePull, 0, end)
	cur, next := 0, 1
	for p := 1; p <= end; p++ {
		r, err := take(p)
		if err != nil {
			return nil, c.record(ctx, err)
		}
		pages = append(pages, r.pulls)
		cur, next = p, r.next
	}
	for next > cur {
		if next > maxPages {
			return nil, c.fail(ctx, "list open pulls", fmt.Errorf("%w: more than %d pages", errMalformed, maxPages))
		}
		r, err := take(next)
		if err != nil {
			return nil, c.record(ctx, err)
		}
		pages = append(pages, r.pulls)
		cur, next = next, r.next
	}
	c.listPages.Store(int32(cur))

	// Pages fetched at different moments can overlap when a PR is opened meanwhile
	// (everything shifts down by one): keep the first copy of each number.
	var out []Pull
	seen := make(map[int]bool)
	for _, page := range pages {
		for _, p := range page {
			pull, err := pullFrom(p)
			if err != nil {
				return nil, c.fail(ctx, "list open pulls", err)
			}
			if seen[pull.Number] {
				continue
			}
			seen[pull.Number] = true
			out = append(out, pull)
		}
	}
	c.log.DebugContext(ctx, "listed open pulls", "pulls", len(out), "pages", len(pages), "requested", len(got), "guessed", guess, "duration", time.Since(start))
	return out, nil
}

// listedPage is one page of the listing as fetched: its PRs and its rel="next", or the
// (mapped) error fetching it.
type listedPage struct {
	pulls []*wirePull
	next  int
	err   error
}

func pageOp(p int) string {
	if p == 1 {
		return "list open pulls"
	}
	return fmt.Sprintf("list open pulls: page %d", p)
}

// fetchPages fetches pages 1..guess at once and, as soon as page 1 is in, the pages its
// rel="last" announces beyond the guess, at most maxPagesInFlight at a time. It returns
// every page fetched and end, the last page page 1 announced (1 when it announced none).
// The error is the first failure of a page known to be needed (page 1, or a page up to
// end); it cancels the pages still in flight. A speculative page past end may fail
// without failing the listing.
func (c *Client) fetchPages(ctx context.Context, guess int) (got map[int]listedPage, end int, err error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed error
	)
	got = make(map[int]listedPage, guess)
	sem := make(chan struct{}, maxPagesInFlight)
	// Callers of fail hold mu.
	fail := func(err error) {
		if failed == nil {
			failed = err
			cancel()
		}
	}
	var fetch func(p int)
	fetch = func(p int) {
		wg.Go(func() {
			sem <- struct{}{}
			pulls, resp, err := c.listPage(lctx, p)
			<-sem
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				err = mapError(ctx, pageOp(p), err)
				got[p] = listedPage{err: err}
				if p == 1 || p <= end { // end is 0 until page 1 is in
					fail(err)
				}
				return
			}
			got[p] = listedPage{pulls: pulls, next: resp.NextPage}
			if p != 1 {
				return
			}
			last := resp.LastPage
			if last > maxPages {
				fail(mapError(ctx, pageOp(1), fmt.Errorf("%w: %d pages is more than the %d allowed", errMalformed, last, maxPages)))
				return
			}
			end = max(last, 1)
			// A page that failed before it was known to be needed.
			for q := 2; q <= min(end, guess); q++ {
				if r, ok := got[q]; ok && r.err != nil {
					fail(r.err)
					return
				}
			}
			for q := guess + 1; q <= end; q++ {
				fetch(q)
			}
		})
	}
	for p := 1; p <= guess; p++ {
		fetch(p)
	}
	wg.Wait()
	if failed != nil {
		return nil, 0, failed
	}
	return got, end, nil
}

func (c *Client) listPage(ctx context.Context, page int) ([]*wirePull, *gh.Response, error) {
	var pulls []*wirePull
	resp, err := c.get(ctx, fmt.Sprintf("repos/%s/%s/pulls?state=open&per_page=%d&page=%d", c.owner, c.repo, perPage, page), &pulls)
	return pulls, resp, err
}

// get sends one GET, bounded by the client's timeout, through go-github (which builds
// the request, checks the response, remembers rate limits and parses Link), decoding
// the body into v: our own small wire types, not go-github's.
func (c *Client) get(ctx context.Context, path string, v any) (*gh.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.gh.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return c.gh.Do(ctx, req, v)
}

// GetPull returns pull request number; ErrNotFound when there is no such PR.
func (c *Client) GetPull(ctx context.Context, number int) (Pull, error) {
	op := fmt.Sprintf("get pull %d", number)
	if number <= 0 {
		c.errors.Add(1)
		return Pull{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	var w *wirePull
	if _, err := c.get(ctx, fmt.Sprintf("repos/%s/%s/pulls/%d", c.owner, c.repo, number), &w); err != nil {
		return Pull{}, c.fail(ctx, op, err)
	}
	pull, err := pullFrom(w)
	if err == nil && pull.Number != number {
		err = fmt.Errorf("%w: asked for pull %d, got %d", errMalformed, number, pull.Number)
	}
	if err != nil {
		return Pull{}, c.fail(ctx, op, err)
	}
	return pull, nil
}

// Compare compares base with head (commits, branches or tags). Only one commit is
// asked for (per_page=1): the counts are all the service needs, and the commit list
// would make the payload, and the cached copy of it, large.
func (c *Client) Compare(ctx context.Context, base, head string) (Comparison, error) {
	op := fmt.Sprintf("compare %s...%s", short(base), short(head))
	if base == "" || head == "" {
		c.errors.Add(1)
		return Comparison{}, fmt.Errorf("%s: empty base or head: %w", op, ErrNotFound)
	}
	var w *wireCompare
	path := fmt.Sprintf("repos/%s/%s/compare/%s...%s?per_page=1", c.owner, c.repo, url.PathEscape(base), url.PathEscape(head))
	if _, err := c.get(ctx, path, &w); err != nil {
		return Comparison{}, c.fail(ctx, op, err)
	}
	if w == nil || w.Status == nil || w.AheadBy == nil || w.BehindBy == nil {
		return Comparison{}, c.fail(ctx, op, fmt.Errorf("%w: comparison without status, ahead_by or behind_by", errMalformed))
	}
	return Comparison{Status: *w.Status, AheadBy: *w.AheadBy, BehindBy: *w.BehindBy}, nil
}

// short abbreviates a full SHA for error messages; branch names pass unchanged.
func short(ref string) string {
	if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
		return ref[:12]
	}
	if len(ref) > 80 {
		return ref[:80] + "…"
	}
	return ref
}

// fail maps err, counts it and logs it.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	return c.record(ctx, mapError(ctx, op, err))
}

// record counts and logs an already mapped error.
func (c *Client) record(ctx context.Context, mapped error) error {
	if t := c.tr.token; t != "" && strings.Contains(mapped.Error(), t) {
		// mapError never puts a header in a message; this is only a safety net.
		mapped = &redacted{msg: strings.ReplaceAll(mapped.Error(), t, "REDACTED"), err: mapped}
	}
	c.errors.Add(1)
	var rl *RateLimitError
	switch {
	case errors.As(mapped, &rl):
		c.rateLimited.Add(1)
		c.log.WarnContext(ctx, "github rate limit", "error", mapped)
	case errors.Is(mapped, ErrNotFound):
		c.log.DebugContext(ctx, "github: not found", "error", mapped)
	default:
		c.log.WarnContext(ctx, "github request failed", "error", mapped)
	}
	return mapped
}

// redacted hides a credential in an error's text while keeping errors.Is/As working.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
