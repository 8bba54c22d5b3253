package service

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// maxRefLen bounds a single reference; anything longer is junk, and the bound keeps
// error messages (which quote the input) short.
const maxRefLen = 500

var (
	deployLineRe = regexp.MustCompile(`^origin\s+pull/([^/\s]+)/head(?:\s+#.*)?$`)
	numberRe     = regexp.MustCompile(`^#?\s*([+-]?\d+)$`)
	// urlRe matches a GitHub web or API URL of a pull request or an issue: the host
	// part is optional, so "github.com/o/r/pull/1" and "o/r/pull/1" are accepted too.
	urlRe = regexp.MustCompile(`(?i)^(?:https?://)?(?:[a-z0-9.-]+\.[a-z]{2,}(?::\d+)?/)?(?:api/v3/)?(?:repos/)?([a-z0-9._-]+)/([a-z0-9._-]+)/(pull|pulls|issues)/([^/?#\s]+)(?:[/?#].*)?$`)
)

// errRef is the kind of every ParseRef error; its text says what is wrong.
var errRef = errors.New("invalid reference")

// ParseRef returns the pull request number a reference names. A reference is a PR
// number ("13269"), "#13269", a pull request URL of repo (web or API, any suffix such as
// "/files"), or a deploy line ("origin pull/13269/head  # title"). repo is owner/name;
// URLs of other repositories are refused. Errors wrap errRef and say why in words a
// person can act on.
func ParseRef(ref, repo string) (int, error) {
	s := strings.TrimSpace(ref)
	switch {
	case s == "":
		return 0, fmt.Errorf("%w: empty", errRef)
	case len(s) > maxRefLen:
		return 0, fmt.Errorf("%w: longer than %d characters", errRef, maxRefLen)
	}
	if m := deployLineRe.FindStringSubmatch(s); m != nil {
		return parseNumber(m[1])
	}
	if m := numberRe.FindStringSubmatch(s); m != nil {
		return parseNumber(m[1])
	}
	if m := urlRe.FindStringSubmatch(s); m != nil {
		owner, name, kind, num := m[1], m[2], strings.ToLower(m[3]), m[4]
		if kind == "issues" {
			return 0, fmt.Errorf("%w: %s is an issue URL, not a pull request", errRef, quoted(s))
		}
		if repo != "" && !strings.EqualFold(owner+"/"+name, repo) {
			return 0, fmt.Errorf("%w: %s is a pull request of %s/%s, not of %s", errRef, quoted(s), owner, name, repo)
		}
		return parseNumber(num)
	}
	return 0, fmt.Errorf("%w: %s is not a PR number, #N, pull request URL or deploy line", errRef, quoted(s))
}

func parseNumber(s string) (int, error) {
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%w: %s is negative; PR numbers start at 1", errRef, clip(s))
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > math.MaxInt32:
		return 0, fmt.Errorf("%w: %s is too large for a PR number", errRef, clip(s))
	case err != nil:
		return 0, fmt.Errorf("%w: %s is not a number", errRef, quoted(s))
	case n == 0:
		return 0, fmt.Errorf("%w: 0 is not a PR number; they start at 1", errRef)
	}
	return int(n), nil
}

// clip shortens s for quoting in an error message.
// quoted is s as a Go-quoted string cut to about 80 bytes: quoting turns each
// unprintable byte into four, so the input is cut after quoting, not before.
func quoted(s string) string {
	const max = 80
	q := strconv.Quote(s)
	if len(q) <= max {
		return q
	}
	return q[:max-1] + "…\""
}

func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
