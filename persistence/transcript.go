package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Transcript is the parsed build transcript _dev-merged_status.txt that the deploy
// writes: the git status, one entry per PR it tried to merge, and a footer.
type Transcript struct {
	GitStatus string
	PRs       []TranscriptPR
	Footer    string
	// Truncated is set when the file was larger than the limit LoadTranscript was
	// given and only its beginning was parsed.
	Truncated bool
}

// TranscriptPR is one PR's piece of the transcript.
type TranscriptPR struct {
	Number   int    // 0 when neither the pull line nor the status names one
	Name     string // the pull line's text after " # "
	PullLine string // the piece's first line, e.g. "origin pull/13208/head  # pinned at 1d23…"
	Status   string // the piece's last line
	Body     string // every line after the pull line, the status included
	// MergeConflict: the PR failed to merge, so it is not on the box.
	MergeConflict bool
	// Skipped: its pinned commit was unavailable, so the deploy skipped it.
	Skipped bool
}

const transcriptSeparator = "\n---\n"

// ParseTranscript parses a build transcript (LEGACY.md §2). It accepts anything:
// it never fails and never panics. Invalid UTF-8 becomes U+FFFD.
func ParseTranscript(data []byte) Transcript {
	text := strings.ToValidUTF8(string(data), "\uFFFD")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	// Legacy bugs fixed here: a file that starts with "---" has an empty git status
	// (legacy took the first PR for it), and a "---" on the last line is a separator.
	if text == "---" || strings.HasPrefix(text, "---\n") {
		text = "\n" + text
	}
	if strings.HasSuffix(text, "\n---") {
		text += "\n"
	}

	pieces := strings.Split(text, transcriptSeparator)
	var t Transcript
	t.GitStatus = trimBlankLines(pieces[0])
	if len(pieces) == 1 {
		return t
	}
	t.Footer = trimBlankLines(pieces[len(pieces)-1])
	for _, piece := range pieces[1 : len(pieces)-1] {
		if pr, ok := parseTranscriptPR(piece); ok {
			t.PRs = append(t.PRs, pr)
		}
	}
	return t
}

func parseTranscriptPR(piece string) (TranscriptPR, bool) {
	piece = strings.TrimSpace(piece)
	if piece == "" {
		return TranscriptPR{}, false
	}
	lines := strings.Split(piece, "\n")
	var pr TranscriptPR
	pr.PullLine = strings.TrimSpace(lines[0])
	// With a single line that line is also the status, as in legacy: a lone
	// "Merge conflict for PR #N" line still marks N.
	pr.Status = strings.TrimSpace(lines[len(lines)-1])
	pr.Body = strings.Join(lines[1:], "\n")

	pr.Number = pullNumber(pr.PullLine)
	if _, name, ok := strings.Cut(pr.PullLine, " # "); ok {
		pr.Name = strings.TrimSpace(name)
	}
	switch {
	case strings.HasPrefix(pr.Status, "Pinned commit ") && strings.Contains(pr.Status, "unavailable"):
		pr.Skipped = true
	case strings.HasPrefix(pr.Status, "Automatic merge failed"),
		strings.HasPrefix(pr.Status, conflictPrefix):
		pr.MergeConflict = true
	}
	if pr.Number == 0 {
		if _, rest, ok := strings.Cut(pr.Status, conflictPrefix); ok {
			pr.Number = leadingNumber(rest)
		}
	}
	return pr, true
}

const conflictPrefix = "Merge conflict for PR #"

// pullNumber reads N from a line matching ^origin pull/(\d+); 0 when there is none.
func pullNumber(line string) int {
	rest, ok := strings.CutPrefix(line, "origin pull/")
	if !ok {
		return 0
	}
	return leadingNumber(rest)
}

// leadingNumber parses the ASCII digits at the start of s; 0 when there are none or
// they do not fit an int32 (the service's wire type for PR numbers).
func leadingNumber(s string) int {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil || n <= 0 {
		return 0
	}
	return int(n)
}

// trimBlankLines drops the blank lines before and the white space after the text,
// keeping the first line's indentation (git status lines start with spaces).
func trimBlankLines(s string) string {
	s = strings.TrimRight(s, " \t\n\v\f")
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok || strings.TrimSpace(line) != "" {
			return s
		}
		s = rest
	}
}

// ConflictNumbers returns the numbers of the PRs that failed to merge, in transcript
// order, each once.
func (t Transcript) ConflictNumbers() []int {
	var out []int
	for _, pr := range t.PRs {
		if pr.MergeConflict && pr.Number != 0 && !containsInt(out, pr.Number) {
			out = append(out, pr.Number)
		}
	}
	return out
}

func containsInt(s []int, n int) bool {
	for _, v := range s {
		if v == n {
			return true
		}
	}
	return false
}

// LoadTranscript reads and parses the transcript at path, at most maxBytes of it
// (<= 0: no limit). A missing file is no error: exists is false (no build yet).
// A file cut at the limit is parsed up to its last complete line, without its last
// (incomplete) piece, and Truncated is set.
func LoadTranscript(path string, maxBytes int64) (t Transcript, modTime time.Time, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Transcript{}, time.Time{}, false, nil
	}
	if err != nil {
		return Transcript{}, time.Time{}, false, fmt.Errorf("read build transcript: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Transcript{}, time.Time{}, false, fmt.Errorf("read build transcript: %w", err)
	}
	var r io.Reader = f
	if maxBytes > 0 {
		r = io.LimitReader(f, maxBytes+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return Transcript{}, time.Time{}, false, fmt.Errorf("read build transcript: %w", err)
	}
	truncated := maxBytes > 0 && int64(len(data)) > maxBytes
	if truncated {
		data = data[:maxBytes]
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i+1]
		}
	}
	t = ParseTranscript(data)
	if truncated {
		// The footer is past the cut: what ParseTranscript took for it is the
		// beginning of a PR piece whose status is missing, so it is dropped.
		t.Footer = ""
		t.Truncated = true
	}
	return t, fi.ModTime(), true, nil
}
