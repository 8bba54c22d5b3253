package github_test

import (
	"errors"
	"os"
	"testing"

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
