// Package jenkins triggers the testing deploy job and reads the status of the deploy
// pipeline's runs (Jenkins never calls back: the runs list is the truth about a deploy).
package jenkins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every error the client returns wraps exactly one of them.
var (
	// ErrUnconfigured: no token (or no trigger URL), so nothing can be deployed.
	ErrUnconfigured = errors.New("jenkins: deploy unconfigured")
	// ErrRefused: Jenkins answered but did not accept the trigger (4xx, a redirect
	// other than 303, …).
	ErrRefused = errors.New("jenkins: refused")
	// ErrUnavailable: Jenkins could not answer: unreachable, timed out, 5xx, or an
	// answer that makes no sense.
	ErrUnavailable = errors.New("jenkins: unavailable")
)

const (
	defaultTimeout = 10 * time.Second
	maxRunsBody    = 16 << 20
)

// Options configures a Client.
type Options struct {
	// RunsURL is the monitored job's wfapi runs list, e.g.
	// https://jenkins.openlibrary.org/job/ol-dev1-deploy%20(internal)/wfapi/runs?fullStages=true
	RunsURL string
	// TriggerURL is the deploy job's buildWithParameters URL, without the token.
	TriggerURL string
	// Token is the job's trigger token; "" = deploy unconfigured.
	Token string
	// HTTPClient is used for every request; nil means a default one. Redirects are
	// never followed for triggers, whatever its CheckRedirect says.
	HTTPClient *http.Client
	// Timeout bounds every single request (default 10s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Client talks to Jenkins. It is safe for concurrent use.
type Client struct {
	runsURL    *url.URL // nil when not configured
	triggerURL *url.URL // nil when not configured
	token      string
	runs       *http.Client
	trigger    *http.Client
	timeout    time.Duration
	log        *slog.Logger
}

// New returns a Client. Empty URLs are allowed (the corresponding call then fails with
// ErrUnconfigured); malformed ones are not.
func New(opts Options) (*Client, error) {
	runsURL, err := parseURL("runs URL", opts.RunsURL)
	if err != nil {
		return nil, err
	}
	triggerURL, err := parseURL("trigger URL", opts.TriggerURL)
	if err != nil {
		return nil, err
	}
	if triggerURL != nil && triggerURL.Query().Has("token") {
		return nil, errors.New("jenkins: trigger URL: pass the token as Token, not in the URL")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var runs http.Client
	if opts.HTTPClient != nil {
		runs = *opts.HTTPClient
	}
	// A trigger URL carries the token: following a redirect would hand it to wherever
	// Jenkins points, and a 303 is itself the answer (an identical item is queued).
	trigger := runs
	trigger.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		runsURL:    runsURL,
		triggerURL: triggerURL,
		token:      opts.Token,
		runs:       &runs,
		trigger:    &trigger,
		timeout:    timeout,
		log:        logger.With("component", "jenkins"),
	}, nil
}

func parseURL(what, s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jenkins: %s %q: want an absolute http(s) URL", what, s)
	}
	return u, nil
}

// Configured reports whether deploys can be triggered (a token and a trigger URL).
func (c *Client) Configured() bool { return c.token != "" && c.triggerURL != nil }

