package persistence

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// newTestAuditLog returns an AuditLog on a file in a fresh directory and a buffer
// receiving its logs.
func newTestAuditLog(t testing.TB) (*AuditLog, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return OpenAuditLog(filepath.Join(t.TempDir(), "_testing-prs.events.jsonl"), logger), &logs
}

var auditEpoch = time.Date(2026, 8, 5, 18, 0, 0, 0, time.UTC)

// testEvent is the ith event of a made-up history; its PR is prOf(i).
func testEvent(i int) Event {
	t := auditEpoch.Add(time.Duration(i) * time.Second)
	n := prOf(i)
	return Event{
		ID:         newEventID(t),
		Time:       t,
		Actor:      "user" + strconv.Itoa(i%5),
		AuthMethod: "cookie",
		RPC:        "AddPRs",
		Kind:       EventKindAdd,
		PRs: []EventPR{{
			Number: n, Title: fmt.Sprintf("PR %d <&> \"quoted\"", n), Result: "added",
			After: &PRFields{Commit: fmt.Sprintf("%040x", i), Active: true},
		}},
		VersionBefore: fmt.Sprintf("%016x", i),
		VersionAfter:  fmt.Sprintf("%016x", i+1),
	}
}

// prOf spreads events over PRs 1, 11, 111, 2, 22, …: numbers that are substrings of
// each other, to catch a filter that matches digits rather than numbers.
func prOf(i int) int {
	d := 1 + i%9
	n, _ := strconv.Atoi(strings.Repeat(strconv.Itoa(d), 1+i/9%3))
	return n
}

