package persistence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-cmp/cmp"
)

// newTestStore returns a Store on a file in a fresh directory, holding content
// (nil: no file), and a buffer receiving its logs.
func newTestStore(t testing.TB, content []byte) (*Store, *bytes.Buffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "_testing-prs.json")
	if content != nil {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		ageFile(t, path)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewStore(path, logger), &logs
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// ageFile moves a file's modification time out of the racy window, so Load caches it.
func ageFile(t testing.TB, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func addPR(n int) func(*State) error {
	return func(st *State) error {
		st.PRs = append(st.PRs, NewPR(n, fmt.Sprintf("%040x", n)))
		return nil
	}
}

func TestStoreMissingFile(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	_, err := s.Load(t.Context())
	if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load: %v, want ErrNotExist and fs.ErrNotExist", err)
	}
	_, err = s.Update(t.Context(), "", addPR(1))
	if !errors.Is(err, ErrNotExist) {
		t.Errorf("Update: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Update created the file: %v", err)
	}
}

func TestStoreCreate(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, nil)
	snap, created, err := s.Create(t.Context())
	if err != nil || !created {
		t.Fatalf("Create = %v, %v", created, err)
	}
	want := "{\n  \"last_deploy_at\": \"\",\n  \"prs\": []\n}"
	if got := string(readFile(t, s.Path())); got != want {
		t.Errorf("created file = %q, want %q", got, want)
	}
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("created file mode: %v, %v", fi.Mode(), err)
	}
	if snap.Version == "" || len(snap.State.PRs) != 0 {
		t.Errorf("snapshot = %+v", snap)
	}
	loaded, err := s.Load(t.Context())
	if err != nil || loaded.Version != snap.Version {
		t.Errorf("Load after Create = %q, %v; want version %q", loaded.Version, err, snap.Version)
	}

	// Only if the file does not exist.
	if _, err := s.Update(t.Context(), "", addPR(1)); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, s.Path())
	again, created, err := s.Create(t.Context())
	if err != nil || created {
		t.Fatalf("second Create = %v, %v", created, err)
	}
	if len(again.State.PRs) != 1 || !bytes.Equal(readFile(t, s.Path()), before) {
		t.Error("second Create changed the file")
	}
}

func TestStoreCreateOnCorruptFile(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte("{broken"))
	_, created, err := s.Create(t.Context())
	if !errors.Is(err, ErrCorrupt) || created {
		t.Errorf("Create = %v, %v; want ErrCorrupt", created, err)
	}
	if got := string(readFile(t, s.Path())); got != "{broken" {
		t.Errorf("file changed to %q", got)
	}
}

