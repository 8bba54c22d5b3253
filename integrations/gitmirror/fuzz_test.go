package gitmirror

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const tree1 = "6d0dfd498aca9c36c67dd966afeab1757a5c308b"

func TestParseMergeTree(t *testing.T) {
	cases := []struct {
		name  string
		out   string
		clean bool
		want  mergeResult
		bad   bool
	}{
		{"clean", tree1 + "\x00", true, mergeResult{Tree: tree1, Clean: true}, false},
		{"conflict", tree1 + "\x00a.txt\x00dir/b c.txt\x00", false, mergeResult{Tree: tree1, Paths: []string{"a.txt", "dir/b c.txt"}}, false},
		// A newline or quote in a name is not quoted with -z.
		{"odd names", tree1 + "\x00a\nb\x00\"q\"\x00", false, mergeResult{Tree: tree1, Paths: []string{"a\nb", `"q"`}}, false},
		// With messages (or in --stdin mode) an empty element ends the paths.
		{"with messages", tree1 + "\x00f\x00\x001\x00f\x00Auto-merging\x00Auto-merging f\n\x00", false, mergeResult{Tree: tree1, Paths: []string{"f"}}, false},
		{"sha256", strings.Repeat("a", 64) + "\x00", true, mergeResult{Tree: strings.Repeat("a", 64), Clean: true}, false},
		{"empty", "", true, mergeResult{}, true},
		{"no NUL", tree1, true, mergeResult{}, true},
		{"short tree", "abc\x00", true, mergeResult{}, true},
		{"upper-case tree", strings.ToUpper(tree1) + "\x00", true, mergeResult{}, true},
		{"unterminated path", tree1 + "\x00a.txt", false, mergeResult{}, true},
		{"paths in a clean merge", tree1 + "\x00a.txt\x00", true, mergeResult{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseMergeTree([]byte(c.out), c.clean)
			if (err != nil) != c.bad {
				t.Fatalf("err = %v", err)
			}
			if !c.bad && (got.Tree != c.want.Tree || got.Clean != c.want.Clean || !slices.Equal(got.Paths, c.want.Paths)) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseBatchCheck(t *testing.T) {
	out := tree1 + " commit\n" + tree1 + " tree\nabcd^{commit} missing\nab cd ambiguous\n"
	got, err := parseBatchCheck([]byte(out), 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []object{{tree1, "commit"}, {tree1, "tree"}, {"", "missing"}, {"", "ambiguous"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"", "x\n", tree1 + " commit", tree1 + " commit\n", "zz commit\n" + tree1 + " tree\n"} {
		if _, err := parseBatchCheck([]byte(bad), 2); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzParseMergeTree: any output parses or is refused without panicking, and what
// parses is well formed and round-trips.
func FuzzParseMergeTree(f *testing.F) {
	f.Add([]byte(tree1+"\x00"), true)
	f.Add([]byte(tree1+"\x00f\x00"), false)
	f.Add([]byte(tree1+"\x00f\x00\x001\x00f\x00Auto-merging\x00Auto-merging f\n\x00"), false)
	f.Add([]byte("\x00\x00"), false)
	f.Fuzz(func(t *testing.T, out []byte, clean bool) {
		r, err := parseMergeTree(out, clean)
		if err != nil {
			return
		}
		if !isHex(r.Tree) || (len(r.Tree) != 40 && len(r.Tree) != 64) || r.Clean != clean || (clean && len(r.Paths) > 0) {
			t.Fatalf("malformed result %+v", r)
		}
		var enc bytes.Buffer
		enc.WriteString(r.Tree + "\x00")
		for _, p := range r.Paths {
			if p == "" || strings.Contains(p, "\x00") {
				t.Fatalf("path %q", p)
			}
			enc.WriteString(p + "\x00")
		}
		again, err := parseMergeTree(enc.Bytes(), clean)
		if err != nil || again.Tree != r.Tree || !slices.Equal(again.Paths, r.Paths) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}

func FuzzParseBatchCheck(f *testing.F) {
	f.Add([]byte(tree1+" commit\n"+tree1+" tree\n"), 2)
	f.Add([]byte("abcd^{commit} missing\n"), 1)
	f.Add([]byte(""), 0)
	f.Fuzz(func(t *testing.T, out []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		objs, err := parseBatchCheck(out, n)
		if err != nil {
			return
		}
		if len(objs) != n {
			t.Fatalf("%d objects for %d", len(objs), n)
		}
		for _, o := range objs {
			if (o.ID == "") != (o.Type == "missing" || o.Type == "ambiguous") {
				t.Fatalf("object %+v", o)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add("git version 2.39.5")
	f.Add("git version 2.45.1.windows.1")
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseVersion(s)
		if !ok && v != (Version{}) {
			t.Fatalf("%v without ok", v)
		}
	})
}

func FuzzParseRefs(f *testing.F) {
	f.Add([]byte(tree1 + " refs/testingd/pull/1\n" + tree1 + " refs/testingd/base/master\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		refs, err := parseRefs(out)
		if err != nil {
			return
		}
		for name, id := range refs {
			if name == "" || !isHex(id) {
				t.Fatalf("%q → %q", name, id)
			}
		}
	})
}

func TestParseMergeTreeBatch(t *testing.T) {
	out := "0\x00" + tree1 + "\x00f\x00g h\x00\x001\x00" + tree1 + "\x00\x00"
	got, err := parseMergeTreeBatch([]byte(out), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Clean || !slices.Equal(got[0].Paths, []string{"f", "g h"}) || !got[1].Clean || got[1].Paths != nil || got[1].Tree != tree1 {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{
		"", "2\x00" + tree1 + "\x00\x00", "1\x00" + tree1 + "\x00", "0\x00" + tree1 + "\x00f\x00",
		"1\x00" + tree1 + "\x00\x00" + "1\x00" + tree1 + "\x00\x00" + "1\x00" + tree1 + "\x00\x00",
		"1\x00" + tree1 + "\x00f\x00\x00" + "1\x00" + tree1 + "\x00\x00",
	} {
		if _, err := parseMergeTreeBatch([]byte(bad), 2); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseMergeTreeBatch(f *testing.F) {
	f.Add([]byte("0\x00"+tree1+"\x00f\x00\x001\x00"+tree1+"\x00\x00"), 2)
	f.Add([]byte("1\x00"+tree1+"\x00\x00"), 1)
	f.Fuzz(func(t *testing.T, out []byte, n int) {
		rs, err := parseMergeTreeBatch(out, n)
		if err != nil {
			return
		}
		if len(rs) != n {
			t.Fatalf("%d results for %d", len(rs), n)
		}
		var enc bytes.Buffer
		for _, r := range rs {
			if r.Clean {
				enc.WriteString("1\x00")
			} else {
				enc.WriteString("0\x00")
			}
			enc.WriteString(r.Tree + "\x00")
			for _, p := range r.Paths {
				enc.WriteString(p + "\x00")
			}
			enc.WriteString("\x00")
		}
		if !bytes.Equal(enc.Bytes(), out) {
			t.Fatalf("round trip: %q → %q", out, enc.Bytes())
		}
	})
}