// writeEvents writes events as Append would, without a flock and an fsync per line,
// to build big logs quickly.
func writeEvents(t testing.TB, path string, events []Event) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, ev := range events {
		line, err := encodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func testEvents(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	return evs
}

// listAll pages through the whole log and checks that no page but the last is short
// and that only the last has no next token.
func listAll(t testing.TB, a *AuditLog, pageSize, number int) (events []Event, pages int) {
	t.Helper()
	token := ""
	for {
		page, next, err := a.List(t.Context(), pageSize, token, number)
		if err != nil {
			t.Fatalf("List(%d, %q, %d) after %d pages: %v", pageSize, token, number, pages, err)
		}
		pages++
		events = append(events, page...)
		want := min(max(pageSize, 0), MaxEventPageSize)
		if pageSize <= 0 {
			want = DefaultEventPageSize
		}
		if next == "" {
			if len(page) > want {
				t.Fatalf("last page has %d events, want at most %d", len(page), want)
			}
			return events, pages
		}
		if len(page) != want {
			t.Fatalf("page %d has %d events, want %d", pages, len(page), want)
		}
		if pages > 1e6 {
			t.Fatal("paging does not end")
		}
		token = next
	}
}

func reversed[T any](s []T) []T {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestAuditPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"_testing-prs.json":          "_testing-prs.events.jsonl",
		"/srv/ol/_testing-prs.json":  "/srv/ol/_testing-prs.events.jsonl",
		"state":                      "state.events.jsonl",
		"dir.json/state":             "dir.json/state.events.jsonl",
		"/srv/STATE.JSON":            "/srv/STATE.events.jsonl",
		"relative/x.y.json":          "relative/x.y.events.jsonl",
		"_testing-prs.json.bak":      "_testing-prs.json.bak.events.jsonl",
		filepath.Join("a", "b.json"): filepath.Join("a", "b.events.jsonl"),
	} {
		if got := AuditPath(in); got != want {
			t.Errorf("AuditPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPRFieldsOf(t *testing.T) {
	t.Parallel()
	pr := NewPR(5, "abc")
	pr.PullLatestSHA = "def"
	pr.PendingActive = ptr(false)
	got := PRFieldsOf(pr)
	want := &PRFields{Commit: "abc", Active: true, PullLatestSHA: "def", PendingActive: ptr(false)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PRFieldsOf (-want +got):\n%s", diff)
	}
	*pr.PendingActive = true
	if *got.PendingActive {
		t.Error("PRFields aliases the PR's pending_active")
	}
}

func TestAuditAppendList(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	ctx := t.Context()

	if evs, next, err := a.List(ctx, 0, "", 0); err != nil || len(evs) != 0 || next != "" {
		t.Errorf("List of a missing log = %v, %q, %v", evs, next, err)
	}
	if _, err := os.Stat(a.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("List created the file: %v", err)
	}

	deploy := Event{
		Actor: "mek", AuthMethod: "token", RPC: "Deploy", Kind: EventKindDeploy, Outcome: "triggered",
		JenkinsQueueURL: "https://jenkins.example/queue/item/42/",
		PRs: []EventPR{
			{Number: 13238, Title: "Fix facets", After: &PRFields{Commit: strings.Repeat("a", 40), Active: true}},
			{Number: 13240, Title: "Off", Before: &PRFields{Commit: "b", Active: true, PendingActive: ptr(false)}, After: &PRFields{Commit: "b"}},
		},
		VersionBefore: "0123456789abcdef", VersionAfter: "fedcba9876543210",
	}
	stage := Event{
		ID: "given-id", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
		Actor: "bot", RPC: "StagePRs", Kind: EventKindStage, Stage: EventStagePullLatest,
		PRs: []EventPR{{Number: 1, Result: "not_in_set"}},
	}
	start := time.Now()
	for _, ev := range []Event{deploy, stage} {
		if err := a.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got, next, err := a.List(ctx, 0, "", 0)
	if err != nil || next != "" || len(got) != 2 {
		t.Fatalf("List = %d events, %q, %v", len(got), next, err)
	}
	// Filled in: a time-based ID and the time, in UTC.
	if got[1].ID == "" || got[1].Time.Before(start.Add(-time.Second)) || got[1].Time.Location() != time.UTC {
		t.Errorf("filled in ID %q, time %v", got[1].ID, got[1].Time)
	}
	if !strings.HasPrefix(got[1].ID, got[1].Time.Format("20060102T150405")) {
		t.Errorf("ID %q does not start with the time %v", got[1].ID, got[1].Time)
	}
	deploy.ID, deploy.Time = got[1].ID, got[1].Time
	stage.Time = stage.Time.UTC() // kept as given, stored in UTC
	if diff := cmp.Diff([]Event{stage, deploy}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}

	// The file: one JSON object per line, nothing escaped for HTML, mode 0644.
	data := readFile(t, a.Path())
	lines := strings.Split(string(data), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("file is not two lines:\n%s", data)
	}
	for _, want := range []string{`"rpc":"Deploy"`, `"jenkins_queue_url":"https://jenkins.example/queue/item/42/"`, `"pending_active":false`, `"pr":13240`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line lacks %s:\n%s", want, lines[0])
		}
	}
	for _, absent := range []string{`"error"`, `"stage"`, `"after":null`, `"before":null`} {
		if strings.Contains(lines[0], absent) {
			t.Errorf("line has %s:\n%s", absent, lines[0])
		}
	}
	if fi, err := os.Stat(a.Path()); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	if _, err := os.Stat(a.Path() + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

func TestAuditEventIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		ts := auditEpoch.Add(time.Duration(i/3) * time.Nanosecond) // several share a time
		id := newEventID(ts)
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
		if id[:len(eventIDTime)] < prev {
			t.Fatalf("ID %s sorts before %s", id, prev)
		}
		prev = id[:len(eventIDTime)]
	}
	// Fixed width across years, fractions and zones.
	a := newEventID(time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC))
	b := newEventID(time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -7200)))
	if len(a) != len(b) || a > b {
		t.Errorf("IDs %s and %s", a, b)
	}
}

func TestAuditAppendRefusesHugeEvent(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	ev := testEvent(1)
	ev.Error = strings.Repeat("x", maxEventLine)
	if err := a.Append(t.Context(), ev); err == nil {
		t.Error("Append of a line longer than List reads succeeded")
	}
	if _, err := os.Stat(a.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written: %v", err)
	}
}

