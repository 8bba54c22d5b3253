package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// errMalformed marks a response that arrived but makes no sense. It never leaves the
// package on its own: mapError turns it into ErrUnavailable.
var errMalformed = errors.New("malformed response")

// mapError turns whatever go-github or the transport returned into an error wrapping
// ErrNotFound, ErrUnavailable or a *RateLimitError, prefixed with op. The messages
// name status codes and causes, never URLs or headers, so no credential can leak.
// ctx is the caller's context (not the per-request one), to tell the caller giving up
// from a request timing out.
func mapError(ctx context.Context, op string, err error) error {
	var (
		rateErr  *gh.RateLimitError
		abuseErr *gh.AbuseRateLimitError
		respErr  *gh.ErrorResponse
		accepted *gh.AcceptedError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
		urlErr   *url.Error
	)
	unavailable := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", op, ErrUnavailable, fmt.Sprintf(format, args...))
	}
	switch {
	case errors.As(err, &rateErr):
		// Both GitHub's 403 and go-github's local refusal before the reset time.
		return fmt.Errorf("%s: %w", op, &RateLimitError{Reset: rateErr.Rate.Reset.Time})
	case errors.As(err, &abuseErr):
		var reset time.Time
		if abuseErr.RetryAfter != nil {
			reset = time.Now().Add(*abuseErr.RetryAfter).Truncate(time.Second)
		} else if abuseErr.Response != nil {
			reset = resetFromHeaders(abuseErr.Response.Header)
		}
		return fmt.Errorf("%s: %w", op, &RateLimitError{Reset: reset})
	case errors.As(err, &respErr):
		if respErr.Response == nil {
			return unavailable("error response without a status")
		}
		status := respErr.Response.StatusCode
		h := respErr.Response.Header
		switch {
		case status == http.StatusNotFound || status == http.StatusUnprocessableEntity:
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		case status == http.StatusTooManyRequests,
			status == http.StatusForbidden && (h.Get("X-RateLimit-Remaining") == "0" || h.Get("Retry-After") != "" ||
				strings.Contains(strings.ToLower(respErr.Message), "rate limit")):
			return fmt.Errorf("%s: %w", op, &RateLimitError{Reset: resetFromHeaders(h)})
		case status == http.StatusUnauthorized:
			return unavailable("status 401 (is the token valid?)")
		default:
			return unavailable("status %d", status)
		}
	case errors.As(err, &accepted):
		return unavailable("GitHub is still computing the answer (202)")
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return unavailable("timed out")
	case errors.Is(err, errMalformed):
		return unavailable("%v", err)
	case errors.As(err, &syntax), errors.As(err, &typeErr), errors.Is(err, io.ErrUnexpectedEOF):
		return unavailable("malformed response: %v", err)
	case errors.As(err, &urlErr):
		// url.Error's own text includes the URL; keep only the cause.
		return unavailable("request failed: %v", urlErr.Err)
	default:
		return unavailable("%v", err)
	}
}

// resetFromHeaders reads when a rate limit resets: Retry-After (seconds or an HTTP
// date), which is the specific instruction for a secondary limit, else
// X-RateLimit-Reset (Unix seconds). Zero when neither says.
func resetFromHeaders(h http.Header) time.Time {
	if v := h.Get("Retry-After"); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec >= 0 {
			return time.Now().Add(time.Duration(sec) * time.Second).Truncate(time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return t
		}
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 0 {
			return time.Unix(sec, 0)
		}
	}
	return time.Time{}
}
