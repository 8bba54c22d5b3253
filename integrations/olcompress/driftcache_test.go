package olcompress

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMarshalDrift(t *testing.T) {
	t.Parallel()
	full := "abc1234def5678abc1234def5678abc1234def56"
	for _, tc := range []struct {
		name    string
		order   []int
		entries map[int]DriftEntry
		want    string
	}{
		{"nil", nil, nil, `{}`},
		{"empty", []int{1, 2}, map[int]DriftEntry{}, `{}`},
		{
			"the fixture",
			[]int{13269, 13238},
			map[int]DriftEntry{13269: {HeadSHA: "abc1234", Drift: 2}, 13238: {Drift: -1}},
			`{"13269": {"head_sha": "abc1234", "drift": 2, "merged": false}, "13238": {"head_sha": "", "drift": -1, "merged": false}}`,
		},
		{
			"full sha is cut to 7",
			[]int{5},
			map[int]DriftEntry{5: {HeadSHA: full, Drift: 0, Merged: true}},
			`{"5": {"head_sha": "abc1234", "drift": 0, "merged": true}}`,
		},
		{
			"order is kept, not sorted",
			[]int{3, 1, 2},
			map[int]DriftEntry{1: {}, 2: {}, 3: {}},
			`{"3": {"head_sha": "", "drift": 0, "merged": false}, "1": {"head_sha": "", "drift": 0, "merged": false}, "2": {"head_sha": "", "drift": 0, "merged": false}}`,
		},
		{
			"repeats and missing numbers in order are dropped",
			[]int{2, 9, 2},
			map[int]DriftEntry{2: {Drift: 1}},
			`{"2": {"head_sha": "", "drift": 1, "merged": false}}`,
		},
		{
			"entries not in order follow, ascending",
			[]int{7},
			map[int]DriftEntry{7: {}, 30: {Drift: 3}, 4: {Drift: 4}},
			`{"7": {"head_sha": "", "drift": 0, "merged": false}, "4": {"head_sha": "", "drift": 4, "merged": false}, "30": {"head_sha": "", "drift": 3, "merged": false}}`,
		},
		{
			"escapes as ensure_ascii",
			[]int{1},
			map[int]DriftEntry{1: {HeadSHA: "\"\\\n\x7fé😀"}},
			`{"1": {"head_sha": "\"\\\n\u007f\u00e9\ud83d\ude00", "drift": 0, "merged": false}}`,
		},
		{
			"cut counts characters, not bytes",
			[]int{1},
			map[int]DriftEntry{1: {HeadSHA: "ééééééééé"}},
			`{"1": {"head_sha": "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "drift": 0, "merged": false}}`,
		},
		{
			"control characters",
			[]int{1},
			map[int]DriftEntry{1: {HeadSHA: "\x00\b\f\r\t\x1f"}},
			`{"1": {"head_sha": "\u0000\b\f\r\t\u001f", "drift": 0, "merged": false}}`,
		},
		{
			"invalid UTF-8 is U+FFFD",
			[]int{1},
			map[int]DriftEntry{1: {HeadSHA: "a\xffb"}},
			`{"1": {"head_sha": "a\ufffdb", "drift": 0, "merged": false}}`,
		},
		{
			"negative and large numbers",
			[]int{-4, 1 << 40},
			map[int]DriftEntry{-4: {Drift: -1}, 1 << 40: {Drift: 1 << 50}},
			`{"-4": {"head_sha": "", "drift": -1, "merged": false}, "1099511627776": {"head_sha": "", "drift": 1125899906842624, "merged": false}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(MarshalDrift(tc.order, tc.entries)); got != tc.want {
				t.Errorf("MarshalDrift =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestMarshalDriftMatchesPython builds legacy's dict in Python from the same data
// (head[:7] included) and compares json.dumps with MarshalDrift byte for byte,
// over random sets with awkward heads.
func TestMarshalDriftMatchesPython(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []rune("0123456789abcdef\"\\/\n\t\x00\x01\x1f\x7f ~éß€\u2028\U0001F600\U00010000\uffff\xff")
	type row struct {
		order   []int
		entries map[int]DriftEntry
	}
	var rows []row
	var lines []string
	for range 300 {
		order, entries := randomDrift(r, r.IntN(30))
		desc := make([][]any, 0, len(order))
		for _, pr := range order {
			e := entries[pr]
			if r.IntN(3) == 0 {
				head := make([]rune, r.IntN(12))
				for i := range head {
					head[i] = alphabet[r.IntN(len(alphabet))]
				}
				e.HeadSHA = string(head)
			}
			if r.IntN(10) == 0 {
				e.Drift = int(r.Int64()) - 1<<62
			}
			entries[pr] = e
			desc = append(desc, []any{pr, e.HeadSHA, e.Drift, e.Merged})
		}
		line, err := json.Marshal(desc)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{order, entries})
		lines = append(lines, string(line))
	}
	for i, want := range python(t, "dumps", lines) {
		if got := string(MarshalDrift(rows[i].order, rows[i].entries)); got != want {
			t.Fatalf("case %d:\nMarshalDrift %s\njson.dumps   %s", i, got, want)
		}
	}
}

func TestParseDrift(t *testing.T) {
	t.Parallel()
	f := loadFixture(t)
	for _, tc := range []struct {
		name    string
		in      string
		order   []int
		entries map[int]DriftEntry
	}{
		{"the fixture", f.JSON, []int{13269, 13238}, map[int]DriftEntry{13269: {HeadSHA: "abc1234", Drift: 2}, 13238: {Drift: -1}}},
		{"empty object", `{}`, nil, map[int]DriftEntry{}},
		{"whitespace", " \n{ \"1\" :\t{\"merged\":true,\n\"drift\" : 0 , \"head_sha\":\"\"} }\n", []int{1}, map[int]DriftEntry{1: {Merged: true}}},
		{"key order is kept", `{"9": {"head_sha": "a", "drift": 1, "merged": false}, "2": {"head_sha": "b", "drift": 2, "merged": false}}`,
			[]int{9, 2}, map[int]DriftEntry{9: {HeadSHA: "a", Drift: 1}, 2: {HeadSHA: "b", Drift: 2}}},
		{"unknown fields are ignored", `{"1": {"head_sha": "", "title": {"x": [1, null]}, "drift": 0, "merged": false}}`,
			[]int{1}, map[int]DriftEntry{1: {}}},
		{"full and upper-case heads", `{"1": {"head_sha": "ABC1234DEF5678ABC1234DEF5678ABC1234DEF56", "drift": 0, "merged": false}}`,
			[]int{1}, map[int]DriftEntry{1: {HeadSHA: "ABC1234DEF5678ABC1234DEF5678ABC1234DEF56"}}},
		{"escaped key", `{"\u0031\u0032": {"head_sha": "", "drift": 0, "merged": false}}`, []int{12}, map[int]DriftEntry{12: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			order, entries, err := ParseDrift([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.order, order); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.entries, entries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDriftBad(t *testing.T) {
	t.Parallel()
	const ok = `{"head_sha": "", "drift": 0, "merged": false}`
	entry := func(fields string) string { return `{"1": {` + fields + `}}` }
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"empty", ``, "unexpected EOF"},
		{"whitespace", "  \n", "unexpected EOF"},
		{"not json", `status`, "invalid character"},
		{"null", `null`, "want '{', got null"},
		{"array", `[]`, "want '{', got '['"},
		{"legacy array", `[{"13269": 2}]`, "want '{', got '['"},
		{"string", `"{}"`, `got string "{}"`},
		{"truncated", `{"1": {"head_sha": "", "drift"`, "unexpected EOF"},
		{"unclosed", `{"1": ` + ok, "unexpected EOF"},
		{"trailing object", `{} {}`, "data after the object"},
		{"trailing garbage", `{}x`, "data after the object"},
		{"trailing comma", `{"1": ` + ok + `,}`, "invalid character"},
		{"word key", `{"abc": ` + ok + `}`, `key "abc" is not a PR number`},
		{"zero key", `{"0": ` + ok + `}`, `key "0"`},
		{"negative key", `{"-1": ` + ok + `}`, `key "-1"`},
		{"leading zero", `{"013": ` + ok + `}`, `key "013"`},
		{"plus sign", `{"+1": ` + ok + `}`, `key "+1"`},
		{"spaced key", `{" 1": ` + ok + `}`, `key " 1"`},
		{"float key", `{"1.0": ` + ok + `}`, `key "1.0"`},
		{"huge key", `{"99999999999999999999": ` + ok + `}`, `is not a PR number`},
		{"duplicate key", `{"1": ` + ok + `, "1": ` + ok + `}`, "PR 1 appears twice"},
		{"entry is a number", `{"1": 2}`, "PR 1: entry: want '{', got number 2"},
		{"entry is null", `{"1": null}`, "want '{', got null"},
		{"entry is an array", `{"1": []}`, "want '{', got '['"},
		{"missing head", entry(`"drift": 0, "merged": false`), `missing "head_sha"`},
		{"missing drift", entry(`"head_sha": "", "merged": false`), `missing "drift"`},
		{"missing merged", entry(`"head_sha": "", "drift": 0`), `missing "merged"`},
		{"null head", entry(`"head_sha": null, "drift": 0, "merged": false`), "head_sha: want a string, got null"},
		{"number head", entry(`"head_sha": 1234567, "drift": 0, "merged": false`), "head_sha: want a string, got number"},
		{"non-hex head", entry(`"head_sha": "xyz", "drift": 0, "merged": false`), `head_sha: "xyz" is not hex`},
		{"head too long", entry(`"head_sha": "` + strings.Repeat("a", 41) + `", "drift": 0, "merged": false`), "head_sha: 41 bytes long"},
		{"fraction drift", entry(`"head_sha": "", "drift": 2.0, "merged": false`), "drift: 2.0 is not an integer"},
		{"exponent drift", entry(`"head_sha": "", "drift": 1e2, "merged": false`), "drift: 1e2 is not an integer"},
		{"overflowing drift", entry(`"head_sha": "", "drift": 99999999999999999999, "merged": false`), "not an integer in range"},
		{"string drift", entry(`"head_sha": "", "drift": "2", "merged": false`), `drift: want an integer, got string "2"`},
		{"null drift", entry(`"head_sha": "", "drift": null, "merged": false`), "drift: want an integer, got null"},
		{"drift below unknown", entry(`"head_sha": "", "drift": -2, "merged": false`), "drift: -2 is below -1"},
		{"string merged", entry(`"head_sha": "", "drift": 0, "merged": "false"`), "merged: want a boolean"},
		{"number merged", entry(`"head_sha": "", "drift": 0, "merged": 0`), "merged: want a boolean, got number 0"},
		{"duplicate field", entry(`"head_sha": "", "drift": 0, "drift": 1, "merged": false`), `field "drift" appears twice`},
		{"broken unknown field", entry(`"head_sha": "", "x": [1,, "drift": 0, "merged": false`), "x: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			order, entries, err := ParseDrift([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseDrift = %v, %v; want an error", order, entries)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "olcompress: drift value: ") {
				t.Errorf("error %q does not say what was being read", err)
			}
			if order != nil || entries != nil {
				t.Errorf("ParseDrift returned data with the error")
			}
		})
	}
}

// FuzzParseDrift: ParseDrift never panics; what it accepts, MarshalDrift writes
// in a form it reads back to the same set (heads cut to 7), and that form is a
// fixed point.
func FuzzParseDrift(f *testing.F) {
	f.Add([]byte(loadFixture(f).JSON))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"1": {"head_sha": "ABCDEF0123456789", "drift": -1, "merged": true, "x": [{}]}}`))
	f.Add([]byte(`{"1": {"head_sha": "", "drift": 1e2, "merged": false}}`))
	f.Add([]byte(`[{"13269": 2}]`))
	f.Add([]byte(`{"01": {}} {}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		order, entries, err := ParseDrift(in)
		if err != nil {
			if order != nil || entries != nil {
				t.Fatal("data returned with an error")
			}
			return
		}
		if len(order) != len(entries) {
			t.Fatalf("%d keys in order, %d entries", len(order), len(entries))
		}
		out := MarshalDrift(order, entries)
		order2, entries2, err := ParseDrift(out)
		if err != nil {
			t.Fatalf("ParseDrift(MarshalDrift(x)) = %v\n%s", err, out)
		}
		if !slices.Equal(order, order2) {
			t.Fatalf("order %v became %v", order, order2)
		}
		for pr, e := range entries {
			e.HeadSHA = truncateChars(e.HeadSHA, HeadLen)
			if entries2[pr] != e {
				t.Fatalf("PR %d: %+v became %+v", pr, e, entries2[pr])
			}
		}
		if again := MarshalDrift(order2, entries2); string(again) != string(out) {
			t.Fatalf("not a fixed point:\n%s\n%s", out, again)
		}
	})
}
