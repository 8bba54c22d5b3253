package openlibrary

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestReadFeatureFlagsGolden reads a realistic openlibrary.yml and compares the
// table with testdata/openlibrary.features.golden (go test -update rewrites it).
func TestReadFeatureFlagsGolden(t *testing.T) {
	t.Parallel()
	flags, err := ReadFeatureFlags(filepath.Join("testdata", "openlibrary.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range flags {
		fmt.Fprintf(&b, "%s\t%s\n", f.Name, f.Value)
	}
	golden := filepath.Join("testdata", "openlibrary.features.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Fatalf("feature table differs from %s (-want +got):\n%s", golden, diff)
	}
}

func TestParseFeatureFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []FeatureFlag
	}{
		{"empty file", "", []FeatureFlag{}},
		{"only a comment", "# nothing\n", []FeatureFlag{}},
		{"no features key", "site: openlibrary.org\n", []FeatureFlag{}},
		{"features left empty", "features:\n", []FeatureFlag{}},
		{"features null", "features: ~\n", []FeatureFlag{}},
		{"features empty mapping", "features: {}\n", []FeatureFlag{}},
		{"top-level null", "~\n", []FeatureFlag{}},
		{
			"sorted by name, byte order like Python",
			"features:\n  b: enabled\n  a: admin\n  B: enabled\n  _x: enabled\n",
			[]FeatureFlag{{"B", "enabled"}, {"_x", "enabled"}, {"a", "admin"}, {"b", "enabled"}},
		},
		{
			"usergroup map shows the group's key",
			"features:\n  f:\n    filter: usergroup\n    usergroup: /usergroup/beta-testers\n",
			[]FeatureFlag{{"f", "usergroup: /usergroup/beta-testers"}},
		},
		{"flow map", "features: {f: {filter: usergroup, usergroup: /usergroup/x}}\n", []FeatureFlag{{"f", "usergroup: /usergroup/x"}}},
		{"map without usergroup", "features:\n  f: {filter: loggedin}\n", []FeatureFlag{{"f", "usergroup: ?"}}},
		{"empty map", "features:\n  f: {}\n", []FeatureFlag{{"f", "usergroup: ?"}}},
		{"null usergroup", "features:\n  f: {usergroup: ~}\n", []FeatureFlag{{"f", "usergroup: ?"}}},
		{"list usergroup", "features:\n  f: {usergroup: [a]}\n", []FeatureFlag{{"f", "usergroup: ?"}}},
		{"numeric usergroup", "features:\n  f: {usergroup: 12}\n", []FeatureFlag{{"f", "usergroup: 12"}}},
		{
			"scalars keep their YAML text",
			"features:\n  t: true\n  T: True\n  y: yes\n  n: 0x10\n  f: 1.50\n  s: 'quoted text'\n",
			[]FeatureFlag{{"T", "True"}, {"f", "1.50"}, {"n", "0x10"}, {"s", "quoted text"}, {"t", "true"}, {"y", "yes"}},
		},
		{"null values are empty", "features:\n  a:\n  b: ~\n  c: null\n", []FeatureFlag{{"a", ""}, {"b", ""}, {"c", ""}}},
		{"quoted null is text", "features:\n  a: 'null'\n", []FeatureFlag{{"a", "null"}}},
		{"list value", "features:\n  l: [enabled, {a: b}, ~]\n", []FeatureFlag{{"l", "[enabled, {a: b}, null]"}}},
		{"duplicate flag: last wins", "features:\n  a: enabled\n  a: admin\n", []FeatureFlag{{"a", "admin"}}},
		{"duplicate features: last wins", "features: {a: enabled}\nfeatures: {b: admin}\n", []FeatureFlag{{"b", "admin"}}},
		{"other keys ignored", "stats: {x: 1}\nfeatures: {a: enabled}\nlists: [1]\n", []FeatureFlag{{"a", "enabled"}}},
		{
			"alias to a map",
			"g: &g {filter: usergroup, usergroup: /usergroup/g}\nfeatures:\n  a: *g\n",
			[]FeatureFlag{{"a", "usergroup: /usergroup/g"}},
		},
		{"alias to a scalar", "v: &v admin\nfeatures:\n  a: *v\n", []FeatureFlag{{"a", "admin"}}},
		{"features is an alias", "base: &f {a: enabled}\nfeatures: *f\n", []FeatureFlag{{"a", "enabled"}}},
		{
			"merge key: own keys override merged ones",
			"g: &g {filter: usergroup, usergroup: /usergroup/g}\nfeatures:\n  a:\n    <<: *g\n    usergroup: /usergroup/own\n  b:\n    usergroup: /usergroup/own\n    <<: *g\n",
			[]FeatureFlag{{"a", "usergroup: /usergroup/own"}, {"b", "usergroup: /usergroup/own"}},
		},
		{
			"merge list: earlier mappings win",
			"x: &x {usergroup: /usergroup/x}\ny: &y {usergroup: /usergroup/y}\nfeatures:\n  a: {<<: [*x, *y]}\n",
			[]FeatureFlag{{"a", "usergroup: /usergroup/x"}},
		},
		{
			"merge into features",
			"common: &c {a: enabled, b: enabled}\nfeatures:\n  <<: *c\n  b: admin\n",
			[]FeatureFlag{{"a", "enabled"}, {"b", "admin"}},
		},
		{"quoted << is a plain key", "features:\n  '<<': enabled\n", []FeatureFlag{{"<<", "enabled"}}},
		{"non-string keys use their text", "features:\n  1: enabled\n  true: admin\n", []FeatureFlag{{"1", "enabled"}, {"true", "admin"}}},
		{"CRLF line ends", "features:\r\n  a: enabled\r\n", []FeatureFlag{{"a", "enabled"}}},
		{"explicit document markers", "---\nfeatures: {a: enabled}\n...\n", []FeatureFlag{{"a", "enabled"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFeatureFlags([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("ParseFeatureFlags: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFeatureFlagsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		yaml    string
		wantMsg string // a substring the user needs to see
	}{
		{"invalid YAML", "site: x\nfeatures:\n  a: [unclosed\n  b: c\n", "line "},
		{"tab indentation", "features:\n\ta: enabled\n", "line 2"},
		{"features is a list", "site: x\nfeatures:\n  - enabled\n", "line 3: features is a list"},
		{"features is a scalar", "features: enabled\n", "features is the scalar \"enabled\""},
		{"config is a list", "- a\n- b\n", "the config is a list"},
		{"config is a scalar", "just text\n", "not a mapping"},
		{"two documents", "features: {a: enabled}\n---\nfeatures: {b: enabled}\n", "second YAML document"},
		{"map as a key", "features:\n  ? {a: b}\n  : enabled\n", "keys must be plain names"},
		{"list as a key", "features:\n  ? [a]\n  : enabled\n", "keys must be plain names"},
		{"merge of a scalar", "features:\n  <<: enabled\n", "merge key"},
		{"merge of a list of scalars", "features:\n  <<: [a]\n", "merge key"},
		{"unknown alias", "features:\n  a: *nowhere\n", "unknown anchor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFeatureFlags([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseFeatureFlags = %v, want an error", got)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}

// TestParseFeatureFlagsAliasBomb: aliases let a few lines describe an
// exponentially large mapping; parsing must stay fast and bounded.
func TestParseFeatureFlagsAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a0: &a0 {k0: v}\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	b.WriteString("features:\n  <<: *a29\n  list: &l0 [x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [*l%d, *l%d, *l%d, *l%d]\n", i, i, i-1, i-1, i-1, i-1)
	}
	start := time.Now()
	_, err := ParseFeatureFlags([]byte(b.String()))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %v", elapsed)
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig for an exploding merge", err)
	}

	// Without the merge bomb, the exploding list renders, cut short.
	doc := strings.Replace(b.String(), "  <<: *a29\n", "", 1)
	flags, err := ParseFeatureFlags([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flags {
		if len(f.Value) > maxValueLen+len("…") {
			t.Fatalf("%s rendered as %d bytes", f.Name, len(f.Value))
		}
	}
}

func TestReadFeatureFlagsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.yml")
	if _, err := ReadFeatureFlags(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist naming the path", err)
	}

	if _, err := ReadFeatureFlags(dir); err == nil {
		t.Errorf("a directory: no error")
	}

	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("features:\n  a: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFeatureFlags(bad)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line") {
		t.Errorf("invalid YAML: err = %v, want ErrInvalidConfig naming the path and line", err)
	}
}

func FuzzParseFeatureFlags(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "openlibrary.yml")); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "features:\n", "features: {a: enabled}\n", "features: [a]\n",
		"g: &g {usergroup: /usergroup/x}\nfeatures: {a: *g, b: {<<: *g}}\n",
		"features:\n  <<: [*x]\n", "a: &a [*a]\n", "features: {? [a] : b}\n",
		"---\n---\n", "features: !!binary aGVsbG8=\n", "features: {a: !!str 1, b: !custom x}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flags, err := ParseFeatureFlags(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if flags == nil {
			t.Fatal("nil flags without an error")
		}
		if !slices.IsSortedFunc(flags, func(a, b FeatureFlag) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("not sorted: %v", flags)
		}
		for i := 1; i < len(flags); i++ {
			if flags[i].Name == flags[i-1].Name {
				t.Fatalf("duplicate flag %q", flags[i].Name)
			}
		}
	})
}