func TestStoreUpdate(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	ctx := t.Context()
	first, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}

	snap, err := s.Update(ctx, first.Version, func(st *State) error {
		i, _ := st.Find(13269)
		st.PRs[i].PendingActive = ptr(false)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version == first.Version {
		t.Error("version did not change")
	}
	if got := readFile(t, s.Path()); !bytes.Equal(got, snap.State.Marshal()) {
		t.Errorf("file is not the snapshot's canonical form:\n%s", got)
	}
	if p := snap.State.PRs[2].PendingActive; p == nil || *p {
		t.Errorf("snapshot pending_active = %v", p)
	}
	if first.State.PRs[2].PendingActive != nil {
		t.Error("Update changed the earlier snapshot's state")
	}
	loaded, err := s.Load(ctx)
	if err != nil || loaded.Version != snap.Version {
		t.Errorf("Load = %q, %v; want %q", loaded.Version, err, snap.Version)
	}
	// Nothing else moved: the file is Python's form of the fixture plus the change.
	// (PR 13269 holds the second "pending_active": null.)
	want := replaceNth(string(readFile(t, "testdata/marshal/testing-prs.json.golden")),
		`"pending_active": null`, `"pending_active": false`, 1)
	if got := string(readFile(t, s.Path())); got != want {
		t.Errorf("file (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// replaceNth replaces the nth (0-based) occurrence of old.
func replaceNth(s, old, new string, n int) string {
	at := 0
	for range n + 1 {
		i := strings.Index(s[at:], old)
		if i < 0 {
			return s
		}
		at += i + len(old)
	}
	at -= len(old)
	return s[:at] + new + s[at+len(old):]
}

func TestStoreUpdateNoOp(t *testing.T) {
	t.Parallel()
	// The fixture is not in Python's layout: a no-op must not reformat it either.
	original := readFile(t, "testdata/marshal/testing-prs.json")
	s, _ := newTestStore(t, original)
	ctx := t.Context()
	first, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(s.Path())
	for name, fn := range map[string]func(*State) error{
		"nothing":                func(*State) error { return nil },
		"same value":             func(st *State) error { st.PRs[0].Title = "Fix search facets fallback"; return nil },
		"staging the no-op":      func(st *State) error { st.PRs[0].PendingActive = ptr(true); return nil },
		"change and change back": func(st *State) error { st.LastDeployAt = "x"; st.LastDeployAt = first.State.LastDeployAt; return nil },
	} {
		snap, err := s.Update(ctx, first.Version, fn)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if snap.Version != first.Version {
			t.Errorf("%s: version changed", name)
		}
	}
	fi2, _ := os.Stat(s.Path())
	if !bytes.Equal(readFile(t, s.Path()), original) || !os.SameFile(fi1, fi2) || !fi1.ModTime().Equal(fi2.ModTime()) {
		t.Error("a no-op Update wrote the file")
	}
}

func TestStoreVersionChangesOnEveryChange(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/unknown-keys.json"))
	ctx := t.Context()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	initial := snap
	seen := map[string]string{snap.Version: "initial"}
	changes := []struct {
		name string
		fn   func(*State)
	}{
		{"last_deploy_at", func(st *State) { st.LastDeployAt = "2026-08-05T18:00:00+00:00" }},
		{"deploy_started_at", func(st *State) { st.DeployStartedAt = "2026-08-05T18:00:01+00:00" }},
		{"deployed", func(st *State) { st.Deployed = []DeployedEntry{{"2", "x"}} }},
		{"deployed title", func(st *State) { st.Deployed[0].Title = "y" }},
		{"add", func(st *State) { st.PRs = append(st.PRs, NewPR(5, "c5")) }},
		{"commit", func(st *State) { st.PRs[0].Commit = "c1b" }},
		{"active", func(st *State) { st.PRs[0].Active = true }},
		{"pending", func(st *State) { st.PRs[0].PendingActive = ptr(false) }},
		{"title", func(st *State) { st.PRs[1].Title = "new" }},
		{"pull_latest_sha", func(st *State) { st.PRs[1].PullLatestSHA = "abc" }},
		{"author", func(st *State) { st.PRs[1].Author = "a" }},
		{"assignee avatar", func(st *State) { st.PRs[1].AssigneeAvatar = "b" }},
		{"reorder", func(st *State) { st.PRs[0], st.PRs[1] = st.PRs[1], st.PRs[0] }},
		{"remove", func(st *State) { st.PRs = st.PRs[:1] }},
	}
	for _, c := range changes {
		next, err := s.Update(ctx, snap.Version, func(st *State) error { c.fn(st); return nil })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if prev, ok := seen[next.Version]; ok {
			t.Errorf("%s: version %s already seen at %s", c.name, next.Version, prev)
		}
		seen[next.Version] = c.name
		snap = next
	}
	// A version names content: going back to an earlier state gives its version back.
	back, err := s.Update(ctx, snap.Version, func(st *State) error { *st = *initial.State.Clone(); return nil })
	if err != nil || back.Version != initial.Version {
		t.Errorf("restored state has version %s (%v), want %s", back.Version, err, initial.Version)
	}

	// The unknown keys survived every rewrite.
	out := string(readFile(t, s.Path()))
	for _, want := range []string{`"zeta": {`, `"deep"`, `"extra_list": []`, `"big": 123456789012345678901234567890`} {
		if !strings.Contains(out, want) {
			t.Errorf("unknown key lost: %s not in\n%s", want, out)
		}
	}
}

func TestStoreUpdateErrors(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		expected func(current string) string
		fn       func(*State) error
		want     error
	}{
		{"version mismatch", func(string) string { return "0123456789abcdef" }, addPR(1), ErrVersionMismatch},
		{"fn error returned as is", func(v string) string { return v }, func(st *State) error {
			st.PRs = nil // changes made before failing are dropped
			return errBoom
		}, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			original := readFile(t, "testdata/marshal/testing-prs.json")
			s, _ := newTestStore(t, original)
			snap, err := s.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Update(t.Context(), tt.expected(snap.Version), tt.fn)
			if !errors.Is(err, tt.want) {
				t.Errorf("Update: %v, want %v", err, tt.want)
			}
			if !bytes.Equal(readFile(t, s.Path()), original) {
				t.Error("file changed")
			}
			entries, _ := os.ReadDir(filepath.Dir(s.Path()))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
		})
	}
}

func TestStoreCorruptFile(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-title"
	content := []byte("{\n  \"prs\": [\n    {\"pr\": \"13269\", \"commit\": \"a\", \"title\": \"" + secret + "\"}\n  ]\n}")
	s, logs := newTestStore(t, content)
	ctx := t.Context()

	_, err := s.Load(ctx)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load: %v, want a *CorruptError", err)
	}
	want := &CorruptError{Path: s.Path(), Line: 3, Column: 12, Reason: "prs[0].pr: want an integer, got string"}
	if diff := cmp.Diff(want, ce); diff != "" {
		t.Errorf("CorruptError (-want +got):\n%s", diff)
	}
	// Reported again from the cache, logged once.
	if _, err2 := s.Load(ctx); !errors.Is(err2, ErrCorrupt) {
		t.Errorf("second Load: %v", err2)
	}
	for _, fn := range []func() error{
		func() error { _, err := s.Update(ctx, "", addPR(1)); return err },
		func() error {
			_, err := s.Update(ctx, "", func(st *State) error { *st = *NewState(); return nil })
			return err
		},
	} {
		if err := fn(); !errors.As(err, &ce) || ce.Line != 3 {
			t.Errorf("Update: %v, want the CorruptError", err)
		}
	}
	if !bytes.Equal(readFile(t, s.Path()), content) {
		t.Error("a refused Update changed the corrupt file")
	}
	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, "13269") {
		t.Errorf("log shows file content:\n%s", out)
	}
	if n := strings.Count(out, "state file is corrupt"); n != 3 { // one Load (cached after) + two Updates
		t.Errorf("logged %d times, want 3:\n%s", n, out)
	}
	for _, want := range []string{"line=3", "column=12", "path=" + s.Path()} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

func TestStoreLoadRetriesTornWrite(t *testing.T) {
	t.Parallel()
	full := readFile(t, "testdata/marshal/testing-prs.json")
	tests := []struct {
		name    string
		fix     bool // the writer finishes during the pause
		wantErr bool
	}{
		{"finished during the pause", true, false},
		{"still torn", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, full[:len(full)/2])
			pauses := 0
			s.pause = func(ctx context.Context, d time.Duration) error {
				pauses++
				if d < 10*time.Millisecond || d > 100*time.Millisecond {
					t.Errorf("pause of %v", d)
				}
				if tt.fix {
					return os.WriteFile(s.Path(), full, 0o644) // the non-atomic rewrite completes
				}
				return nil
			}
			snap, err := s.Load(t.Context())
			if pauses != 1 {
				t.Errorf("paused %d times, want 1", pauses)
			}
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("Load: %v", err)
			}
			if err == nil && len(snap.State.PRs) != 3 {
				t.Errorf("loaded %d PRs", len(snap.State.PRs))
			}
		})
	}
}