// TestAuditListPaging: every event exactly once, newest first, whatever the page
// size and however the lines fall across read chunks.
func TestAuditListPaging(t *testing.T) {
	t.Parallel()
	const n = 1234
	all := testEvents(n)
	want := reversed(all)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	writeEvents(t, path, all)

	for _, chunk := range []int{auditChunk, 4096, 97} { // lines are ~350 bytes
		for _, size := range []int{1, 7, 50, 500, 0, -3, 501, 100000} {
			t.Run(fmt.Sprintf("chunk %d size %d", chunk, size), func(t *testing.T) {
				t.Parallel()
				a := OpenAuditLog(path, nil)
				a.chunk = chunk
				got, pages := listAll(t, a, size, 0)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("events (-want +got):\n%s", diff)
				}
				eff := min(max(size, 0), MaxEventPageSize)
				if size <= 0 {
					eff = DefaultEventPageSize
				}
				if wantPages := (n + eff - 1) / eff; pages != wantPages {
					t.Errorf("%d pages, want %d (no empty last page)", pages, wantPages)
				}
			})
		}
	}
}

func TestAuditListFilter(t *testing.T) {
	t.Parallel()
	const n = 1234
	all := testEvents(n)
	// Some events touch several PRs.
	for i := 0; i < n; i += 13 {
		all[i].PRs = append(all[i].PRs, EventPR{Number: 7, Result: "not_in_set"})
	}
	a, _ := newTestAuditLog(t)
	writeEvents(t, a.Path(), all)
	for _, number := range []int{1, 11, 111, 7, 77, 99999, -1} {
		var want []Event
		for _, ev := range reversed(all) {
			if ev.touches(number) {
				want = append(want, ev)
			}
		}
		for _, size := range []int{1, 7, 50, 500} {
			if size == 1 && number < 10 && number != 7 {
				continue // ~140 pages of one: slow under -race, and nothing new
			}
			got, _ := listAll(t, a, size, number)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("PR %d, page size %d (-want +got):\n%s", number, size, diff)
			}
		}
		if number > 0 && number != 99999 && len(want) == 0 {
			t.Errorf("PR %d: no events to find; the test is wrong", number)
		}
	}
}

func TestAuditListBadPageToken(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	writeEvents(t, a.Path(), testEvents(10))
	ctx := t.Context()
	page, next, err := a.List(ctx, 3, "", 0)
	if err != nil || next == "" || len(page) != 3 {
		t.Fatalf("List = %d, %q, %v", len(page), next, err)
	}
	size := int64(len(readFile(t, a.Path())))
	tok := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, token := range map[string]string{
		"garbage":             "!!not base64!!",
		"padded base64":       base64.URLEncoding.EncodeToString([]byte("e1:10")) + "=",
		"no prefix":           tok("123"),
		"other version":       tok("e2:" + strconv.FormatInt(size, 10)),
		"not a number":        tok("e1:abc"),
		"negative":            tok("e1:-5"),
		"zero":                tok("e1:0"),
		"leading zero":        tok("e1:0" + strconv.FormatInt(size, 10)),
		"plus sign":           tok("e1:+" + strconv.FormatInt(size, 10)),
		"beyond the end":      tok("e1:" + strconv.FormatInt(size+1, 10)),
		"huge":                tok("e1:99999999999999999999999"),
		"inside a line":       tok("e1:5"),
		"the token, extended": next + "AA",
	} {
		_, _, err := a.List(ctx, 3, token, 0)
		if !errors.Is(err, ErrBadPageToken) {
			t.Errorf("%s (%q): %v, want ErrBadPageToken", name, token, err)
		}
	}
	// The token still works, and a token at the end of the file is a valid start.
	if _, _, err := a.List(ctx, 3, next, 0); err != nil {
		t.Errorf("List(next): %v", err)
	}
	if evs, _, err := a.List(ctx, 3, pageTokenAt(size), 0); err != nil || len(evs) != 3 {
		t.Errorf("List(end of file) = %d, %v", len(evs), err)
	}
	// A token for a log that is gone.
	b, _ := newTestAuditLog(t)
	if _, _, err := b.List(ctx, 3, next, 0); !errors.Is(err, ErrBadPageToken) {
		t.Errorf("token on a missing log: %v", err)
	}
}

