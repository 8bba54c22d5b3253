package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The journal makes a Transact safe against the process dying during its commit step.
//
// Transact writes the new state before commit runs (the deploy job reads the pins from
// the file) and puts the old bytes back when commit fails. If the process is killed
// while commit runs (during the Jenkins trigger, or between the rename and the audit
// append), nothing would put them back: the file would hold a change that nobody
// acknowledged, that the audit trail does not record, and — for a deploy — that makes
// the staged changes look deployed, so they could not be deployed again.
//
// So before writing, Transact writes a journal beside the state file (temp file, fsync,
// rename): the bytes to put back and the version the uncommitted write produces. It is
// removed once commit is done (committed, or undone). A journal that exists when a
// writer takes the lock was left by a writer that died holding it (writers keep the lock
// for the whole Transact). recoverLocked then puts the old bytes back if the file still
// holds exactly the uncommitted version, or only drops the journal if the file was
// changed since (the legacy page, which takes no lock, wrote over it: its write wins, as
// it would have anyway). Leftover temp files of writers that died are removed too.
//
// A writer that died after its commit finished but before it removed the journal is
// told apart by the audit trail: the commit's event (appended under the same lock) is
// the trail's last, with the journal's version as its version_after; the change then
// stands. (A commit that records no event cannot be told apart and is undone; in the
// service every commit records one.)

type journal struct {
	// VersionAfter is the version of the write whose commit had not finished.
	VersionAfter string `json:"version_after"`
	// Before is the file's exact bytes before that write, and Perm its permission bits.
	Before []byte `json:"before"`
	Perm   uint32 `json:"perm"`
}

func (s *Store) journalPath() string {
	dir, base := filepath.Split(s.path)
	return filepath.Join(dir, "."+base+".journal")
}

func (s *Store) writeJournal(cur lockedRead, versionAfter string) error {
	data, err := json.Marshal(journal{VersionAfter: versionAfter, Before: cur.raw, Perm: uint32(cur.perm)})
	if err != nil {
		return err
	}
	if _, err := s.writeAtomicTo(s.journalPath(), data, 0o600); err != nil {
		return err
	}
	return nil
}

func (s *Store) removeJournal() {
	if err := os.Remove(s.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Warn("could not remove the state file's journal", "path", s.journalPath(), "err", err)
	}
}

// Recover takes the lock and finishes what a writer that died left (see journal). It
// is done by every writer anyway; call it at start so that readers see the recovered
// file at once.
func (s *Store) Recover(ctx context.Context) error {
	unlock, err := s.lock.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	s.removeStaleTemps()
	s.recoverLocked()
	return nil
}

// recoverLocked undoes the uncommitted write of a writer that died (and then removes
// its temp files too). Callers hold the lock. Failures are logged: the next writer tries again.
func (s *Store) recoverLocked() {
	data, err := os.ReadFile(s.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return // the common case: one failed stat per write
	}
	s.removeStaleTemps()
	if err != nil {
		s.logger.Error("state file journal unreadable", "path", s.journalPath(), "err", err)
		return
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil || j.VersionAfter == "" {
		// Written by temp file + rename, so never torn; whatever this is, it says nothing.
		s.logger.Error("state file journal malformed; dropped", "path", s.journalPath(), "err", err)
		s.removeJournal()
		return
	}
	cur, err := os.ReadFile(s.path)
	current := ""
	if err == nil {
		if st, perr := Parse(cur); perr == nil {
			current = versionOf(st.Marshal())
		}
	}
	if current == j.VersionAfter && lastAuditVersion(AuditPath(s.path)) == j.VersionAfter {
		// The commit finished (its event is the last of the audit trail) and the writer
		// died just before removing the journal: the change stands.
		s.removeJournal()
		return
	}
	if current != j.VersionAfter {
		s.logger.Warn("a writer died while committing a change that was later overwritten; nothing to undo",
			"path", s.path, "uncommitted_version", j.VersionAfter, "current_version", current)
		s.removeJournal()
		return
	}
	if _, err := s.writeAtomic(j.Before, fs.FileMode(j.Perm).Perm()); err != nil {
		s.logger.Error("could not undo the uncommitted change a writer left when it died", "path", s.path, "err", err)
		return
	}
	s.setCache(nil)
	s.logger.Warn("undid a change whose commit never finished (the process writing it died, e.g. during a deploy's Jenkins trigger); the state file is back to what it was",
		"path", s.path, "uncommitted_version", j.VersionAfter)
	s.removeJournal()
}

// removeStaleTemps removes temp files our writers leave when they die between creating
// and renaming them. Only lock holders create them, so under the lock any that exists
// is stale. (The legacy page's temp files have other names and are left alone.)
func (s *Store) removeStaleTemps() {
	dir, base := filepath.Split(s.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		// The state file's temp files, and the journal's (its name starts with a dot too).
		if strings.HasPrefix(name, "."+base+".tmp-") || strings.HasPrefix(name, ".."+base+".journal.tmp-") {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
}

// lastAuditVersion is the version_after of the audit trail's last complete event; ""
// when there is none or it cannot be read.
func lastAuditVersion(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	sc, err := newBackScanner(f, fi.Size(), 64<<10, 1<<20)
	if err != nil {
		return ""
	}
	line, _, err := sc.prev()
	if err != nil {
		return ""
	}
	ev, err := parseEventLine(line)
	if err != nil {
		return ""
	}
	return ev.VersionAfter
}