func TestStoreLoadCache(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	ctx := t.Context()
	a, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Load(ctx)
	if err != nil || a.State != b.State {
		t.Fatalf("warm Load re-read the file (err %v)", err)
	}

	// Another writer replaces the file (legacy: temp file + rename).
	legacy := filepath.Join(filepath.Dir(s.Path()), "_testing-prs.tmp")
	st := a.State.Clone()
	st.PRs[0].Title = "Changed by legacy"
	if err := os.WriteFile(legacy, st.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(legacy, s.Path()); err != nil {
		t.Fatal(err)
	}
	c, err := s.Load(ctx)
	if err != nil || c.Version == a.Version || c.State.PRs[0].Title != "Changed by legacy" {
		t.Fatalf("Load after rename: %v, title %q", err, c.State.PRs[0].Title)
	}

	// An in-place rewrite with the same size: only the modification time tells.
	ageFile(t, s.Path())
	d, _ := s.Load(ctx)
	st.PRs[0].Title = "Changed by legacX" // same length
	if err := os.WriteFile(s.Path(), st.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := s.Load(ctx)
	if err != nil || e.State == d.State || e.State.PRs[0].Title != "Changed by legacX" {
		t.Fatalf("Load after in-place rewrite: %v, title %q", err, e.State.PRs[0].Title)
	}
	// A file modified a moment ago is not cached: it could change again unseen.
	f, _ := s.Load(ctx)
	if f.State == e.State {
		t.Error("a racily fresh file was cached")
	}

	// Removed: reported, not served from the cache.
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrNotExist) {
		t.Errorf("Load after remove: %v", err)
	}
}

func TestStoreUpdateSeesExternalChange(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	ctx := t.Context()
	if _, err := s.Load(ctx); err != nil { // warm the cache
		t.Fatal(err)
	}
	// Legacy adds a PR behind our back, rewriting the file in place.
	st := mustParse(t, string(readFile(t, s.Path())))
	st.PRs = append(st.PRs, NewPR(777, "c"))
	if err := os.WriteFile(s.Path(), st.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Update(ctx, "", addPR(888))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{777, 888} {
		if _, ok := snap.State.Find(n); !ok {
			t.Errorf("PR %d lost", n)
		}
	}
}

func TestStoreUpdateKeepsPermissions(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	if err := os.Chmod(s.Path(), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(t.Context(), "", addPR(1)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after Update = %v, %v; want 0640", fi.Mode(), err)
	}
	lock, err := os.Stat(s.Path() + ".lock")
	if err != nil || !lock.Mode().IsRegular() {
		t.Errorf("lock file: %v", err)
	}
}

func TestStoreUpdateHonoursContextWhileLocked(t *testing.T) {
	t.Parallel()
	original := readFile(t, "testdata/marshal/testing-prs.json")
	s, _ := newTestStore(t, original)
	other := flock.New(s.Path() + ".lock") // another process holds the lock
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Update(ctx, "", addPR(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update: %v, want DeadlineExceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("Update waited far past its deadline")
	}
	// A second writer in this process waits on the first one's turn, also bounded.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	if _, _, err := s.Create(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Create: %v, want DeadlineExceeded", err)
	}
	if !bytes.Equal(readFile(t, s.Path()), original) {
		t.Error("file changed")
	}
	other.Unlock()
	if _, err := s.Update(t.Context(), "", addPR(1)); err != nil {
		t.Errorf("Update after unlock: %v", err)
	}
}

func TestStoreWriteFailureRemovesTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := NewStore(target, nil)
	if _, err := s.writeAtomic([]byte("{}"), 0o644); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "state" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestStoreConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Half share one Store, half have their own (as separate processes
			// would), so both the in-process queue and the flock are exercised.
			store := s
			if i%2 == 1 {
				store = NewStore(s.Path(), nil)
			}
			_, errs[i] = store.Update(t.Context(), "", addPR(1000+i))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkAllPresent(t, s, 1000, n)
}

func TestStoreLoadDuringUpdates(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	ctx := t.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			reader := NewStore(s.Path(), nil)
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, st := range []*Store{s, reader} {
					snap, err := st.Load(ctx)
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					if got := versionOf(snap.State.Marshal()); got != snap.Version {
						t.Errorf("snapshot version %s does not match its state (%s)", snap.Version, got)
						return
					}
				}
			}
		})
	}
	for i := range 20 {
		if _, err := s.Update(ctx, "", addPR(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	checkAllPresent(t, s, 1, 20)
}

func checkAllPresent(t *testing.T, s *Store, from, n int) {
	t.Helper()
	snap, err := NewStore(s.Path(), nil).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.State.PRs) != n {
		t.Errorf("%d PRs, want %d", len(snap.State.PRs), n)
	}
	for i := range n {
		if _, ok := snap.State.Find(from + i); !ok {
			t.Errorf("PR %d lost", from+i)
		}
	}
}

// TestStoreTransactCommitFails: a failed commit leaves the file with exactly the bytes
// and mode it had, even when our writer would have reformatted it, while the commit
// itself saw the new state on disk (the deploy job reads it).
func TestStoreTransactCommitFails(t *testing.T) {
	t.Parallel()
	errJenkins := errors.New("jenkins refused")
	for _, fixture := range []string{"testing-prs.json", "crlf-tabs.json", "legacy-array.json", "unknown-keys.json"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			original := readFile(t, filepath.Join("testdata/marshal", fixture))
			s, logs := newTestStore(t, original)
			if err := os.Chmod(s.Path(), 0o640); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			first, err := s.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(first.State.Marshal(), original) {
				t.Fatal("fixture is in our own format: it cannot show a reformatting restore")
			}
			calls := 0
			_, err = s.Transact(ctx, first.Version, addPR(4242), func(before, after Snapshot) error {
				calls++
				if before.Version != first.Version || after.Version == first.Version {
					t.Errorf("commit(before %s, after %s); first is %s", before.Version, after.Version, first.Version)
				}
				if _, ok := after.State.Find(4242); !ok {
					t.Error("after lacks the change")
				}
				if got := readFile(t, s.Path()); !bytes.Equal(got, after.State.Marshal()) {
					t.Errorf("commit does not see the new state on disk:\n%s", got)
				}
				return fmt.Errorf("trigger deploy: %w", errJenkins)
			})
			if !errors.Is(err, errJenkins) || calls != 1 {
				t.Fatalf("Transact: %v (commit called %d times), want the commit's error", err, calls)
			}
			if got := readFile(t, s.Path()); !bytes.Equal(got, original) {
				t.Errorf("file not restored byte for byte (-want +got):\n%s", cmp.Diff(string(original), string(got)))
			}
			if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode after restore = %v, %v; want 0640", fi.Mode(), err)
			}
			for _, st := range []*Store{s, NewStore(s.Path(), nil)} { // this Store's cache, and a fresh read
				snap, err := st.Load(ctx)
				if err != nil || snap.Version != first.Version {
					t.Errorf("Load after restore = %q, %v; want %q", snap.Version, err, first.Version)
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(s.Path()))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
			if !strings.Contains(logs.String(), "restored after a failed commit") {
				t.Errorf("restore not logged:\n%s", logs)
			}
			// Retryable: the same change goes through once the commit succeeds.
			snap, err := s.Transact(ctx, first.Version, addPR(4242), func(Snapshot, Snapshot) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := snap.State.Find(4242); !ok {
				t.Error("retry lost the change")
			}
		})
	}
}

