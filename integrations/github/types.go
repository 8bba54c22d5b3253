// Package github reads pull requests and commit comparisons of one repository from
// GitHub's REST API (over go-github), with conditional requests so that unchanged data
// costs 304s, which GitHub does not count against the rate limit.
package github

import (
	"errors"
	"fmt"
	"time"
)

// Pull is what the service needs to know of one pull request.
type Pull struct {
	Number         int
	State          string // "open" or "closed"
	Title          string
	HeadSHA        string // full SHA of the PR's head commit
	Author         string // user.login
	AuthorAvatar   string // user.avatar_url
	Assignee       string // assignee.login; "" when unassigned
	AssigneeAvatar string // assignee.avatar_url
	Merged         bool   // merged, or merged_at set (the listing carries only merged_at)
	MergedAt       time.Time
	ClosedAt       time.Time
	UpdatedAt      time.Time
	// Mergeable is GitHub's lazily computed mergeability: nil when GitHub has not
	// computed it yet, and always nil in the open-PR listing, which does not carry it.
	Mergeable *bool
	// MergeableState is GitHub's word for it ("clean", "dirty" = conflicts, "blocked",
	// "behind", "unstable", "draft", "unknown" while computing); "" in the listing.
	MergeableState string
}

// Closed reports whether the PR was closed without being merged.
func (p Pull) Closed() bool { return p.State == "closed" && !p.Merged }

// Comparison is the result of comparing a base commit with a head commit
// (GET /compare/{base}...{head}).
type Comparison struct {
	Status   string // "identical", "ahead", "behind" or "diverged"
	AheadBy  int    // commits the head has that the base lacks
	BehindBy int    // commits the base has that the head lacks
}

// Sentinel errors. Every error the client returns wraps exactly one of them.
var (
	// ErrNotFound: GitHub has no such pull request or commit (HTTP 404/422).
	ErrNotFound = errors.New("github: not found")
	// ErrUnavailable: GitHub could not answer: unreachable, timed out, 5xx, garbage,
	// or rate-limited (a *RateLimitError also matches ErrUnavailable).
	ErrUnavailable = errors.New("github: unavailable")
)

// RateLimitError is returned when GitHub refuses a request because a rate limit is
// exhausted. errors.Is(err, ErrUnavailable) is true for it.
type RateLimitError struct {
	// Reset is when the limit resets; zero when GitHub did not say.
	Reset time.Time
}

func (e *RateLimitError) Error() string {
	if e.Reset.IsZero() {
		return "github: rate limited"
	}
	return fmt.Sprintf("github: rate limited until %s", e.Reset.UTC().Format(time.RFC3339))
}

// Is makes a rate limit a kind of unavailability.
func (e *RateLimitError) Is(target error) bool { return target == ErrUnavailable }
