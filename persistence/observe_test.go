package persistence

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// writeLog records what ObserveWrites reports.
type writeLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *writeLog) observe(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	l.errs = append(l.errs, err)
}

// counts returns the writes observed so far that succeeded and failed.
func (l *writeLog) counts() (ok, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		if err == nil {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

// Every replacement of the state file is observed once, and nothing else is: refused
// and no-op writes write nothing, a failed commit writes twice (the change, then the
// old bytes back); the journal is not the state file.
func TestObserveWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newTestStore(t, nil)
	var log writeLog
	s.ObserveWrites(log.observe)
	check := func(step string, wantOK int) {
		t.Helper()
		if ok, failed := log.counts(); ok != wantOK || failed != 0 {
			t.Fatalf("after %s: %d writes observed ok, %d failed; want %d ok", step, ok, failed, wantOK)
		}
	}

	if _, created, err := s.Create(ctx); err != nil || !created {
		t.Fatalf("Create: created %v, %v", created, err)
	}
	check("Create", 1)
	if _, _, err := s.Create(ctx); err != nil {
		t.Fatal(err)
	}
	check("a second Create", 1)
	first, err := s.Update(ctx, "", addPR(1))
	if err != nil {
		t.Fatal(err)
	}
	check("Update", 2)
	if _, err := s.Update(ctx, "", func(*State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	check("a no-op Update", 2)
	if _, err := s.Update(ctx, "stale", addPR(2)); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale Update: %v", err)
	}
	check("a refused Update", 2)
	boom := errors.New("jenkins said no")
	if _, err := s.Transact(ctx, first.Version, addPR(3), func(Snapshot, Snapshot) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Transact: %v", err)
	}
	check("a failed commit", 4)
	if _, err := s.Transact(ctx, first.Version, addPR(3), func(Snapshot, Snapshot) error { return nil }); err != nil {
		t.Fatal(err)
	}
	check("a committed Transact", 5)

	s.ObserveWrites(nil)
	if _, err := s.Update(ctx, "", addPR(4)); err != nil {
		t.Fatal(err)
	}
	check("observing stopped", 5)
}

// A write that fails is observed with its error.
func TestObserveWritesFailure(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root writes into a read-only directory")
	}
	s, _ := newTestStore(t, []byte(`{"last_deploy_at": "", "prs": []}`))
	var log writeLog
	s.ObserveWrites(log.observe)
	dir := filepath.Dir(s.Path())
	// The lock file must exist before the directory becomes read-only.
	if _, err := s.Update(t.Context(), "", addPR(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	if _, err := s.Update(t.Context(), "", addPR(2)); err == nil {
		t.Fatal("Update in a read-only directory succeeded")
	}
	if ok, failed := log.counts(); ok != 1 || failed != 1 {
		t.Errorf("%d writes observed ok, %d failed; want 1 and 1", ok, failed)
	}
}