func TestStoreTransactCommitted(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	ctx := t.Context()
	first, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotBefore, gotAfter Snapshot
	snap, err := s.Transact(ctx, "", addPR(5), func(before, after Snapshot) error {
		gotBefore, gotAfter = before, after
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotBefore.Version != first.Version || gotAfter.Version != snap.Version || snap.Version == first.Version {
		t.Errorf("commit saw %s → %s; Transact returned %s; started at %s", gotBefore.Version, gotAfter.Version, snap.Version, first.Version)
	}
	if _, ok := gotBefore.State.Find(5); ok {
		t.Error("before holds the change")
	}
	if got := readFile(t, s.Path()); !bytes.Equal(got, snap.State.Marshal()) {
		t.Error("file is not the committed state")
	}
}

func TestStoreTransactNoOp(t *testing.T) {
	t.Parallel()
	original := readFile(t, "testdata/marshal/testing-prs.json")
	s, _ := newTestStore(t, original)
	ctx := t.Context()
	first, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errCommit := errors.New("commit failed")
	for _, commitErr := range []error{nil, errCommit} {
		calls := 0
		snap, err := s.Transact(ctx, first.Version, func(*State) error { return nil }, func(before, after Snapshot) error {
			calls++
			if before.Version != first.Version || after.Version != before.Version || after.State != before.State {
				t.Errorf("no-op commit(before %s, after %s), want both %s and the same state", before.Version, after.Version, first.Version)
			}
			return commitErr
		})
		if calls != 1 || !errors.Is(err, commitErr) || (err == nil && snap.Version != first.Version) {
			t.Errorf("commit error %v: Transact = %s, %v; commit called %d times", commitErr, snap.Version, err, calls)
		}
	}
	if !bytes.Equal(readFile(t, s.Path()), original) {
		t.Error("a no-op Transact wrote the file")
	}
}

func TestStoreTransactRefusedDoesNotCommit(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	fixture := readFile(t, "testdata/marshal/testing-prs.json")
	tests := []struct {
		name     string
		content  []byte // nil: no file
		expected string
		fn       func(*State) error
		want     error
	}{
		{"fn error", fixture, "", func(st *State) error { st.PRs = nil; return errBoom }, errBoom},
		{"version mismatch", fixture, "0123456789abcdef", addPR(1), ErrVersionMismatch},
		{"missing file", nil, "", addPR(1), ErrNotExist},
		{"corrupt file", []byte("{broken"), "", addPR(1), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, tt.content)
			_, err := s.Transact(t.Context(), tt.expected, tt.fn, func(Snapshot, Snapshot) error {
				t.Error("commit called")
				return nil
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("Transact: %v, want %v", err, tt.want)
			}
			if tt.content != nil && !bytes.Equal(readFile(t, s.Path()), tt.content) {
				t.Error("file changed")
			}
		})
	}
}

// TestStoreTransactCommitHoldsLock: another writer (here with its own Store, as another
// process would be) waits until the commit is done, and then builds on the result.
func TestStoreTransactCommitHoldsLock(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	ctx := t.Context()
	other := NewStore(s.Path(), nil)
	otherDone := make(chan error, 1)
	_, err := s.Transact(ctx, "", addPR(1), func(before, after Snapshot) error {
		go func() {
			_, err := other.Update(ctx, "", addPR(2))
			otherDone <- err
		}()
		select {
		case err := <-otherDone:
			t.Errorf("a concurrent Update finished while the commit held the lock (%v)", err)
		case <-time.After(100 * time.Millisecond):
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-otherDone; err != nil {
		t.Fatal(err)
	}
	checkAllPresent(t, s, 1, 2)
}

func TestStoreTransactRestoreFails(t *testing.T) {
	t.Parallel()
	s, logs := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	errCommit := errors.New("jenkins unreachable")
	_, err := s.Transact(t.Context(), "", addPR(1), func(Snapshot, Snapshot) error {
		// Something replaces the file by a directory that a rename cannot replace.
		if err := os.Remove(s.Path()); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(s.Path(), "child"), 0o755); err != nil {
			t.Fatal(err)
		}
		return errCommit
	})
	if !errors.Is(err, errCommit) || !strings.Contains(err.Error(), "restoring the state file failed") {
		t.Errorf("Transact: %v; want the commit error and the restore failure", err)
	}
	var pe *fs.PathError
	var le *os.LinkError
	if !errors.As(err, &pe) && !errors.As(err, &le) {
		t.Errorf("Transact: %v does not wrap the restore's error", err)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "STATE FILE NOT RESTORED") {
		t.Errorf("restore failure not logged loudly:\n%s", out)
	}
}

func TestStoreTransactCommitPanics(t *testing.T) {
	t.Parallel()
	original := readFile(t, "testdata/marshal/testing-prs.json")
	s, _ := newTestStore(t, original)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the commit's panic", r)
			}
		}()
		_, _ = s.Transact(t.Context(), "", addPR(1), func(Snapshot, Snapshot) error { panic("boom") })
	}()
	if !bytes.Equal(readFile(t, s.Path()), original) {
		t.Error("file not restored after a panicking commit")
	}
	// The lock was released.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.Update(ctx, "", addPR(1)); err != nil {
		t.Errorf("Update after the panic: %v", err)
	}
}

