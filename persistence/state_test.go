package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

//go:generate python3 testdata/golden.py

func ptr[T any](v T) *T { return &v }

func mustParse(t testing.TB, data string) *State {
	t.Helper()
	st, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return st
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ignoreUnexported = cmpopts.IgnoreUnexported(State{}, PR{})

// TestMarshalPythonGolden checks Marshal against Python's own json.dumps(indent=2)
// output (testdata/golden.py), and the round-trip law on what Python wrote.
func TestMarshalPythonGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob("testdata/marshal/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			t.Parallel()
			golden := readFile(t, in+".golden")
			st, err := Parse(readFile(t, in))
			if err != nil {
				t.Fatalf("Parse(input): %v", err)
			}
			if got := st.Marshal(); !bytes.Equal(got, golden) {
				t.Errorf("Marshal(Parse(input)) differs from python (-python +go):\n%s", cmp.Diff(string(golden), string(got)))
			}
			// Round-trip law: Python's own output comes back byte for byte.
			st2, err := Parse(golden)
			if err != nil {
				t.Fatalf("Parse(golden): %v", err)
			}
			if got := st2.Marshal(); !bytes.Equal(got, golden) {
				t.Errorf("golden does not round-trip (-python +go):\n%s", cmp.Diff(string(golden), string(got)))
			}
			if diff := cmp.Diff(st, st2, ignoreUnexported); diff != "" {
				t.Errorf("input and golden parse differently (-input +golden):\n%s", diff)
			}
		})
	}
}

func TestNewState(t *testing.T) {
	t.Parallel()
	want := "{\n  \"last_deploy_at\": \"\",\n  \"prs\": []\n}"
	for name, st := range map[string]*State{"NewState": NewState(), "zero State": {}} {
		if got := string(st.Marshal()); got != want {
			t.Errorf("%s: Marshal = %q, want %q", name, got, want)
		}
	}
}

