package persistence

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the Go-made golden files under testdata/")

func TestParseTranscriptFixture(t *testing.T) {
	t.Parallel()
	got := ParseTranscript(readFile(t, "testdata/dev-merged-status.txt"))

	want := Transcript{
		GitStatus: "Switched to branch 'master'\nAlready up to date.\nSwitched to a new branch 'dev-merged'",
		PRs: []TranscriptPR{
			{
				Number:   13208,
				Name:     "pinned at 1d23364b8c652d6107e2dc685f918551fda5d327",
				PullLine: "origin pull/13208/head  # pinned at 1d23364b8c652d6107e2dc685f918551fda5d327",
				Status:   "1 file changed, 1 insertion(+), 1 deletion(-)",
				Body: "From https://github.com/internetarchive/openlibrary\n" +
					" * branch                refs/pull/13208/head -> FETCH_HEAD\n" +
					"Merge made by the 'ort' strategy.\n" +
					" openlibrary/plugins/openlibrary/status.py | 2 +-\n" +
					" 1 file changed, 1 insertion(+), 1 deletion(-)",
			},
			{
				Number:   13370,
				Name:     "pinned at 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5",
				PullLine: "origin pull/13370/head  # pinned at 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5",
				Status:   "Merge conflict for PR #13370 (pinned 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5) — skipping",
				Body: "Auto-merging openlibrary/plugins/openlibrary/status.py\n" +
					"CONFLICT (content): Merge conflict in openlibrary/plugins/openlibrary/status.py\n" +
					"Automatic merge failed; fix conflicts and then commit the result.\n" +
					"Merge conflict for PR #13370 (pinned 0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5) — skipping",
				MergeConflict: true,
			},
		},
		Footer: "Complete; dev-merged created (SHA: 4f2a9c1)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseTranscript(fixture) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{13370}, got.ConflictNumbers()); diff != "" {
		t.Errorf("ConflictNumbers (-want +got):\n%s", diff)
	}

	// The same, as a golden file (go test -update rewrites it).
	js, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/dev-merged-status.golden.json"
	if *update {
		if err := os.WriteFile(golden, js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFile(t, golden); !bytes.Equal(js, want) {
		t.Errorf("differs from %s (-want +got):\n%s", golden, cmp.Diff(string(want), string(js)))
	}
}

func TestParseTranscript(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Transcript
	}{
		{"empty", "", Transcript{}},
		{"only blank lines", "\n\n  \n", Transcript{}},
		{"only git status", "\nOn branch master\nnothing to commit\n\n", Transcript{GitStatus: "On branch master\nnothing to commit"}},
		{"git status keeps its indentation", "\n\n M file.py\n?? new\n", Transcript{GitStatus: " M file.py\n?? new"}},
		{"status and footer", "status\n---\nfooter\n", Transcript{GitStatus: "status", Footer: "footer"}},
		{
			name: "leading separator means an empty git status",
			in:   "---\norigin pull/5/head # five\nok\n---\ndone\n",
			want: Transcript{
				PRs:    []TranscriptPR{{Number: 5, Name: "five", PullLine: "origin pull/5/head # five", Status: "ok", Body: "ok"}},
				Footer: "done",
			},
		},
		{"just a separator", "---", Transcript{}},
		{
			name: "separator at end of file",
			in:   "status\n---\norigin pull/5/head\nok\n---",
			want: Transcript{
				GitStatus: "status",
				PRs:       []TranscriptPR{{Number: 5, PullLine: "origin pull/5/head", Status: "ok", Body: "ok"}},
			},
		},
		{
			name: "hash without ' # ' does not crash",
			in:   "s\n---\norigin pull/7/head #seven\nMerge made\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{Number: 7, PullLine: "origin pull/7/head #seven", Status: "Merge made", Body: "Merge made"}},
				Footer:    "f",
			},
		},
		{
			name: "name after the first ' # '",
			in:   "s\n---\norigin pull/7/head  # a # b \nok\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{Number: 7, Name: "a # b", PullLine: "origin pull/7/head  # a # b", Status: "ok", Body: "ok"}},
				Footer:    "f",
			},
		},
		{
			name: "CRLF and lone CR",
			in:   "s\r\n---\r\norigin pull/8/head # x\r\nline\rAutomatic merge failed; fix conflicts\r\n---\r\nf\r\n",
			want: Transcript{
				GitStatus: "s",
				PRs: []TranscriptPR{{
					Number: 8, Name: "x", PullLine: "origin pull/8/head # x",
					Status: "Automatic merge failed; fix conflicts", Body: "line\nAutomatic merge failed; fix conflicts",
					MergeConflict: true,
				}},
				Footer: "f",
			},
		},
		{
			name: "number only in the conflict status",
			in:   "s\n---\nsomething odd\nMerge conflict for PR #4242 (pinned abc) — skipping\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs: []TranscriptPR{{
					Number: 4242, PullLine: "something odd",
					Status: "Merge conflict for PR #4242 (pinned abc) — skipping", Body: "Merge conflict for PR #4242 (pinned abc) — skipping",
					MergeConflict: true,
				}},
				Footer: "f",
			},
		},
		{
			name: "a lone conflict line is pull line and status at once",
			in:   "s\n---\nMerge conflict for PR #99\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{Number: 99, PullLine: "Merge conflict for PR #99", Status: "Merge conflict for PR #99", MergeConflict: true}},
				Footer:    "f",
			},
		},
		{
			name: "pull line number wins over the status",
			in:   "s\n---\norigin pull/1/head\nMerge conflict for PR #2\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{Number: 1, PullLine: "origin pull/1/head", Status: "Merge conflict for PR #2", Body: "Merge conflict for PR #2", MergeConflict: true}},
				Footer:    "f",
			},
		},
		{
			name: "pinned commit unavailable is a skip",
			in:   "s\n---\norigin pull/9/head # nine\nPinned commit 1d23364 unavailable — skipping\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs: []TranscriptPR{{
					Number: 9, Name: "nine", PullLine: "origin pull/9/head # nine",
					Status: "Pinned commit 1d23364 unavailable — skipping", Body: "Pinned commit 1d23364 unavailable — skipping",
					Skipped: true,
				}},
				Footer: "f",
			},
		},
		{
			name: "conflict words elsewhere are not a conflict",
			in:   "s\n---\norigin pull/3/head\nCONFLICT (content): Merge conflict in x\nMerge made by the 'ort' strategy.\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs: []TranscriptPR{{
					Number: 3, PullLine: "origin pull/3/head", Status: "Merge made by the 'ort' strategy.",
					Body: "CONFLICT (content): Merge conflict in x\nMerge made by the 'ort' strategy.",
				}},
				Footer: "f",
			},
		},
		{
			name: "empty pieces are skipped",
			in:   "s\n---\n\n---\n  \n---\norigin pull/4/head\nok\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{Number: 4, PullLine: "origin pull/4/head", Status: "ok", Body: "ok"}},
				Footer:    "f",
			},
		},
		{
			name: "numbers beyond int32 are no number",
			in:   "s\n---\norigin pull/99999999999/head\nMerge conflict for PR #88888888888\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs: []TranscriptPR{{
					PullLine: "origin pull/99999999999/head", Status: "Merge conflict for PR #88888888888",
					Body: "Merge conflict for PR #88888888888", MergeConflict: true,
				}},
				Footer: "f",
			},
		},
		{
			name: "pull line must start with origin pull/",
			in:   "s\n---\n  x origin pull/12/head\nok\n---\nf",
			want: Transcript{
				GitStatus: "s",
				PRs:       []TranscriptPR{{PullLine: "x origin pull/12/head", Status: "ok", Body: "ok"}},
				Footer:    "f",
			},
		},
		{
			name: "separator needs a line of its own",
			in:   "s\n--- \n-----\n---x\nf",
			want: Transcript{GitStatus: "s\n--- \n-----\n---x\nf"},
		},
		{
			name: "invalid UTF-8 becomes U+FFFD",
			in:   "s\xff\n---\norigin pull/1/head # \xc3\n\xfe\n---\nf\x80",
			want: Transcript{
				GitStatus: "s\uFFFD",
				PRs:       []TranscriptPR{{Number: 1, Name: "\uFFFD", PullLine: "origin pull/1/head # \uFFFD", Status: "\uFFFD", Body: "\uFFFD"}},
				Footer:    "f\uFFFD",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseTranscript([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTranscript(%q) (-want +got):\n%s", tt.in, diff)
			}
			checkTranscriptInvariants(t, got)
		})
	}
}

