package gitmirror

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// errMalformed marks git output that does not have the documented shape.
var errMalformed = errors.New("malformed git output")

// mergeResult is what `git merge-tree --write-tree --name-only --no-messages -z`
// says about one merge.
type mergeResult struct {
	Tree  string   // the merged tree (with conflict markers when !Clean)
	Clean bool     // exit 0; false is exit 1
	Paths []string // conflicted paths, each once, in git's order; nil when clean
	// Refused is why git refused to merge at all (unrelated histories); the other
	// fields are then empty.
	Refused string
}

// parseMergeTree reads the output of `git merge-tree --write-tree --name-only
// --no-messages -z A B` whose exit code said clean (0) or conflicted (1):
//
//	<tree OID> NUL ( <path> NUL )*
//
// An empty element ends the list (the separator git writes before the messages
// section, or between merges in --stdin mode), so output with messages parses too.
// Paths are raw: -z means no quoting.
func parseMergeTree(out []byte, clean bool) (mergeResult, error) {
	tree, rest, ok := bytes.Cut(out, []byte{0})
	if !ok || !isHex(string(tree)) || (len(tree) != 40 && len(tree) != 64) {
		return mergeResult{}, fmt.Errorf("merge-tree: %w: no tree id", errMalformed)
	}
	r := mergeResult{Tree: string(tree), Clean: clean}
	for len(rest) > 0 {
		var p []byte
		p, rest, ok = bytes.Cut(rest, []byte{0})
		if !ok {
			return mergeResult{}, fmt.Errorf("merge-tree: %w: unterminated path", errMalformed)
		}
		if len(p) == 0 {
			break
		}
		r.Paths = append(r.Paths, string(p))
	}
	if clean && len(r.Paths) > 0 {
		return mergeResult{}, fmt.Errorf("merge-tree: %w: conflicted paths in a clean merge", errMalformed)
	}
	return r, nil
}

// object is one answer of `git cat-file --batch-check='%(objectname) %(objecttype)'`.
type object struct {
	ID   string // "" when missing or ambiguous
	Type string // "commit", "tree", …; or "missing" / "ambiguous"
}

// parseBatchCheck reads n answers of `git cat-file --batch-check` with the format
// "%(objectname) %(objecttype)": "<oid> <type>" per found object, "<input> missing"
// or "<input> ambiguous" otherwise (the input may hold spaces; the word is last).
func parseBatchCheck(out []byte, n int) ([]object, error) {
	text := string(out)
	if n == 0 {
		if text != "" {
			return nil, fmt.Errorf("cat-file: %w: unexpected output", errMalformed)
		}
		return nil, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("cat-file: %w: unterminated line", errMalformed)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != n {
		return nil, fmt.Errorf("cat-file: %w: %d answers for %d questions", errMalformed, len(lines), n)
	}
	objs := make([]object, n)
	for i, line := range lines {
		i2 := strings.LastIndexByte(line, ' ')
		if i2 < 0 {
			return nil, fmt.Errorf("cat-file: %w: line %d", errMalformed, i+1)
		}
		word := line[i2+1:]
		switch word {
		case "missing", "ambiguous":
			objs[i] = object{Type: word}
			continue
		}
		id := line[:i2]
		if !isHex(id) || (len(id) != 40 && len(id) != 64) || word == "" {
			return nil, fmt.Errorf("cat-file: %w: line %d", errMalformed, i+1)
		}
		objs[i] = object{ID: id, Type: word}
	}
	return objs, nil
}

// parseRefs reads `git for-each-ref --format='%(objectname) %(refname)'`.
func parseRefs(out []byte) (map[string]string, error) {
	refs := make(map[string]string)
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		id, name, ok := strings.Cut(line, " ")
		if !ok || !isHex(id) || name == "" {
			return nil, fmt.Errorf("for-each-ref: %w: %q", errMalformed, line)
		}
		refs[name] = id
	}
	return refs, nil
}

// isHex reports whether s is non-empty lower-case hex.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseMergeTreeBatch reads the output of `git merge-tree --stdin --name-only
// --no-messages -z` for n merges. Each is
//
//	<status> NUL <tree OID> NUL ( <path> NUL )* NUL
//
// where status 1 is clean and 0 conflicted (the opposite of the exit code of a
// single merge).
func parseMergeTreeBatch(out []byte, n int) ([]mergeResult, error) {
	rs := make([]mergeResult, 0, max(0, min(n, len(out)/4)))
	for len(out) > 0 {
		status, rest, ok := bytes.Cut(out, []byte{0})
		if !ok || (string(status) != "0" && string(status) != "1") {
			return nil, fmt.Errorf("merge-tree --stdin: %w: merge %d: bad status", errMalformed, len(rs)+1)
		}
		// The record ends at the first empty element after the tree.
		tree, after, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return nil, fmt.Errorf("merge-tree --stdin: %w: merge %d: no tree id", errMalformed, len(rs)+1)
		}
		end := bytes.Index(after, []byte{0, 0})
		var paths []byte
		switch {
		case len(after) > 0 && after[0] == 0:
			paths, out = nil, after[1:]
		case end >= 0:
			paths, out = after[:end+1], after[end+2:]
		default:
			return nil, fmt.Errorf("merge-tree --stdin: %w: merge %d: unterminated", errMalformed, len(rs)+1)
		}
		r, err := parseMergeTree(append(append(tree[:len(tree):len(tree)], 0), paths...), string(status) == "1")
		if err != nil {
			return nil, fmt.Errorf("merge-tree --stdin: merge %d: %w", len(rs)+1, err)
		}
		rs = append(rs, r)
	}
	if len(rs) != n {
		return nil, fmt.Errorf("merge-tree --stdin: %w: %d merges for %d asked", errMalformed, len(rs), n)
	}
	return rs, nil
}