const helperEnv = "PERSISTENCE_TEST_HELPER_STATE_FILE"

const helperDieInCommit = "die-in-commit"

// TestHelperProcess is not a test: TestStoreConcurrentProcesses runs the test binary
// again with it to get a second process writing the same file; the audit tests do too,
// with <helperEnv>_MODE set (see auditHelper).
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestStoreConcurrentProcesses")
	}
	from, _ := strconv.Atoi(os.Getenv(helperEnv + "_FROM"))
	n, _ := strconv.Atoi(os.Getenv(helperEnv + "_N"))
	switch mode := os.Getenv(helperEnv + "_MODE"); mode {
	case "": // TestStoreConcurrentProcesses, below
	case helperAuditAppend, helperTransactAudit: // audit_test.go
		os.Exit(auditHelper(mode, path, from, n))
	case helperDieInCommit: // TestStoreRecoversFromDeathInCommit
		s := NewStore(path, nil)
		_, err := s.Transact(context.Background(), "", addPR(from), func(Snapshot, Snapshot) error {
			os.Exit(3) // as a SIGKILL during the Jenkins trigger: no deferred function runs
			return nil
		})
		fmt.Fprintln(os.Stderr, "helper: Transact returned", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
		os.Exit(2)
	}
	s := NewStore(path, nil)
	fmt.Println("ready")
	for i := range n {
		if _, err := s.Update(context.Background(), "", addPR(from+i)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		thinkTime(i)
	}
	os.Exit(0)
}

// thinkTime spaces a test writer's updates a little, as requests are: a writer
// that re-locks the instant it unlocks starves one that polls for the flock.
func thinkTime(i int) { time.Sleep(time.Duration(i%4) * time.Millisecond) }

func TestStoreConcurrentProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a process")
	}
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	const n = 100
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+s.Path(), helperEnv+"_FROM=2000", helperEnv+"_N="+strconv.Itoa(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Start writing once the child is about to, so that the two really overlap.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child said %q, %v; stderr:\n%s", line, err, stderr.String())
	}
	for i := range n {
		if _, err := s.Update(t.Context(), "", addPR(1000+i)); err != nil {
			t.Fatal(err)
		}
		thinkTime(i)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}

	snap, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.State.PRs) != 2*n {
		t.Errorf("%d PRs, want %d", len(snap.State.PRs), 2*n)
	}
	for _, from := range []int{1000, 2000} {
		for i := range n {
			if _, ok := snap.State.Find(from + i); !ok {
				t.Errorf("PR %d lost", from+i)
			}
		}
	}
	// Both interleaved rather than one running after the other.
	first := snap.State.PRs[0].Number / 1000
	switches := 0
	for _, pr := range snap.State.PRs[1:] {
		if pr.Number/1000 != first {
			switches++
			first = pr.Number / 1000
		}
	}
	t.Logf("writers alternated %d times", switches)
	if switches < 2 {
		t.Errorf("the two writers did not overlap (%d alternations)", switches)
	}
}