func TestParseTranscriptBinaryGarbage(t *testing.T) {
	t.Parallel()
	garbage := make([]byte, 64<<10)
	seed := uint32(1)
	for i := range garbage {
		seed = seed*1664525 + 1013904223
		garbage[i] = byte(seed >> 24)
	}
	// Sprinkle separators so that PR pieces appear too.
	copy(garbage[1000:], "\n---\norigin pull/77/head\nMerge conflict for PR #77\n---\n")
	got := ParseTranscript(garbage)
	checkTranscriptInvariants(t, got)
	if diff := cmp.Diff([]int{77}, got.ConflictNumbers()); diff != "" {
		t.Errorf("ConflictNumbers (-want +got):\n%s", diff)
	}
}

// checkTranscriptInvariants holds for any input.
func checkTranscriptInvariants(t *testing.T, tr Transcript) {
	t.Helper()
	strs := []string{tr.GitStatus, tr.Footer}
	for _, pr := range tr.PRs {
		strs = append(strs, pr.Name, pr.PullLine, pr.Status, pr.Body)
		if pr.PullLine == "" || strings.Contains(pr.PullLine, "\n") || strings.Contains(pr.Status, "\n") {
			t.Errorf("bad lines in %+v", pr)
		}
		if pr.MergeConflict && pr.Skipped {
			t.Errorf("both conflict and skipped: %+v", pr)
		}
		if pr.Number < 0 || pr.Number > 1<<31-1 {
			t.Errorf("number out of range: %d", pr.Number)
		}
		if !strings.HasSuffix(pr.Body, pr.Status) && !(pr.Body == "" && pr.Status == pr.PullLine) {
			t.Errorf("status is not the body's last line: %+v", pr)
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.Contains(s, "\r") {
			t.Errorf("invalid UTF-8 or CR in %q", s)
		}
	}
	if strings.Contains(tr.GitStatus, "\n---\n") || strings.Contains(tr.Footer, "\n---\n") {
		t.Errorf("separator left inside: %+v", tr)
	}
	seen := map[int]bool{}
	for _, n := range tr.ConflictNumbers() {
		if n == 0 || seen[n] {
			t.Errorf("ConflictNumbers: %v", tr.ConflictNumbers())
		}
		seen[n] = true
	}
}

func TestConflictNumbers(t *testing.T) {
	t.Parallel()
	tr := Transcript{PRs: []TranscriptPR{
		{Number: 5, MergeConflict: true},
		{Number: 3},
		{Number: 0, MergeConflict: true},
		{Number: 2, MergeConflict: true},
		{Number: 5, MergeConflict: true},
		{Number: 9, Skipped: true},
	}}
	if diff := cmp.Diff([]int{5, 2}, tr.ConflictNumbers()); diff != "" {
		t.Errorf("ConflictNumbers (-want +got):\n%s", diff)
	}
	if got := (Transcript{}).ConflictNumbers(); len(got) != 0 {
		t.Errorf("empty transcript: %v", got)
	}
}

func TestLoadTranscript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fixture := string(readFile(t, "testdata/dev-merged-status.txt"))
	big := "status\n---\n" + strings.Repeat("origin pull/1/head\nok\n---\n", 10000) + "footer\n"

	tests := []struct {
		name       string
		path       string
		max        int64
		wantExists bool
		wantErr    bool
		check      func(t *testing.T, tr Transcript)
	}{
		{name: "missing", path: filepath.Join(dir, "nope.txt"), max: 1 << 20},
		{name: "empty", path: write("empty.txt", ""), max: 1 << 20, wantExists: true,
			check: func(t *testing.T, tr Transcript) {
				if diff := cmp.Diff(Transcript{}, tr); diff != "" {
					t.Error(diff)
				}
			}},
		{name: "fixture", path: write("fixture.txt", fixture), max: 1 << 20, wantExists: true,
			check: func(t *testing.T, tr Transcript) {
				if len(tr.PRs) != 2 || tr.Truncated || tr.Footer == "" {
					t.Errorf("%+v", tr)
				}
			}},
		{name: "exactly at the limit", path: write("exact.txt", fixture), max: int64(len(fixture)), wantExists: true,
			check: func(t *testing.T, tr Transcript) {
				if tr.Truncated || len(tr.PRs) != 2 {
					t.Errorf("%+v", tr)
				}
			}},
		{name: "larger than the limit", path: write("big.txt", big), max: 4096, wantExists: true,
			check: func(t *testing.T, tr Transcript) {
				if !tr.Truncated {
					t.Error("Truncated not set")
				}
				if tr.GitStatus != "status" || len(tr.PRs) == 0 || len(tr.PRs) > 4096/20 || tr.Footer != "" {
					t.Errorf("git status %q, %d PRs, footer %q", tr.GitStatus, len(tr.PRs), tr.Footer)
				}
				for _, pr := range tr.PRs {
					if pr.Number != 1 || pr.Status != "ok" {
						t.Errorf("a cut line was parsed: %+v", pr)
					}
				}
			}},
		{name: "no limit", path: write("big2.txt", big), max: 0, wantExists: true,
			check: func(t *testing.T, tr Transcript) {
				if tr.Truncated || len(tr.PRs) != 10000 || tr.Footer != "footer" {
					t.Errorf("truncated %v, %d PRs, footer %q", tr.Truncated, len(tr.PRs), tr.Footer)
				}
			}},
		{name: "a directory", path: dir, max: 1 << 20, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, mod, exists, err := LoadTranscript(tt.path, tt.max)
			if (err != nil) != tt.wantErr || exists != tt.wantExists {
				t.Fatalf("LoadTranscript = exists %v, err %v", exists, err)
			}
			if exists && mod.IsZero() {
				t.Error("zero modification time")
			}
			if tt.check != nil {
				tt.check(t, tr)
			}
		})
	}
}
