package service

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	const repo = "internetarchive/openlibrary"
	tests := []struct {
		name    string
		ref     string
		want    int
		wantErr string // a fragment of the message; "" = success
	}{
		{"number", "13269", 13269, ""},
		{"number with spaces", "  13269 \t", 13269, ""},
		{"hash", "#13269", 13269, ""},
		{"hash space", "# 13269", 13269, ""},
		{"plus", "+12", 12, ""},
		{"web url", "https://github.com/internetarchive/openlibrary/pull/13269", 13269, ""},
		{"web url files", "https://github.com/internetarchive/openlibrary/pull/13269/files#diff-1", 13269, ""},
		{"web url query", "https://github.com/internetarchive/openlibrary/pull/13269?w=1", 13269, ""},
		{"no scheme", "github.com/internetarchive/openlibrary/pull/7", 7, ""},
		{"http www", "http://www.github.com/InternetArchive/OpenLibrary/pull/7", 7, ""},
		{"api url", "https://api.github.com/repos/internetarchive/openlibrary/pulls/13269", 13269, ""},
		{"deploy line", "origin pull/13269/head  # Test PR", 13269, ""},
		{"deploy line no title", "origin pull/13269/head", 13269, ""},
		{"deploy line hash in title", "origin pull/5/head  # fix #12 and #13", 5, ""},
		{"empty", "", 0, "empty"},
		{"blank", "   ", 0, "empty"},
		{"zero", "0", 0, "start at 1"},
		{"hash zero", "#0", 0, "start at 1"},
		{"negative", "-5", 0, "negative"},
		{"negative url", "https://github.com/internetarchive/openlibrary/pull/-5", 0, "negative"},
		{"too large", "99999999999", 0, "too large"},
		{"int32 overflow", "2147483648", 0, "too large"},
		{"int32 max", "2147483647", 2147483647, ""},
		{"huge", "999999999999999999999999999", 0, "too large"},
		{"issue url", "https://github.com/internetarchive/openlibrary/issues/13269", 0, "issue URL"},
		{"other repo", "https://github.com/someone/openlibrary/pull/3", 0, "not of internetarchive/openlibrary"},
		{"junk", "hello", 0, "not a PR number"},
		{"decimal", "12.5", 0, "not a PR number"},
		{"hex", "0x10", 0, "not a PR number"},
		{"url letters", "https://github.com/internetarchive/openlibrary/pull/abc", 0, "not a number"},
		{"deploy line letters", "origin pull/abc/head", 0, "not a number"},
		{"two numbers", "12 13", 0, "not a PR number"},
		{"too long", strings.Repeat("1", 600), 0, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tt.ref, repo)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseRef(%q) = %d, %v; want %d, nil", tt.ref, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRef(%q) = %d, nil; want an error containing %q", tt.ref, got, tt.wantErr)
			}
			if !errors.Is(err, errRef) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseRef(%q) error = %q; want errRef containing %q", tt.ref, err, tt.wantErr)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"13269", "#1", "https://github.com/internetarchive/openlibrary/pull/13269/files",
		"origin pull/13269/head  # t", "https://github.com/internetarchive/openlibrary/issues/1", "-1", "0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		n, err := ParseRef(ref, "internetarchive/openlibrary")
		if err != nil {
			if n != 0 || !errors.Is(err, errRef) {
				t.Fatalf("ParseRef(%q) = %d, %v: an error must come with 0 and wrap errRef", ref, n, err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error message too long (%d bytes)", len(err.Error()))
			}
			return
		}
		if n < 1 {
			t.Fatalf("ParseRef(%q) = %d: success must be a positive number", ref, n)
		}
	})
}