// TestAuditTornLastLine: a crash left half a line. List leaves it out (it may be a
// line being appended right now); the next Append ends it, so it becomes one bad
// line and the new line is whole.
func TestAuditTornLastLine(t *testing.T) {
	t.Parallel()
	a, logs := newTestAuditLog(t)
	ctx := t.Context()
	writeEvents(t, a.Path(), testEvents(2))
	line, _ := encodeEvent(testEvent(2))
	f, err := os.OpenFile(a.Path(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(line[:len(line)/2])
	f.Close()

	evs, _, err := a.List(ctx, 0, "", 0)
	if err != nil || len(evs) != 2 {
		t.Fatalf("List with a torn last line = %d events, %v", len(evs), err)
	}
	if strings.Contains(logs.String(), "unreadable") {
		t.Errorf("an unfinished last line was reported as unreadable:\n%s", logs)
	}

	if err := a.Append(ctx, testEvent(3)); err != nil {
		t.Fatal(err)
	}
	evs, _, err = a.List(ctx, 0, "", 0)
	if err != nil || len(evs) != 3 || evs[0].VersionAfter != testEvent(3).VersionAfter {
		t.Fatalf("List after Append = %d events, %v", len(evs), err)
	}
	lines := strings.Split(string(readFile(t, a.Path())), "\n")
	if len(lines) != 5 || lines[2] != string(line[:len(line)/2]) || lines[4] != "" {
		t.Errorf("file lines: %q", lines)
	}
	if _, err := parseEventLine([]byte(lines[3])); err != nil {
		t.Errorf("appended line does not parse: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "torn line") || strings.Count(out, "unreadable") != 1 {
		t.Errorf("logs:\n%s", out)
	}
}

// TestAuditGarbageLines: lines that are not events are skipped wherever they are,
// whatever their length, and each is logged once (its offset, never its content).
func TestAuditGarbageLines(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t"
	garbage := []string{
		"garbage " + secret, "{", "{}", "null", "[1,2]", `"str"`, `{"id":"x","time":"yesterday"}`,
		`{"id":"x","prs":[{"pr":"7"}]}`, `{"id":"y"} trailing`, "\x00\x01\xff", "   ",
		strings.Repeat("z", 3000), // longer than maxLine below
	}
	const maxLine = 1000 // an event here is ~350 bytes
	all := testEvents(4 * len(garbage))
	long := testEvent(len(all))
	long.Error = strings.Repeat("e", maxLine)      // a valid event, but too long
	data := []byte(garbage[len(garbage)-1] + "\n") // one at the very start
	wantBad := 1
	var want []Event
	for i, ev := range all {
		line, _ := encodeEvent(ev)
		data = append(data, line...)
		want = append(want, ev)
		if i%4 == 0 {
			g := garbage[i/4]
			data = append(data, g+"\n"...)
			if strings.TrimSpace(g) != "" { // a blank line is ignored silently
				wantBad++
			}
		}
		if i == 20 {
			line, _ := encodeEvent(long)
			data = append(data, line...)
			data = append(data, '\n') // an empty line
			wantBad++
		}
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, chunk := range []int{auditChunk, 64, 7} {
		for _, size := range []int{1, 3, 50} {
			var logs bytes.Buffer
			a := OpenAuditLog(path, slog.New(slog.NewTextHandler(&logs, nil)))
			a.chunk, a.maxLine = chunk, maxLine
			got, _ := listAll(t, a, size, 0)
			if diff := cmp.Diff(reversed(want), got); diff != "" {
				t.Fatalf("chunk %d size %d (-want +got):\n%s", chunk, size, diff)
			}
			// Once more: nothing new to report.
			listAll(t, a, size, 0)
			out := logs.String()
			total := 0
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				i := strings.Index(l, "count=")
				if i < 0 {
					t.Fatalf("unexpected log line %s", l)
				}
				c, _ := strconv.Atoi(strings.Fields(l[i+len("count="):])[0])
				total += c
			}
			if total != wantBad {
				t.Errorf("chunk %d size %d: reported %d bad lines, want %d:\n%s", chunk, size, total, wantBad, out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("log shows a line's content:\n%s", out)
			}
		}
	}
}

func TestAuditListCanceled(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	writeEvents(t, a.Path(), testEvents(3))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := a.List(ctx, 0, "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v, want Canceled", err)
	}
}

func TestAuditAppendHonoursContextWhileLocked(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	other := flock.New(a.Path() + ".lock") // another process is appending
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := a.Append(ctx, testEvent(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Append: %v, want DeadlineExceeded", err)
	}
	if _, err := os.Stat(a.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written: %v", err)
	}
	other.Unlock()
	if err := a.Append(t.Context(), testEvent(1)); err != nil {
		t.Errorf("Append after unlock: %v", err)
	}
}

// TestAuditListWhileAppending: readers take no lock; a line being written is simply
// not there yet, never an error or a bad line.
func TestAuditListWhileAppending(t *testing.T) {
	t.Parallel()
	a, logs := newTestAuditLog(t)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := a.Append(t.Context(), seqEvent("w", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	reader := OpenAuditLog(a.Path(), a.logger)
	last := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		evs, _ := listAll(t, reader, 500, 0)
		if len(evs) < last {
			t.Fatalf("%d events after %d", len(evs), last)
		}
		last = len(evs)
		if len(evs) > 0 {
			checkSequences(t, reversed(evs), map[string]int{"w": len(evs)})
		}
	}
	if last != n {
		t.Errorf("%d events, want %d", last, n)
	}
	if out := logs.String(); strings.Contains(out, "unreadable") {
		t.Errorf("a line being appended was reported as unreadable:\n%s", out)
	}
}

// checkAuditFile reads the whole file and checks that every line is a whole event
// (no interleaving) and the file ends with a newline.
func checkAuditFile(t *testing.T, path string) []Event {
	t.Helper()
	data := readFile(t, path)
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatal("file does not end with a newline")
	}
	var evs []Event
	for i, line := range bytes.Split(data[:len(data)-1], []byte{'\n'}) {
		ev, err := parseEventLine(line)
		if err != nil {
			t.Fatalf("line %d: %v: %q", i+1, err, line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// seqEvent is the ith event of a writer; the events are big enough that a torn or
// interleaved write would show.
func seqEvent(actor string, i int) Event {
	ev := testEvent(i)
	ev.ID, ev.Time = "", time.Time{}
	ev.Actor = actor
	ev.Error = strings.Repeat(actor, 500) // ~3 KiB: more than a pipe's atomic write
	ev.VersionBefore = strconv.Itoa(i)
	return ev
}

// checkSequences checks that each actor's events are all there, in order.
func checkSequences(t *testing.T, evs []Event, counts map[string]int) (switches int) {
	t.Helper()
	next := map[string]int{}
	ids := map[string]bool{}
	for i, ev := range evs {
		if ids[ev.ID] {
			t.Errorf("duplicate ID %s", ev.ID)
		}
		ids[ev.ID] = true
		if got := strconv.Itoa(next[ev.Actor]); ev.VersionBefore != got {
			t.Errorf("%s's event %s, want %s", ev.Actor, ev.VersionBefore, got)
		}
		next[ev.Actor]++
		if i > 0 && ev.Actor != evs[i-1].Actor {
			switches++
		}
	}
	if !cmp.Equal(next, counts) {
		t.Errorf("events per actor %v, want %v", next, counts)
	}
	return switches
}

func TestAuditConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	a, _ := newTestAuditLog(t)
	const writers, n = 20, 25
	var wg sync.WaitGroup
	counts := map[string]int{}
	for w := range writers {
		actor := fmt.Sprintf("w%02d", w)
		counts[actor] = n
		wg.Go(func() {
			log := a
			if w%2 == 1 { // as another AuditLog in this process would: only the flock
				log = OpenAuditLog(a.Path(), nil)
			}
			for i := range n {
				if err := log.Append(t.Context(), seqEvent(actor, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	evs := checkAuditFile(t, a.Path())
	if len(evs) != writers*n {
		t.Errorf("%d events, want %d", len(evs), writers*n)
	}
	checkSequences(t, evs, counts)
	listed, _ := listAll(t, a, 500, 0)
	if diff := cmp.Diff(reversed(evs), listed); diff != "" {
		t.Errorf("List (-file +listed):\n%s", diff)
	}
}

const (
	helperAuditAppend   = "audit-append"
	helperTransactAudit = "transact-audit"
)

// startHelper runs TestHelperProcess in mode on the state file path and waits until
// it is about to start. Its stdout's later lines are returned by wait.
func startHelper(t *testing.T, mode, path string, from, n int) (wait func() []string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperEnv+"_MODE="+mode,
		helperEnv+"_FROM="+strconv.Itoa(from), helperEnv+"_N="+strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	return func() []string {
		t.Helper()
		rest, _ := io.ReadAll(r)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v\n%s", err, stderr.String())
		}
		return strings.Fields(string(rest))
	}
}

// auditHelper is TestHelperProcess's body for the audit tests; path is the state
// file, the audit trail is beside it. It returns the exit code.
func auditHelper(mode, path string, from, n int) int {
	ctx := context.Background()
	log := OpenAuditLog(AuditPath(path), nil)
	fmt.Println("ready")
	switch mode {
	case helperAuditAppend:
		for i := range n {
			if err := log.Append(ctx, seqEvent("child", i)); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
			thinkTime(i)
		}
	case helperTransactAudit:
		s := NewStore(path, nil)
		rng := rand.New(rand.NewPCG(uint64(from), 1))
		committed := 0
		for i := range n {
			ok, err := randomTransact(ctx, s, log, "child"+strconv.Itoa(from), rng)
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
			if ok {
				committed++
			}
			thinkTime(i)
		}
		fmt.Println(committed)
	}
	return 0
}

func TestAuditConcurrentProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a process")
	}
	state := filepath.Join(t.TempDir(), "_testing-prs.json")
	a := OpenAuditLog(AuditPath(state), nil)
	const n = 150
	wait := startHelper(t, helperAuditAppend, state, 0, n)
	for i := range n {
		if err := a.Append(t.Context(), seqEvent("parent", i)); err != nil {
			t.Fatal(err)
		}
		thinkTime(i)
	}
	wait()
	evs := checkAuditFile(t, a.Path())
	switches := checkSequences(t, evs, map[string]int{"parent": n, "child": n})
	t.Logf("appenders alternated %d times", switches)
	if switches < 2 {
		t.Errorf("the two appenders did not overlap (%d alternations)", switches)
	}
}

var errSimulatedCommit = errors.New("simulated commit failure")

// randomTransact makes one random change to a PR of 1..12 with Store.Transact,
// recording it in the audit trail from the commit (or failing the commit one time in
// eight, which must leave no trace). It reports whether the change was committed.
func randomTransact(ctx context.Context, s *Store, log *AuditLog, actor string, rng *rand.Rand) (bool, error) {
	number, op, fail := 1+rng.IntN(12), rng.IntN(4), rng.IntN(8) == 0
	sha := fmt.Sprintf("%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
	var ev Event
	_, err := s.Transact(ctx, "", func(st *State) error {
		ev = Event{Actor: actor, AuthMethod: "token"}
		epr := EventPR{Number: number}
		i, ok := st.Find(number)
		if ok {
			epr.Before = PRFieldsOf(st.PRs[i])
		}
		switch {
		case !ok:
			ev.RPC, ev.Kind = "AddPRs", EventKindAdd
			st.PRs = append(st.PRs, NewPR(number, sha))
			i = len(st.PRs) - 1
		case op == 0:
			ev.RPC, ev.Kind = "RemovePRs", EventKindRemove
			st.PRs = slices.Delete(st.PRs, i, i+1)
			i = -1
		case op == 1:
			ev.RPC, ev.Kind, ev.Stage = "StagePRs", EventKindStage, EventStageEnable
			if st.PRs[i].PendingActive != nil {
				st.PRs[i].PendingActive, ev.Stage = nil, EventStageUnstage
			} else {
				st.PRs[i].PendingActive = ptr(!st.PRs[i].Active)
			}
		case op == 2:
			ev.RPC, ev.Kind, ev.Stage = "StagePRs", EventKindStage, EventStagePullLatest
			st.PRs[i].PullLatestSHA = sha
		default:
			ev.RPC, ev.Kind = "Deploy", EventKindDeploy
			st.PRs[i].Commit, st.PRs[i].PullLatestSHA = sha, ""
			if p := st.PRs[i].PendingActive; p != nil {
				st.PRs[i].Active, st.PRs[i].PendingActive = *p, nil
			}
		}
		if i >= 0 {
			epr.After = PRFieldsOf(st.PRs[i])
		}
		ev.PRs = []EventPR{epr}
		return nil
	}, func(before, after Snapshot) error {
		if fail {
			return errSimulatedCommit
		}
		ev.VersionBefore, ev.VersionAfter = before.Version, after.Version
		return log.Append(ctx, ev)
	})
	if errors.Is(err, errSimulatedCommit) {
		return false, nil
	}
	return err == nil, err
}

// TestTransactAuditConcurrentProcesses: writers in three processes change the state
// at random and record each change from Transact's commit. Afterwards the audit trail,
// replayed from the initial state, gives exactly the final state; its versions chain
// without a gap; and it holds exactly the committed changes.
func TestTransactAuditConcurrentProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	ctx := t.Context()
	initial, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log := OpenAuditLog(AuditPath(s.Path()), nil)
	const n = 60
	waits := []func() []string{
		startHelper(t, helperTransactAudit, s.Path(), 1, n),
		startHelper(t, helperTransactAudit, s.Path(), 2, n),
	}
	var wg sync.WaitGroup
	committed := make([]int, 3)
	for w := range committed {
		wg.Go(func() {
			store, alog := s, log
			if w > 0 {
				store, alog = NewStore(s.Path(), nil), OpenAuditLog(log.Path(), nil)
			}
			rng := rand.New(rand.NewPCG(uint64(100+w), 2))
			for i := range n {
				ok, err := randomTransact(ctx, store, alog, "parent"+strconv.Itoa(w), rng)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					committed[w]++
				}
				thinkTime(i)
			}
		})
	}
	wg.Wait()
	total := committed[0] + committed[1] + committed[2]
	for _, wait := range waits {
		out := wait()
		c, err := strconv.Atoi(out[len(out)-1])
		if err != nil {
			t.Fatalf("child said %q", out)
		}
		total += c
	}

	final, err := NewStore(s.Path(), nil).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := listAll(t, log, 7, 0)
	evs := reversed(listed)
	if len(evs) != total {
		t.Errorf("%d events, %d committed changes", len(evs), total)
	}
	model := map[int]*PRFields{}
	version := initial.Version
	for i, ev := range evs {
		if ev.VersionBefore != version {
			t.Fatalf("event %d (%s by %s) starts at version %s, the state was at %s", i, ev.Kind, ev.Actor, ev.VersionBefore, version)
		}
		version = ev.VersionAfter
		for _, p := range ev.PRs {
			if !cmp.Equal(model[p.Number], p.Before) {
				t.Fatalf("event %d: PR %d before = %+v, the trail says %+v", i, p.Number, p.Before, model[p.Number])
			}
			if p.After == nil {
				delete(model, p.Number)
			} else {
				model[p.Number] = p.After
			}
		}
	}
	if version != final.Version {
		t.Errorf("the trail ends at version %s, the state is at %s", version, final.Version)
	}
	got := map[int]*PRFields{}
	for _, pr := range final.State.PRs {
		got[pr.Number] = PRFieldsOf(pr)
	}
	if diff := cmp.Diff(model, got); diff != "" {
		t.Errorf("state (-replayed trail +file):\n%s", diff)
	}
	t.Logf("%d committed changes by 5 writers in 3 processes; %d PRs at the end", total, len(got))
}

// FuzzAuditLine: parsing a line never panics, and what it accepts writes back to a
// line that parses to the same event.
func FuzzAuditLine(f *testing.F) {
	for i := range 3 {
		line, _ := encodeEvent(testEvent(i))
		f.Add(line[:len(line)-1])
	}
	for _, s := range []string{
		"", "{}", "null", `{"id":"x"}`, `{"id":"x","time":"2026-01-02T03:04:05+01:00"}`,
		`{"id":"x","prs":[{"pr":1,"before":null,"after":{"commit":"a","pending_active":true}}]}`,
		`{"id":"x","prs":[{"pr":1e3}]}`, `{"id":"x","prs":[]}`, `{"id":"\ud800"}`, `{"id":"x"} {"id":"y"}`, "[", `{"id":"x","time":"0000-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := parseEventLine(line)
		if err != nil {
			return
		}
		out, err := encodeEvent(ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		if bytes.Count(out, []byte{'\n'}) != 1 {
			t.Fatalf("encoded event is not one line: %q", out)
		}
		again, err := parseEventLine(out[:len(out)-1])
		if err != nil {
			t.Fatalf("re-encoded event does not parse: %v", err)
		}
		if diff := cmp.Diff(ev, again, cmpopts.EquateEmpty()); diff != "" { // "prs":[] is left out
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzAuditFile: whatever the file holds, paging through it backwards never fails and
// finds exactly the events a plain forward read of its complete lines finds.
func FuzzAuditFile(f *testing.F) {
	var good []byte
	for i := range 5 {
		line, _ := encodeEvent(Event{ID: strconv.Itoa(i), PRs: []EventPR{{Number: i}}})
		good = append(good, line...)
	}
	f.Add(good, uint8(3), uint8(2))
	f.Add(append(append([]byte("junk\n\n{\n"), good...), `{"id":"torn`...), uint8(1), uint8(1))
	f.Add([]byte("\n\n\n"), uint8(0), uint8(0))
	f.Add(append(bytes.Repeat([]byte("x"), 300), good...), uint8(16), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk, pageSize uint8) {
		const maxLine = 100
		var want []Event
		lines := bytes.Split(data, []byte{'\n'})
		for _, line := range lines[:len(lines)-1] { // the last one is unterminated
			if len(line) > maxLine {
				continue
			}
			if ev, err := parseEventLine(line); err == nil {
				want = append(want, ev)
			}
		}
		a := OpenAuditLog("fuzz.jsonl", nil) // read from memory, through the same code as a file
		a.chunk, a.maxLine = 1+int(chunk), maxLine
		var got []Event
		token := ""
		for pages := 0; ; pages++ {
			page, next, err := a.list(t.Context(), bytes.NewReader(data), int64(len(data)), 1+int(pageSize)%10, token, 0)
			if err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			if len(page) == 0 || pages > len(data) {
				t.Fatalf("page %d: empty page or no end (next %q)", pages, next)
			}
			token = next
		}
		if diff := cmp.Diff(reversed(want), got); diff != "" {
			t.Errorf("(-forward +backward):\n%s", diff)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	a, _ := newTestAuditLog(b)
	ctx := b.Context()
	ev := testEvent(1)
	ev.ID, ev.Time = "", time.Time{}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Append(ctx, ev); err != nil { // fsynced, on the test's temp directory
			b.Fatal(err)
		}
	}
}

// benchAuditLog is a log of 100,000 events (about 40 MiB).
func benchAuditLog(b *testing.B) *AuditLog {
	a, _ := newTestAuditLog(b)
	writeEvents(b, a.Path(), testEvents(100_000))
	return a
}

func BenchmarkListNewestPage(b *testing.B) {
	a := benchAuditLog(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		evs, next, err := a.List(ctx, 50, "", 0)
		if err != nil || len(evs) != 50 || next == "" {
			b.Fatal(len(evs), next, err)
		}
	}
}

// BenchmarkListFilteredRare is the worst case: a PR that only the oldest event
// touched, so the whole log is read.
func BenchmarkListFilteredRare(b *testing.B) {
	a := benchAuditLog(b)
	f, err := os.OpenFile(a.Path(), os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	first := testEvent(0)
	first.PRs[0].Number = 424242
	line, _ := encodeEvent(first)
	rest, _ := io.ReadAll(f)
	f.Close()
	if err := os.WriteFile(a.Path(), append(line, rest...), 0o644); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(a.Path())
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		evs, _, err := a.List(ctx, 50, "", 424242)
		if err != nil || len(evs) != 1 {
			b.Fatal(len(evs), err)
		}
	}
}