func TestParseFixture(t *testing.T) {
	t.Parallel()
	st, err := Parse(readFile(t, "testdata/marshal/testing-prs.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &State{
		LastDeployAt: "2026-08-05T18:00:00+00:00",
		PRs: []PR{
			{
				Number: 13238, Commit: "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5", Active: true,
				Title: "Fix search facets fallback", AddedAt: "2026-08-01T10:00:00+00:00", AddedBy: "openlibrary",
				PullLatestSHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
				Author:        "mekarpeles", AuthorAvatar: "https://avatars.githubusercontent.com/u/978325?v=4",
			},
			{
				Number: 13240, Commit: "5a0c7e1f2d3b4a5968778695a4b3c2d1e0f9a8b7", Active: true,
				Title: "Unified icon system", AddedAt: "2026-08-01T10:00:00.123456+00:00", AddedBy: "cdrini",
				PendingActive: ptr(false), Author: "cdrini", Assignee: "RayBB",
			},
			{
				Number: 13269, Commit: "1d23364b8c652d6107e2dc685f918551fda5d327", Active: true,
				Title: "Test PR", AddedAt: "2026-08-06T15:00:00+00:00", AddedBy: "openlibrary",
				Author: "author", Assignee: "assignee",
			},
		},
		DeployStartedAt: "2026-08-05T18:00:00+00:00",
		Deployed: []DeployedEntry{
			{"13238", "Fix search facets fallback"},
			{"13240", "Unified icon system"},
			{"13111", "Old PR since removed"},
		},
	}
	if diff := cmp.Diff(want, st, ignoreUnexported); diff != "" {
		t.Errorf("Parse(fixture) (-want +got):\n%s", diff)
	}
	if !st.HasDeployedRecord() {
		t.Error("HasDeployedRecord = false")
	}
	if title, ok := st.DeployedTitle(13111); !ok || title != "Old PR since removed" {
		t.Errorf("DeployedTitle(13111) = %q, %v", title, ok)
	}
	if _, ok := st.DeployedTitle(13269); ok {
		t.Error("DeployedTitle(13269) found")
	}
	if i, ok := st.Find(13240); !ok || i != 1 {
		t.Errorf("Find(13240) = %d, %v", i, ok)
	}
	if i, ok := st.Find(1); ok || i != -1 {
		t.Errorf("Find(1) = %d, %v", i, ok)
	}
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		want      *State
		fromArray bool
		record    bool
	}{
		{
			name:      "bare array",
			in:        `[{"pr": 13269, "commit": "1d23364b8c652d6107e2dc685f918551fda5d327", "active": true, "title": "Test PR"}]`,
			want:      &State{PRs: []PR{{Number: 13269, Commit: "1d23364b8c652d6107e2dc685f918551fda5d327", Active: true, Title: "Test PR"}}},
			fromArray: true,
		},
		{name: "empty bare array", in: `[]`, want: &State{PRs: []PR{}}, fromArray: true},
		{
			name: "defaults for missing PR keys",
			in:   `{"prs": [{"pr": 7, "commit": "abc1234"}]}`,
			want: &State{PRs: []PR{{Number: 7, Commit: "abc1234", Active: true}}},
		},
		{name: "empty object", in: `{}`, want: &State{}},
		{
			name:   "deployed record",
			in:     `{"prs": [], "deployed": {"5": "five", "4": "four"}}`,
			want:   &State{PRs: []PR{}, Deployed: []DeployedEntry{{"5", "five"}, {"4", "four"}}},
			record: true,
		},
		{
			name: "empty deployed map is no record",
			in:   `{"prs": [], "deployed": {}}`,
			want: &State{PRs: []PR{}, Deployed: []DeployedEntry{}},
		},
		{
			name: "duplicate PR numbers are kept",
			in:   `{"prs": [{"pr": 1, "commit": "a"}, {"pr": 1, "commit": "b"}]}`,
			want: &State{PRs: []PR{{Number: 1, Commit: "a", Active: true}, {Number: 1, Commit: "b", Active: true}}},
		},
		{
			name: "negative zero and int32 bounds",
			in:   `{"prs": [{"pr": -0, "commit": "a"}, {"pr": 2147483647, "commit": "b"}, {"pr": -2147483648, "commit": "c"}]}`,
			want: &State{PRs: []PR{{Number: 0, Commit: "a", Active: true}, {Number: 2147483647, Commit: "b", Active: true}, {Number: -2147483648, Commit: "c", Active: true}}},
		},
		{
			name: "short commit",
			in:   `{"prs": [{"pr": 1, "commit": "1d23364"}]}`,
			want: &State{PRs: []PR{{Number: 1, Commit: "1d23364", Active: true}}},
		},
		{
			name: "escapes decode, lone surrogates become U+FFFD",
			in:   `{"prs": [{"pr": 1, "commit": "a", "title": "\u00e9\ud83d\ude00\ud800x\udc00\/\"\\"}]}`,
			want: &State{PRs: []PR{{Number: 1, Commit: "a", Active: true, Title: "é😀\uFFFDx\uFFFD/\"\\"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := mustParse(t, tt.in)
			if diff := cmp.Diff(tt.want, st, ignoreUnexported); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if st.fromArray != tt.fromArray {
				t.Errorf("fromArray = %v, want %v", st.fromArray, tt.fromArray)
			}
			if st.HasDeployedRecord() != tt.record {
				t.Errorf("HasDeployedRecord = %v, want %v", st.HasDeployedRecord(), tt.record)
			}
			// Whatever was read, what is written reads back the same.
			again := mustParse(t, string(st.Marshal()))
			if diff := cmp.Diff(st, again, ignoreUnexported); diff != "" {
				t.Errorf("Parse(Marshal) (-first +again):\n%s", diff)
			}
		})
	}
}

func TestPendingActiveNormalisation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fields      string // the PR's keys after pr and commit
		wantActive  bool
		wantPending *bool
		wantJSON    string // how pending_active is written
	}{
		{"true while active is null", `"active": true, "pending_active": true`, true, nil, `"pending_active": null`},
		{"false while inactive is null", `"active": false, "pending_active": false`, false, nil, `"pending_active": null`},
		{"disable staged", `"active": true, "pending_active": false`, true, ptr(false), `"pending_active": false`},
		{"enable staged", `"active": false, "pending_active": true`, false, ptr(true), `"pending_active": true`},
		{"true with active missing is null", `"pending_active": true`, true, nil, `"pending_active": null`},
		{"false with active missing is staged", `"pending_active": false`, true, ptr(false), `"pending_active": false`},
		{"null", `"active": true, "pending_active": null`, true, nil, `"pending_active": null`},
		{"active after pending", `"pending_active": true, "active": true`, true, nil, `"pending_active": null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := mustParse(t, `{"prs": [{"pr": 1, "commit": "a", `+tt.fields+`}]}`)
			pr := st.PRs[0]
			if pr.Active != tt.wantActive || !cmp.Equal(pr.PendingActive, tt.wantPending) {
				t.Errorf("active, pending = %v, %v; want %v, %v", pr.Active, fmtPtr(pr.PendingActive), tt.wantActive, fmtPtr(tt.wantPending))
			}
			if out := string(st.Marshal()); !strings.Contains(out, tt.wantJSON) {
				t.Errorf("Marshal does not contain %s:\n%s", tt.wantJSON, out)
			}
		})
	}

	t.Run("set by code to the active value is written as null", func(t *testing.T) {
		t.Parallel()
		for _, active := range []bool{true, false} {
			pr := NewPR(1, "a")
			pr.Active = active
			pr.PendingActive = ptr(active)
			st := &State{PRs: []PR{pr}}
			if out := string(st.Marshal()); !strings.Contains(out, `"pending_active": null`) {
				t.Errorf("active=%v: Marshal:\n%s", active, out)
			}
			if got := mustParse(t, string(st.Marshal())).PRs[0].PendingActive; got != nil {
				t.Errorf("active=%v: reads back as %v", active, *got)
			}
		}
	})

	t.Run("absent key is not added for a no-op value", func(t *testing.T) {
		t.Parallel()
		st := mustParse(t, `{"prs": [{"pr": 1, "commit": "a"}]}`)
		st.PRs[0].PendingActive = ptr(true) // equal to the default active
		if out := string(st.Marshal()); strings.Contains(out, "pending_active") {
			t.Errorf("pending_active written:\n%s", out)
		}
	})
}

func fmtPtr(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}

func TestMarshalKeyOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string // "" = code-made state
		change func(st *State)
		want   string
	}{
		{
			name: "code-made PR writes every key in canonical order",
			change: func(st *State) {
				pr := NewPR(42, "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5")
				pr.Title = "T"
				st.PRs = append(st.PRs, pr)
			},
			want: `{
  "last_deploy_at": "",
  "prs": [
    {
      "pr": 42,
      "commit": "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5",
      "active": true,
      "title": "T",
      "added_at": "",
      "added_by": "",
      "pull_latest_sha": "",
      "pending_active": null,
      "author": "",
      "author_avatar": "",
      "assignee": "",
      "assignee_avatar": ""
    }
  ]
}`,
		},
		{
			name: "code-made state adds top-level keys once set",
			change: func(st *State) {
				st.DeployStartedAt = "2026-08-05T18:00:00+00:00"
				st.Deployed = []DeployedEntry{{"1", "one"}, {"2", "two"}, {"1", "uno"}}
			},
			want: `{
  "last_deploy_at": "",
  "prs": [],
  "deploy_started_at": "2026-08-05T18:00:00+00:00",
  "deployed": {
    "1": "uno",
    "2": "two"
  }
}`,
		},
		{
			name: "read order kept, absent keys appended in canonical order only when not default",
			in:   `{"zz": 1, "prs": [{"title": "x", "commit": "c", "mine": [1], "pr": 9}], "last_deploy_at": ""}`,
			change: func(st *State) {
				p := &st.PRs[0]
				p.Title = "y"
				p.Assignee = "someone"
				p.Active = false
				p.PendingActive = ptr(true)
				st.Deployed = []DeployedEntry{{"9", "y"}}
			},
			want: `{
  "zz": 1,
  "prs": [
    {
      "title": "y",
      "commit": "c",
      "mine": [
        1
      ],
      "pr": 9,
      "active": false,
      "pending_active": true,
      "assignee": "someone"
    }
  ],
  "last_deploy_at": "",
  "deployed": {
    "9": "y"
  }
}`,
		},
		{
			name: "present keys are written even when set back to the default",
			in:   `{"prs": [{"pr": 1, "commit": "c", "title": "x", "active": false}], "deployed": {"1": "x"}, "deploy_started_at": "t"}`,
			change: func(st *State) {
				st.PRs[0].Title = ""
				st.PRs[0].Active = true
				st.Deployed = nil
				st.DeployStartedAt = ""
			},
			want: `{
  "prs": [
    {
      "pr": 1,
      "commit": "c",
      "title": "",
      "active": true
    }
  ],
  "deployed": {},
  "deploy_started_at": ""
}`,
		},
		{
			name: "bare array is written in the object form",
			in:   `[{"pr": 1, "commit": "c"}]`,
			change: func(st *State) {
				st.LastDeployAt = "2026-08-05T18:00:00+00:00"
			},
			want: `{
  "last_deploy_at": "2026-08-05T18:00:00+00:00",
  "prs": [
    {
      "pr": 1,
      "commit": "c"
    }
  ]
}`,
		},
		{
			name:   "numbers of unknown keys keep their literal text",
			in:     `{"n": [1E5, -0, 1.50, 0.1e-2, 12345678901234567890123]}`,
			change: func(*State) {},
			want: `{
  "n": [
    1E5,
    -0,
    1.50,
    0.1e-2,
    12345678901234567890123
  ]
}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := NewState()
			if tt.in != "" {
				st = mustParse(t, tt.in)
			}
			tt.change(st)
			got := string(st.Marshal())
			if got != tt.want {
				t.Errorf("Marshal (-want +got):\n%s", cmp.Diff(tt.want, got))
			}
			if again := string(mustParse(t, got).Marshal()); again != got {
				t.Errorf("not stable (-first +again):\n%s", cmp.Diff(got, again))
			}
		})
	}
}