func TestStoreWatch(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, readFile(t, "testdata/marshal/testing-prs.json"))
	ctx, cancel := context.WithCancel(t.Context())
	ch := s.Watch(ctx, 5*time.Millisecond)
	recv := func() Snapshot {
		t.Helper()
		select {
		case snap := <-ch:
			return snap
		case <-time.After(5 * time.Second):
			t.Fatal("no snapshot")
		}
		return Snapshot{}
	}
	first := recv()
	updated, err := s.Update(t.Context(), first.Version, addPR(5))
	if err != nil {
		t.Fatal(err)
	}
	if got := recv(); got.Version != updated.Version {
		t.Errorf("watched version %s, want %s", got.Version, updated.Version)
	}
	cancel()
	for range ch { // closed once ctx is done
	}
}

func BenchmarkLoadWarm(b *testing.B) {
	s, _ := newTestStore(b, benchState(50).Marshal())
	ctx := b.Context()
	if _, err := s.Load(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadCold(b *testing.B) {
	s, _ := newTestStore(b, benchState(50).Marshal())
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		s.setCache(nil)
		if _, err := s.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	s, _ := newTestStore(b, benchState(50).Marshal())
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Update(ctx, "", func(st *State) error { st.LastDeployAt = strconv.Itoa(i); return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// A process that dies while a commit runs (a SIGKILL during the Jenkins trigger) leaves
// its uncommitted change on disk; the next writer, or Recover at start, puts the old
// bytes back, unless the file was written over since.
func TestStoreRecoversFromDeathInCommit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a process")
	}
	original := readFile(t, "testdata/marshal/testing-prs.json")
	die := func(t *testing.T, s *Store) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+s.Path(), helperEnv+"_MODE="+helperDieInCommit, helperEnv+"_FROM=777")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		if got := readFile(t, s.Path()); bytes.Equal(got, original) {
			t.Fatal("the dying commit left no change: nothing to recover from")
		}
	}
	tests := []struct {
		name    string
		recover func(t *testing.T, s *Store) // what comes after the death
		want    func(t *testing.T, s *Store)
	}{
		{
			name: "Recover at start",
			recover: func(t *testing.T, s *Store) {
				if err := s.Recover(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			want: func(t *testing.T, s *Store) {
				if got := readFile(t, s.Path()); !bytes.Equal(got, original) {
					t.Errorf("not restored byte for byte:\n%s", got)
				}
			},
		},
		{
			name: "the next writer",
			recover: func(t *testing.T, s *Store) {
				if _, err := s.Update(t.Context(), "", addPR(888)); err != nil {
					t.Fatal(err)
				}
			},
			want: func(t *testing.T, s *Store) {
				snap, err := NewStore(s.Path(), nil).Load(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				_, dead := snap.State.Find(777)
				_, next := snap.State.Find(888)
				if dead || !next {
					t.Errorf("after the next write: #777 (uncommitted) present %v, #888 present %v; want false, true", dead, next)
				}
			},
		},
		{
			name: "written over since (legacy, no lock)",
			recover: func(t *testing.T, s *Store) {
				legacy := append(bytes.TrimSpace(readFile(t, s.Path())), ' ')
				if err := os.WriteFile(s.Path(), legacy, 0o644); err != nil { // a different version of the same content
					t.Fatal(err)
				}
				st, err := Parse(legacy)
				if err != nil {
					t.Fatal(err)
				}
				st.PRs = append(st.PRs, NewPR(999, "abcdef0"))
				if err := os.WriteFile(s.Path(), st.Marshal(), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := s.Recover(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			want: func(t *testing.T, s *Store) {
				snap, err := NewStore(s.Path(), nil).Load(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := snap.State.Find(999); !ok {
					t.Error("the later write was undone")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestStore(t, original)
			die(t, s)
			// The dead writer's temp files and journal are all that is left of it.
			tt.recover(t, s)
			tt.want(t, s)
			entries, _ := os.ReadDir(filepath.Dir(s.Path()))
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") || strings.HasSuffix(e.Name(), ".journal") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// A writer that died after its commit finished (its event is the last of the audit
// trail) but before it removed the journal keeps its change.
func TestStoreRecoverKeepsACommittedChange(t *testing.T) {
	t.Parallel()
	original := readFile(t, "testdata/marshal/testing-prs.json")
	s, _ := newTestStore(t, original)
	ctx := t.Context()
	log := OpenAuditLog(AuditPath(s.Path()), nil)
	var journal []byte
	snap, err := s.Transact(ctx, "", addPR(4321), func(before, after Snapshot) error {
		if err := log.Append(ctx, Event{Time: time.Now(), Kind: "add", VersionBefore: before.Version, VersionAfter: after.Version}); err != nil {
			return err
		}
		journal = readFile(t, s.journalPath()) // as it is when the writer dies right here
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.journalPath(), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := NewStore(s.Path(), nil).Load(ctx)
	if err != nil || got.Version != snap.Version {
		t.Errorf("after Recover: version %s, %v; want the committed %s", got.Version, err, snap.Version)
	}
	if _, err := os.Stat(s.journalPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal still there: %v", err)
	}
}
