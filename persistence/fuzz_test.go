package persistence

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addSeedFiles(f *testing.F, patterns ...string) {
	f.Helper()
	for _, pattern := range patterns {
		paths, err := filepath.Glob(pattern)
		if err != nil || len(paths) == 0 {
			f.Fatalf("no seeds for %s", pattern)
		}
		for _, p := range paths {
			f.Add(readFile(f, p))
		}
	}
}

// FuzzParse: Parse never panics, fails only with a *CorruptError, and whatever it
// accepts is written in a form that reads back to the same bytes.
func FuzzParse(f *testing.F) {
	addSeedFiles(f, "testdata/marshal/*.json", "testdata/marshal/*.golden")
	for _, s := range []string{
		"", " ", "[]", "{}", `{"prs": [{"pr": 1, "commit": "a", "pending_active": true}]}`,
		`{"prs": [{"pr": "1"}]}`, `{"a": "\ud800\udc00\ud800"}`, `[{"pr": 1e3, "commit": 1}]`,
		"{\"prs\": [\n{\"pr\": 1, \"commit\": \"a\", \"active\": false, \"pending_active\": false}]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %T is not a *CorruptError: %v", err, err)
			}
			if ce.Line < 0 || ce.Line > bytes.Count(data, []byte{'\n'})+1 || (ce.Line > 0) != (ce.Column > 0) {
				t.Fatalf("position %d:%d out of the file", ce.Line, ce.Column)
			}
			return
		}
		first := st.Marshal()
		st2, err := Parse(first)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, first)
		}
		if second := st2.Marshal(); !bytes.Equal(first, second) {
			t.Fatalf("Marshal not stable (-first +second):\n%s", cmp.Diff(string(first), string(second)))
		}
		if diff := cmp.Diff(st, st2, ignoreUnexported); diff != "" {
			t.Fatalf("Parse(Marshal(st)) != st (-st +again):\n%s", diff)
		}
		if c := st.Clone().Marshal(); !bytes.Equal(c, first) {
			t.Fatal("Clone marshals differently")
		}
	})
}

// FuzzParseTranscript: ParseTranscript accepts anything, and its result keeps the
// invariants in checkTranscriptInvariants.
func FuzzParseTranscript(f *testing.F) {
	addSeedFiles(f, "testdata/dev-merged-status.txt")
	for _, s := range []string{
		"", "---", "---\n", "\n---", "\n---\n", "a\n---\nb", "s\r\n---\r\norigin pull/1/head # x\r\nAutomatic merge failed\r\n---\r\nf",
		"s\n---\nMerge conflict for PR #12\n---\nf", "s\n---\norigin pull/99999999999999999999/head #x\nPinned commit a unavailable\n---\n",
		"\xff\xfe\x00---\n\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := ParseTranscript(data)
		checkTranscriptInvariants(t, tr)
		if !bytes.ContainsRune(data, '\r') {
			crlf := ParseTranscript(bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")))
			if diff := cmp.Diff(tr, crlf); diff != "" {
				t.Fatalf("CRLF parses differently (-lf +crlf):\n%s", diff)
			}
		}
	})
}