func TestAppendPyString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ascii ~ /<>&", `"plain ascii ~ /<>&"`},
		{`"\`, `"\"\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", `"\u007f"`}, // Python escapes DEL: only ' '..'~' stay
		{"é€", `"\u00e9\u20ac"`},
		{"\uffff\u2028", `"\uffff\u2028"`},
		{"😀𝄞", `"\ud83d\ude00\ud834\udd1e"`},
		{"\U0010FFFF", `"\udbff\udfff"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	}
	for _, tt := range tests {
		if got := string(appendPyString(nil, tt.in)); got != tt.want {
			t.Errorf("appendPyString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		line, col int
		reason    string
	}{
		{"empty file", "", 0, 0, "file is empty"},
		{"whitespace only", " \n\t\r\n", 0, 0, "file is blank"},
		{"not JSON", "hello", 1, 1, `unexpected 'h', want a value`},
		{"truncated", "{\n  \"prs\": [\n    {\"pr\": 1,", 3, 14, "unexpected end of input, want a string key"},
		{"trailing comma", `{"prs": [],}`, 1, 12, `unexpected '}', want a string key`},
		{"extra data", "{}\n{}", 2, 1, "extra data after the JSON value"},
		{"single quotes", `{'prs': []}`, 1, 2, `unexpected '\'', want a string key`},
		{"NaN refused", `{"x": NaN}`, 1, 7, `unexpected 'N', want a value`},
		{"control char in string", "{\"a\": \"x\ty\"}", 1, 9, "control character 0x09 inside a string"},
		{"bad escape", `{"a": "\x"}`, 1, 8, `invalid escape 'x'`},
		{"bad unicode escape", `{"a": "\u12G4"}`, 1, 8, `invalid \u escape`},
		{"invalid UTF-8", "{\"a\": \"é\xff\"}", 1, 9, "invalid UTF-8 inside a string"},
		{"UTF-8 BOM", "\ufeff{}", 1, 1, "unexpected byte 0xef, want a value"},
		{"leading zero", `{"prs": [01]}`, 1, 11, `unexpected '1', want ',' or ']'`},
		{"top level string", `"prs"`, 1, 1, "want an object or an array, got string"},
		{"top level null", ` null`, 1, 2, "want an object or an array, got null"},
		{"prs not an array", `{"prs": {}}`, 1, 9, "prs: want an array, got object"},
		{"prs null", `{"prs": null}`, 1, 9, "prs: want an array, got null"},
		{"PR not an object", `{"prs": [{"pr": 1, "commit": "a"}, 5]}`, 1, 36, "prs[1]: want an object, got number 5"},
		{"pr a string", "{\n  \"prs\": [\n    {\"pr\": 1, \"commit\": \"a\"},\n    {\"pr\": 2, \"commit\": \"b\"},\n    {\"commit\": \"c\", \"pr\": \"3\"}\n  ]\n}",
			5, 27, "prs[2].pr: want an integer, got string"},
		{"pr a float", `{"prs": [{"pr": 13269.0, "commit": "a"}]}`, 1, 17, "prs[0].pr: want an integer, got number 13269.0"},
		{"pr an exponent", `{"prs": [{"pr": 1e3, "commit": "a"}]}`, 1, 17, "prs[0].pr: want an integer, got number 1e3"},
		{"pr too large", `{"prs": [{"pr": 2147483648, "commit": "a"}]}`, 1, 17, "prs[0].pr: want an integer in the int32 range, got number 2147483648"},
		{"pr missing", `{"prs": [{"commit": "a"}]}`, 1, 10, `prs[0]: missing "pr"`},
		{"commit missing", `{"prs": [{"pr": 1}]}`, 1, 10, `prs[0]: missing "commit"`},
		{"commit not a string", `{"prs": [{"pr": 1, "commit": 123}]}`, 1, 30, "prs[0].commit: want a string, got number 123"},
		{"commit null", `{"prs": [{"pr": 1, "commit": null}]}`, 1, 30, "prs[0].commit: want a string, got null"},
		{"active not a bool", `{"prs": [{"pr": 1, "commit": "a", "active": "yes"}]}`, 1, 45, "prs[0].active: want a boolean, got string"},
		{"active null", `{"prs": [{"pr": 1, "commit": "a", "active": null}]}`, 1, 45, "prs[0].active: want a boolean, got null"},
		{"pending_active not a bool", `{"prs": [{"pr": 1, "commit": "a", "pending_active": 1}]}`, 1, 53, "prs[0].pending_active: want a boolean, got number 1"},
		{"title not a string", `{"prs": [{"pr": 1, "commit": "a", "title": ["x"]}]}`, 1, 44, "prs[0].title: want a string, got array"},
		{"assignee_avatar null", `{"prs": [{"pr": 1, "commit": "a", "assignee_avatar": null}]}`, 1, 54, "prs[0].assignee_avatar: want a string, got null"},
		{"last_deploy_at not a string", `{"last_deploy_at": 0, "prs": []}`, 1, 20, "last_deploy_at: want a string, got number 0"},
		{"deploy_started_at null", `{"prs": [], "deploy_started_at": null}`, 1, 34, "deploy_started_at: want a string, got null"},
		{"deployed not an object", `{"prs": [], "deployed": ["1"]}`, 1, 25, "deployed: want an object, got array"},
		{"deployed value not a string", "{\"prs\": [],\n \"deployed\": {\"1\": \"a\", \"2\": 2}}", 2, 30, `deployed["2"]: want a string, got number 2`},
		{"bare array with a bad PR", "[\n  {\"pr\": true, \"commit\": \"a\"}\n]", 2, 10, "[0].pr: want an integer, got boolean"},
		{"column counts characters", "{\"prs\": [{\"title\": \"日本語\", \"pr\": \"x\", \"commit\": \"a\"}]}", 1, 33, "prs[0].pr: want an integer, got string"},
		{"last duplicate wins and is checked", `{"prs": [{"pr": 1, "commit": "a", "pr": "1"}]}`, 1, 41, "prs[0].pr: want an integer, got string"},
		{"too deep", strings.Repeat("[", maxDepth+1), 1, maxDepth + 1, "nesting too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", st)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("errors.Is(err, ErrCorrupt) = false for %v", err)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *CorruptError", err)
			}
			want := &CorruptError{Line: tt.line, Column: tt.col, Reason: tt.reason}
			if diff := cmp.Diff(want, ce); diff != "" {
				t.Errorf("CorruptError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCorruptErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  CorruptError
		want string
	}{
		{CorruptError{Path: "_testing-prs.json", Line: 3, Column: 17, Reason: "prs[2].pr: want an integer, got string"},
			"_testing-prs.json:3:17: prs[2].pr: want an integer, got string"},
		{CorruptError{Path: "_testing-prs.json", Reason: "file is empty"}, "_testing-prs.json: file is empty"},
		{CorruptError{Line: 1, Column: 2, Reason: "r"}, "1:2: r"},
		{CorruptError{Reason: "r"}, "r"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if err := fmt.Errorf("wrapped: %w", &CorruptError{Reason: "x"}); !errors.Is(err, ErrCorrupt) {
		t.Error("wrapped CorruptError does not match ErrCorrupt")
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	orig := mustParse(t, string(readFile(t, "testdata/marshal/unknown-keys.json")))
	orig.Deployed = []DeployedEntry{{"2", "two"}}
	before := orig.Marshal()

	c := orig.Clone()
	if !bytes.Equal(c.Marshal(), before) {
		t.Fatal("clone marshals differently")
	}
	c.PRs[0].Title = "changed"
	*c.PRs[0].PendingActive = false
	c.PRs = append(c.PRs[:1], NewPR(99, "x"))
	c.Deployed[0].Title = "changed"
	c.LastDeployAt = "changed"
	if got := orig.Marshal(); !bytes.Equal(got, before) {
		t.Errorf("changing the clone changed the original (-before +after):\n%s", cmp.Diff(string(before), string(got)))
	}
}

// TestMarshalMatchesPython is a differential test: random state files, written
// compactly, must come out of Parse+Marshal exactly as Python's json.dumps(indent=2)
// writes them, and Python's output must round-trip.
func TestMarshalMatchesPython(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300
	docs := make([]string, n)
	for i := range docs {
		docs[i] = randomStateDoc(rng)
	}
	script := `
import json, sys
docs = json.load(sys.stdin)
out = [json.dumps(json.loads(d), indent=2) for d in docs]
sys.stdout.write(json.dumps(out))
`
	in := appendValue(nil, value{kind: kindArray, arr: mapSlice(docs, stringValue)}, 0)
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	outBytes, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	out, err := parseJSON(outBytes)
	if err != nil || len(out.arr) != n {
		t.Fatalf("python3 output: %v", err)
	}
	for i, doc := range docs {
		want := out.arr[i].s
		st, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("doc %d: Parse: %v\n%s", i, err, doc)
		}
		if got := string(st.Marshal()); got != want {
			t.Fatalf("doc %d: Marshal differs from python (-python +go):\n%s\ninput: %s", i, cmp.Diff(want, got), doc)
		}
		if got := string(mustParse(t, want).Marshal()); got != want {
			t.Fatalf("doc %d: python output does not round-trip (-python +go):\n%s", i, cmp.Diff(want, got))
		}
	}
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// randomStateDoc returns a valid state file, compact, with random key order,
// optional keys, unknown keys, nested values and awkward strings.
func randomStateDoc(rng *rand.Rand) string {
	var b strings.Builder
	obj := func(members []string) string {
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		return "{" + strings.Join(members, ",") + "}"
	}
	kv := func(k, v string) string { return string(appendPyString(nil, k)) + ":" + v }
	str := func() string { return randomJSONString(rng) }
	var prs []string
	for range rng.IntN(4) {
		m := []string{kv("pr", strconv.Itoa(rng.IntN(20000))), kv("commit", str())}
		active := true
		if rng.IntN(2) == 0 {
			active = rng.IntN(2) == 0
			m = append(m, kv("active", strconv.FormatBool(active)))
		}
		for _, k := range []string{"title", "added_at", "added_by", "pull_latest_sha", "author", "author_avatar", "assignee", "assignee_avatar"} {
			if rng.IntN(2) == 0 {
				m = append(m, kv(k, str()))
			}
		}
		switch rng.IntN(3) {
		case 0:
			m = append(m, kv("pending_active", "null"))
		case 1:
			// Python keeps a no-op pending_active; Marshal writes it as null, so only
			// a real staged change is generated here.
			m = append(m, kv("pending_active", strconv.FormatBool(!active)))
		}
		for range rng.IntN(3) {
			m = append(m, kv("x-"+randomJSONStringRaw(rng), randomJSONValue(rng, 3)))
		}
		prs = append(prs, obj(m))
	}
	var top []string
	if rng.IntN(3) != 0 {
		top = append(top, kv("last_deploy_at", str()))
	}
	top = append(top, kv("prs", "["+strings.Join(prs, ",")+"]"))
	if rng.IntN(2) == 0 {
		top = append(top, kv("deploy_started_at", str()))
	}
	if rng.IntN(2) == 0 {
		var d []string
		for range rng.IntN(4) {
			d = append(d, kv(strconv.Itoa(rng.IntN(20000)), str()))
		}
		top = append(top, kv("deployed", "{"+strings.Join(d, ",")+"}"))
	}
	for range rng.IntN(3) {
		top = append(top, kv("u-"+randomJSONStringRaw(rng), randomJSONValue(rng, 3)))
	}
	b.WriteString(obj(top))
	return b.String()
}

var awkwardRunes = []rune{'a', 'Z', ' ', '"', '\\', '/', '<', '&', 0, 8, 9, 10, 12, 13, 0x1f, 0x7f, 0x80, 0xe9, 0x2028, 0xfeff, 0xffff, 0x1F600, 0x10FFFF, '日'}

func randomJSONStringRaw(rng *rand.Rand) string {
	r := make([]rune, rng.IntN(6))
	for i := range r {
		r[i] = awkwardRunes[rng.IntN(len(awkwardRunes))]
	}
	return string(r)
}

func randomJSONString(rng *rand.Rand) string {
	s := string(appendPyString(nil, randomJSONStringRaw(rng)))
	if rng.IntN(2) == 0 {
		// Raw (unescaped) non-control characters are valid JSON too.
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range randomJSONStringRaw(rng) {
			switch {
			case r < 0x20:
				b.WriteString(`\n`)
			case r == '"' || r == '\\':
				b.WriteString(`\\`)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		s = b.String()
	}
	return s
}

var pythonNumbers = []string{"0", "-1", "42", "123456789012345678901234567890", "1.5", "-0.25", "1e+100", "1e-05", "3.141592653589793"}

func randomJSONValue(rng *rand.Rand, depth int) string {
	n := rng.IntN(7)
	if depth == 0 {
		n = rng.IntN(4)
	}
	switch n {
	case 0:
		return "null"
	case 1:
		return strconv.FormatBool(rng.IntN(2) == 0)
	case 2:
		return pythonNumbers[rng.IntN(len(pythonNumbers))]
	case 3:
		return randomJSONString(rng)
	case 4, 5:
		var items []string
		for range rng.IntN(4) {
			items = append(items, randomJSONValue(rng, depth-1))
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		var items []string
		for range rng.IntN(4) {
			// Repeated keys are likely here (few distinct ones): Python's rule applies.
			items = append(items, string(appendPyString(nil, string(rune('a'+rng.IntN(3)))))+": "+randomJSONValue(rng, depth-1))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
}

func BenchmarkParse(b *testing.B) {
	data := benchState(50).Marshal()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	st := benchState(50)
	b.ReportAllocs()
	for b.Loop() {
		st.Marshal()
	}
}

func benchState(n int) *State {
	st := NewState()
	st.LastDeployAt = "2026-08-05T18:00:00+00:00"
	for i := range n {
		pr := NewPR(13000+i, "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5")
		pr.Title = fmt.Sprintf("Fix the thing number %d — properly", i)
		pr.AddedAt = "2026-08-01T10:00:00.123456+00:00"
		pr.AddedBy = "openlibrary"
		pr.Author = "mekarpeles"
		pr.AuthorAvatar = "https://avatars.githubusercontent.com/u/978325?v=4"
		st.PRs = append(st.PRs, pr)
		st.Deployed = append(st.Deployed, DeployedEntry{strconv.Itoa(pr.Number), pr.Title})
	}
	return st
}