// Runs returns the monitored job's runs, newest first.
func (c *Client) Runs(ctx context.Context) ([]Run, error) {
	const op = "runs"
	if c.runsURL == nil {
		return nil, fmt.Errorf("%s: %w: no runs URL", op, ErrUnconfigured)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.runsURL.String(), nil)
	if err != nil {
		return nil, c.unavailable(ctx, op, err)
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.runs.Do(req)
	if err != nil {
		return nil, c.unavailable(ctx, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.fail(ctx, fmt.Errorf("%s: %w: status %d", op, ErrUnavailable, resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRunsBody+1))
	if err != nil {
		return nil, c.unavailable(ctx, op, err)
	}
	if len(body) > maxRunsBody {
		return nil, c.fail(ctx, fmt.Errorf("%s: %w: answer larger than %d MiB", op, ErrUnavailable, maxRunsBody>>20))
	}
	runs, err := ParseRuns(body)
	if err != nil {
		return nil, c.fail(ctx, fmt.Errorf("%s: %w: garbage: %v", op, ErrUnavailable, err))
	}
	c.log.DebugContext(ctx, "read runs", "runs", len(runs), "duration", time.Since(start))
	return runs, nil
}

// Trigger starts the deploy job with GH_REPO_AND_BRANCH set to lines joined by "\n",
// and returns the queue item's URL (from Location; "" when Jenkins gave none). A 303,
// which Jenkins sends when an identical item is already queued, is a success too.
func (c *Client) Trigger(ctx context.Context, lines []string) (queueURL string, err error) {
	const op = "trigger"
	if !c.Configured() {
		return "", fmt.Errorf("%s: %w", op, ErrUnconfigured)
	}
	u := *c.triggerURL
	u.RawQuery = triggerQuery(c.triggerURL.RawQuery, c.token, lines)

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", c.unavailable(ctx, op, err)
	}
	start := time.Now()
	resp, err := c.trigger.Do(req)
	if err != nil {
		return "", c.unavailable(ctx, op, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300, status == http.StatusSeeOther:
		loc := c.location(resp.Header.Get("Location"))
		c.log.InfoContext(ctx, "deploy triggered", "status", status, "queue", loc, "lines", len(lines), "duration", time.Since(start))
		return loc, nil
	case status >= 500:
		return "", c.fail(ctx, fmt.Errorf("%s: %w: status %d", op, ErrUnavailable, status))
	case status >= 300 && status < 400:
		// Usually a redirect to a login page: the token was not accepted.
		return "", c.fail(ctx, fmt.Errorf("%s: %w: status %d (redirected)", op, ErrRefused, status))
	default:
		return "", c.fail(ctx, fmt.Errorf("%s: %w: status %d", op, ErrRefused, status))
	}
}

// triggerQuery keeps any query the trigger URL already has and appends the token and
// the lines, URL-encoded (spaces as "+", newlines as %0A, "#" as %23), in the order
// legacy sends them.
func triggerQuery(existing, token string, lines []string) string {
	q := "token=" + url.QueryEscape(token) + "&GH_REPO_AND_BRANCH=" + url.QueryEscape(strings.Join(lines, "\n"))
	if existing != "" {
		q = existing + "&" + q
	}
	return q
}

// location resolves a Location header against the trigger URL (without its query)
// and makes sure no token rides along.
func (c *Client) location(loc string) string {
	if loc == "" {
		return ""
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	base := *c.triggerURL
	base.RawQuery = ""
	u := base.ResolveReference(ref)
	if q := u.Query(); q.Has("token") {
		q.Del("token")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// unavailable maps a failed round trip. ctx is the caller's: when it is done, the
// caller gave up; otherwise a deadline is our own per-request timeout. *url.Error's
// text includes the URL, and the trigger URL includes the token, so only its cause is
// kept, and the token is scrubbed from that too.
func (c *Client) unavailable(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return c.fail(ctx, fmt.Errorf("%s: %w: %w", op, ErrUnavailable, ctx.Err()))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return c.fail(ctx, fmt.Errorf("%s: %w: timed out after %s", op, ErrUnavailable, c.timeout))
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return c.fail(ctx, fmt.Errorf("%s: %w: unreachable: %s", op, ErrUnavailable, c.scrub(err.Error())))
}

func (c *Client) scrub(s string) string {
	if c.token == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.token, "REDACTED")
	return strings.ReplaceAll(s, url.QueryEscape(c.token), "REDACTED")
}

func (c *Client) fail(ctx context.Context, err error) error {
	c.log.WarnContext(ctx, "jenkins request failed", "error", err)
	return err
}

// DeployLine is the line that asks the deploy job to merge a pull request:
// "origin pull/{n}/head  # {title}" (two spaces before "#"), on one line whatever the title.
func DeployLine(number int, title string) string {
	title = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(title)
	return "origin pull/" + strconv.Itoa(number) + "/head  # " + title
}
