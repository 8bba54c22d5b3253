package github_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
)

func FuzzParsePull(f *testing.F) {
	if data, err := os.ReadFile("testdata/pull.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"number": 1, "merged_at": "2026-01-02T03:04:05Z", "assignee": null}`))
	f.Add([]byte(`{"number": 1, "mergeable": null, "head": null, "user": null}`))
	f.Add([]byte(`{"number": -1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"number": 1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := github.ParsePull(data)
		if err != nil {
			if !errors.Is(err, github.ErrUnavailable) {
				t.Fatalf("error %v does not wrap ErrUnavailable", err)
			}
			return
		}
		if p.Number <= 0 {
			t.Fatalf("accepted a pull without a positive number: %+v", p)
		}
		if !p.MergedAt.IsZero() && !p.Merged {
			t.Fatalf("merged_at set but not merged: %+v", p)
		}
	})
}

// FuzzClientAnswers feeds arbitrary answers (status, Link and rate-limit headers,
// body) to the real client's three calls, through go-github: whatever GitHub (or
// something pretending to be it) sends, each call returns a result that makes sense
// or an error wrapping one of the package's sentinels, and never panics or loops.
func FuzzClientAnswers(f *testing.F) {
	pull, _ := os.ReadFile("testdata/pull.json")
	f.Add(uint8(0), 200, "", "4999", pull)
	f.Add(uint8(1), 200, `<https://api.github.com/repositories/1/pulls?page=2>; rel="next", <https://api.github.com/repositories/1/pulls?page=3>; rel="last"`, "10", []byte(`[`+string(pull)+`]`))
	f.Add(uint8(1), 200, `<x?page=999999>; rel="last"`, "10", []byte(`[]`))
	f.Add(uint8(2), 200, "", "0", []byte(`{"status": "ahead", "ahead_by": 3, "behind_by": 0}`))
	f.Add(uint8(2), 200, "", "", []byte(`{"status": "diverged", "ahead_by": -1}`))
	f.Add(uint8(0), 403, "", "0", []byte(`{"message": "API rate limit exceeded"}`))
	f.Add(uint8(0), 404, "", "", []byte(`{"message": "Not Found"}`))
	f.Add(uint8(1), 502, "", "", []byte(`<html>bad gateway</html>`))
	f.Add(uint8(2), 202, "", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, call uint8, status int, link, remaining string, body []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		// The answer is made in memory (no server, no goroutines): the fuzzer spends
		// its time in go-github's and our decoding, not in the network stack.
		answer := func(r *http.Request) (*http.Response, error) {
			h := http.Header{"Content-Type": {"application/json"}}
			if link != "" {
				h.Set("Link", link)
			}
			if remaining != "" {
				h.Set("X-RateLimit-Remaining", remaining)
				h.Set("X-RateLimit-Limit", "5000")
				h.Set("X-RateLimit-Reset", "1700000000")
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: r,
				Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
		}
		c, err := github.New(github.Options{BaseURL: "https://api.github.test/", Repo: "o/r",
			HTTPClient: &http.Client{Transport: roundTripFunc(answer)}, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		switch call % 3 {
		case 0:
			p, err := c.GetPull(ctx, 1)
			if err == nil && p.Number != 1 {
				t.Fatalf("GetPull(1) answered pull %d", p.Number)
			}
			checkSentinel(t, err)
		case 1:
			pulls, err := c.ListOpenPulls(ctx)
			for _, p := range pulls {
				if p.Number <= 0 {
					t.Fatalf("listing holds a pull without a number: %+v", p)
				}
			}
			checkSentinel(t, err)
		case 2:
			_, err := c.Compare(ctx, "aaaa", "bbbb")
			checkSentinel(t, err)
		}
		if b := c.Budget(); b.Known && (b.Remaining < 0 || b.Remaining > b.Limit) {
			t.Fatalf("budget %+v", b)
		}
	})
}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, ok := errors.AsType[*github.RateLimitError](err); ok {
		return
	}
	if !errors.Is(err, github.ErrNotFound) && !errors.Is(err, github.ErrUnavailable) {
		t.Fatalf("error %v wraps none of the package's sentinels", err)
	}
}
