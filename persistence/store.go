package persistence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotExist means there is no state file. It matches fs.ErrNotExist too.
var ErrNotExist = fmt.Errorf("state file does not exist: %w", fs.ErrNotExist)

// ErrVersionMismatch means an Update was made against a version that is no longer
// the current one; nothing was written.
var ErrVersionMismatch = errors.New("state file version mismatch")

const (
	// corruptRetryDelay: the deploy script's bookmarklet mode rewrites the file in
	// place (truncate, then write), so a reader can catch it half written. A parse
	// failure is confirmed by one more read after this pause.
	corruptRetryDelay = 20 * time.Millisecond
	// lockRetryDelay is how often a waiting writer retries the flock.
	lockRetryDelay = 5 * time.Millisecond
	// racyWindow: file timestamps are coarse (a kernel tick), so a file modified very
	// recently could be modified again without its stat changing. Like git's "racily
	// clean" rule, such a read is not cached; the next Load reads again.
	racyWindow = time.Second
	// maxStateSize bounds what Load reads; a real file is a few KiB per PR.
	maxStateSize = 64 << 20
	newFileMode  = 0o644
)

// Snapshot is one version of the state file.
type Snapshot struct {
	// State is shared between callers and read-only: Clone it before changing it.
	State *State
	// Version is opaque and changes whenever the state does: a hash of the state's
	// canonical bytes (Marshal), so reformatting the file alone does not change it.
	Version string
	ModTime time.Time
}

// Store reads and writes one state file. Writers take an exclusive flock on the
// sibling file <path>.lock, re-read the file under it and replace the file
// atomically, so writers in this process, in other testingd processes and anything
// else that takes the same lock never lose each other's updates. (The legacy Python
// code takes no lock; its writes are at least atomic renames, and the deploy script's
// non-atomic rewrite is why a failed parse is retried once.)
//
// A Store is safe for concurrent use.
type Store struct {
	path   string
	lock   *fileLock // writers in this and other processes, on <path>.lock
	logger *slog.Logger

	// pause waits before a corrupt-looking file is read again; tests replace it.
	pause func(ctx context.Context, d time.Duration) error

	loadMu sync.Mutex // one cold Load at a time; the others then find the cache
	mu     sync.Mutex // guards cache
	cache  *cacheEntry

	onWrite atomic.Pointer[func(d time.Duration, err error)] // ObserveWrites
}

// fileKey identifies a version of the file as cheaply as one stat allows.
type fileKey struct {
	size, mtime int64
	dev, ino    uint64
}

func keyOf(fi fs.FileInfo) fileKey {
	dev, ino := inodeOf(fi)
	return fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano(), dev: dev, ino: ino}
}

type cacheEntry struct {
	key  fileKey
	snap Snapshot
	err  error // a *CorruptError: a corrupt file is reported (and logged) once per change
	// data is the file's bytes, kept for an entry cached within racyWindow of the
	// file's modification (our own writes): until the window has passed, a stat
	// match alone does not prove the file unchanged (an in-place rewrite of the same
	// size in the same timestamp tick), so the bytes are compared.
	data []byte
}

// NewStore returns a Store for the state file at path. A nil logger discards.
func NewStore(path string, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{
		path:   path,
		lock:   newFileLock(path+".lock", "state file", logger),
		logger: logger,
		pause:  sleep,
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ObserveWrites makes f be called after every replacement of the state file (a write,
// the restore after a failed commit, a recovery from a journal) with how long the
// atomic replacement took (temp file, fsync, rename, directory sync; not the wait for
// the lock) and its error. f runs on the writer's goroutine while the lock is held, so
// it must be quick; it is for metrics. nil stops observing.
func (s *Store) ObserveWrites(f func(d time.Duration, err error)) {
	if f == nil {
		s.onWrite.Store(nil)
		return
	}
	s.onWrite.Store(&f)
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Load returns the current state. While the file is unchanged (same size,
// modification time and inode) it costs one stat. Errors: ErrNotExist, a
// *CorruptError, or the I/O error.
func (s *Store) Load(ctx context.Context) (Snapshot, error) {
	if c, err := s.cached(); err != nil || c != nil {
		return c.result(err)
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if c, err := s.cached(); err != nil || c != nil { // another Load may have just read it
		return c.result(err)
	}

	data, fi, stable, err := s.read()
	if err != nil {
		return Snapshot{}, err
	}
	st, perr := Parse(data)
	if perr != nil {
		// Maybe a non-atomic rewrite in progress: look again once.
		if err := s.pause(ctx, corruptRetryDelay); err != nil {
			return Snapshot{}, err
		}
		if data, fi, stable, err = s.read(); err != nil {
			return Snapshot{}, err
		}
		st, perr = Parse(data)
	}
	if perr != nil {
		cerr := s.corrupt(perr)
		if stable {
			s.setCache(&cacheEntry{key: keyOf(fi), err: cerr})
		}
		return Snapshot{}, cerr
	}
	snap := Snapshot{State: st, Version: versionOf(st.Marshal()), ModTime: fi.ModTime()}
	if stable {
		s.setCache(&cacheEntry{key: keyOf(fi), snap: snap})
	}
	return snap, nil
}

// cached returns the cache entry if the file's stat still matches it, or the stat
// error (ErrNotExist: there is nothing to read).
func (s *Store) cached() (*cacheEntry, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, s.statError(err)
	}
	s.mu.Lock()
	c := s.cache
	s.mu.Unlock()
	if c == nil || c.key != keyOf(fi) {
		return nil, nil
	}
	if c.data != nil && time.Since(fi.ModTime()) <= racyWindow {
		// Racily clean (see cacheEntry.data): the stat cannot tell, the bytes can.
		// A few KiB read and compared, for a second after each of our writes.
		data, err := os.ReadFile(s.path)
		if err != nil || !bytes.Equal(data, c.data) {
			return nil, nil
		}
	}
	return c, nil
}

// result is what Load returns for a cache entry, or for a stat error.
func (c *cacheEntry) result(statErr error) (Snapshot, error) {
	if statErr != nil {
		return Snapshot{}, statErr
	}
	return c.snap, c.err
}

func (s *Store) setCache(c *cacheEntry) {
	s.mu.Lock()
	s.cache = c
	s.mu.Unlock()
}

func (s *Store) statError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", s.path, ErrNotExist)
	}
	return fmt.Errorf("read state file: %w", err)
}

// read reads the whole file. stable reports whether the result may be cached: the
// file did not change while it was read and was not modified too recently.
func (s *Store) read() (data []byte, fi fs.FileInfo, stable bool, err error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, false, s.statError(err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, nil, false, s.statError(err)
	}
	data, err = readAllLimit(f, make([]byte, 0, min(before.Size(), maxStateSize)+512), maxStateSize)
	var ce *CorruptError
	if errors.As(err, &ce) {
		return nil, nil, false, s.corrupt(ce)
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read state file: %w", err)
	}
	fi, err = f.Stat()
	if err != nil {
		return nil, nil, false, s.statError(err)
	}
	stable = keyOf(before) == keyOf(fi) && int64(len(data)) == fi.Size() &&
		time.Since(fi.ModTime()) > racyWindow
	return data, fi, stable, nil
}

func readAllLimit(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	w := bytes.NewBuffer(buf)
	if _, err := w.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(w.Len()) > limit {
		return nil, &CorruptError{Reason: fmt.Sprintf("file is larger than %d MiB", limit>>20)}
	}
	return w.Bytes(), nil
}

// corrupt fills in the path of a parse error and logs where the problem is (never
// the file's content).
func (s *Store) corrupt(err error) error {
	var ce *CorruptError
	if !errors.As(err, &ce) {
		return err
	}
	c := *ce
	c.Path = s.path
	s.logger.Warn("state file is corrupt", "path", s.path, "line", c.Line, "column", c.Column, "reason", c.Reason)
	return &c
}

// versionOf hashes canonical bytes into a Version.
func versionOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:8])
}

// Create creates the state file legacy starts from ({"last_deploy_at": "", "prs": []})
// if and only if there is none, and returns the current state either way.
func (s *Store) Create(ctx context.Context) (snap Snapshot, created bool, err error) {
	unlock, err := s.lock.lock(ctx)
	if err != nil {
		return Snapshot{}, false, err
	}
	defer unlock()

	cur, err := s.readLocked(ctx)
	if !errors.Is(err, ErrNotExist) {
		return cur.snap, false, err
	}
	snap, err = s.write(NewState().Marshal(), newFileMode)
	if err != nil {
		return Snapshot{}, false, err
	}
	s.logger.Info("state file created", "path", s.path)
	return snap, true, nil
}

// Update changes the state file under its lock. It re-reads the file (never the
// cache), refuses with ErrVersionMismatch when expectedVersion is not empty and not
// the current version, and calls fn with a private copy of the state. When fn returns
// an error nothing is written and the error is returned as is; when fn changes nothing
// (same canonical bytes) nothing is written and the current snapshot is returned.
// Otherwise the file is replaced atomically, keeping its permission bits. A missing
// file is ErrNotExist (see Create); a corrupt one is a *CorruptError and is never
// overwritten. fn runs under the lock: it must be quick and must not call Update or
// Create (it would wait for itself until ctx ends).
func (s *Store) Update(ctx context.Context, expectedVersion string, fn func(st *State) error) (Snapshot, error) {
	return s.Transact(ctx, expectedVersion, fn, nil)
}

// Transact is Update with a commit step: under the lock, after fn's change is written (or
// found to be a no-op), commit(before, after) runs still holding the lock. If commit
// returns an error and a write happened, the file is restored to exactly the bytes it had
// before (atomically: temp + fsync + rename), and the error is returned. Events appended
// in commit are therefore ordered exactly like the state changes they describe, across
// processes.
//
// before is the state as re-read under the lock; after is the written state, or before
// itself when nothing changed (commit is still called: a no-op is worth recording too).
// commit is not called when the write is refused (version mismatch, missing or corrupt
// file), when fn fails or when the write fails. While commit runs, the new file is on
// disk, so whatever commit triggers (the deploy job) reads it. A commit error is returned
// as is; if the restore fails too, the error says so and wraps both, and the file keeps
// the uncommitted change. If commit panics, the file is restored before the panic goes
// on. The restored file has the old bytes and permission bits but a new modification
// time and inode (it is a new file renamed over the path, as every write is).
//
// A nil commit makes Transact exactly Update. Like fn, commit must not call Update,
// Transact or Create on this file; unlike fn it may be slow (a network call), but every
// other writer of the file waits for it, so it should be bounded by ctx.
func (s *Store) Transact(ctx context.Context, expectedVersion string, fn func(st *State) error, commit func(before, after Snapshot) error) (Snapshot, error) {
	unlock, err := s.lock.lock(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer unlock()

	cur, err := s.readLocked(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if expectedVersion != "" && expectedVersion != cur.snap.Version {
		return Snapshot{}, fmt.Errorf("%w: expected %s, current %s", ErrVersionMismatch, expectedVersion, cur.snap.Version)
	}
	work := cur.snap.State.Clone()
	if err := fn(work); err != nil {
		return Snapshot{}, err
	}
	data := work.Marshal()
	if bytes.Equal(data, cur.canonical) {
		if commit != nil {
			if err := commit(cur.snap, cur.snap); err != nil {
				return Snapshot{}, err
			}
		}
		return cur.snap, nil
	}
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	if commit == nil {
		return s.write(data, cur.perm)
	}
	// The commit step may be slow (Jenkins) and the process may die during it: the
	// journal lets the next writer (or the next start) put the old bytes back.
	if err := s.writeJournal(cur, versionOf(data)); err != nil {
		return Snapshot{}, err
	}
	after, err := s.write(data, cur.perm)
	if err != nil {
		s.removeJournal()
		return after, err
	}

	committed := false
	defer func() {
		if !committed { // commit panicked: undo, then let the panic go on
			if s.restore(cur, after) == nil {
				s.removeJournal()
			}
		}
	}()
	cerr := commit(cur.snap, after)
	committed = true
	if cerr == nil {
		s.removeJournal()
		return after, nil
	}
	if rerr := s.restore(cur, after); rerr != nil {
		// The journal stays: the next locked read tries the restore again.
		return Snapshot{}, fmt.Errorf("commit failed: %w; restoring the state file failed too, it keeps the uncommitted change: %w", cerr, rerr)
	}
	s.removeJournal()
	return Snapshot{}, cerr
}

// restore puts back the bytes and permission bits the file had when it was read under
// the lock (the raw bytes, not our canonical form of them), and caches that snapshot.
// A failure is logged loudly: the file then holds a change nobody committed.
//
// Someone who does not take the lock (the legacy page) may have written while the
// commit step ran, from the uncommitted state: then their change is kept, rebased onto
// the old state (see rebase), instead of being erased by the old bytes. If what they
// wrote does not parse, it is left alone (a corrupt file is reported, never
// overwritten) and the restore fails: the journal stays for the next writer.
func (s *Store) restore(cur lockedRead, after Snapshot) error {
	data, rebased := cur.raw, false
	if now, err := os.ReadFile(s.path); err == nil && versionOf(now) != after.Version {
		theirs, perr := Parse(now)
		if perr != nil {
			s.logger.Error("STATE FILE NOT RESTORED after a failed commit: someone wrote a file that does not parse meanwhile; left as it is",
				"path", s.path, "version_before", cur.snap.Version, "version_after", after.Version, "err", perr)
			return fmt.Errorf("restore state file: it was replaced during the commit by a file that does not parse: %w", perr)
		}
		if versionOf(theirs.Marshal()) != after.Version {
			data, rebased = rebase(cur.snap.State, after.State, theirs).Marshal(), true
			s.logger.Warn("the state file was written without the lock during a failed commit; that write is kept, the uncommitted change undone around it",
				"path", s.path, "version_before", cur.snap.Version, "version_after", after.Version, "version_theirs", versionOf(theirs.Marshal()))
		}
	}
	fi, err := s.writeAtomic(data, cur.perm)
	if err != nil {
		s.logger.Error("STATE FILE NOT RESTORED after a failed commit: it holds a change that was not committed",
			"path", s.path, "version_before", cur.snap.Version, "version_after", after.Version, "err", err)
		return fmt.Errorf("restore state file: %w", err)
	}
	snap := cur.snap
	if rebased {
		st, err := Parse(data)
		if err != nil {
			return fmt.Errorf("rebased state does not parse (a bug): %w", err)
		}
		snap = Snapshot{State: st, Version: versionOf(data)}
	}
	snap.ModTime = fi.ModTime()
	s.setCache(&cacheEntry{key: keyOf(fi), snap: snap, data: data})
	s.logger.Info("state file restored after a failed commit", "path", s.path, "version", snap.Version)
	return nil
}

// write replaces the file (under the lock) and caches the result.
func (s *Store) write(data []byte, perm fs.FileMode) (Snapshot, error) {
	// Parse what is about to be written, so that the snapshot is exactly what the
	// next Load of this file returns (normalised, keys in file order).
	st, err := Parse(data)
	if err != nil {
		return Snapshot{}, fmt.Errorf("marshalled state does not parse (a bug): %w", err)
	}
	fi, err := s.writeAtomic(data, perm)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{State: st, Version: versionOf(data), ModTime: fi.ModTime()}
	// Cached even though the file is brand new (see racyWindow), with its bytes: the
	// lock keeps cooperating writers out and legacy's writers replace the file by
	// rename (a new inode), but the deploy script's bookmarklet mode rewrites it in
	// place, which a stat may not show within the timestamp tick; cached() compares
	// the bytes until racyWindow has passed.
	s.setCache(&cacheEntry{key: keyOf(fi), snap: snap, data: data})
	s.logger.Debug("state file written", "path", s.path, "version", snap.Version, "bytes", len(data))
	return snap, nil
}

// lockedRead is what a writer read under the lock.
type lockedRead struct {
	snap      Snapshot
	canonical []byte      // snap.State.Marshal()
	raw       []byte      // the file's bytes as read, to restore them exactly
	perm      fs.FileMode // the file's permission bits
}

// readLocked reads and parses the file for a writer (under the lock), retrying a
// failed parse once like Load.
func (s *Store) readLocked(ctx context.Context) (lockedRead, error) {
	s.recoverLocked()
	var (
		st   *State
		fi   fs.FileInfo
		data []byte
		perr error
	)
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			if err := s.pause(ctx, corruptRetryDelay); err != nil {
				return lockedRead{}, err
			}
		}
		var err error
		data, fi, _, err = s.read()
		if err != nil {
			return lockedRead{}, err
		}
		if st, perr = Parse(data); perr == nil {
			break
		}
	}
	if perr != nil {
		return lockedRead{}, s.corrupt(perr)
	}
	canonical := st.Marshal()
	return lockedRead{
		snap:      Snapshot{State: st, Version: versionOf(canonical), ModTime: fi.ModTime()},
		canonical: canonical,
		raw:       data,
		perm:      fi.Mode().Perm(),
	}, nil
}

// writeAtomic replaces the file with data: a temp file in the same directory,
// written, synced and closed, then renamed over the path, then the directory synced.
// It returns the new file's info.
func (s *Store) writeAtomic(data []byte, perm fs.FileMode) (fs.FileInfo, error) {
	start := time.Now()
	fi, err := s.writeAtomicTo(s.path, data, perm)
	if f := s.onWrite.Load(); f != nil {
		(*f)(time.Since(start), err)
	}
	return fi, err
}

// writeAtomicTo is writeAtomic for any file of the state file's directory.
func (s *Store) writeAtomicTo(path string, data []byte, perm fs.FileMode) (fs.FileInfo, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("write state file: %w", err)
	}
	done = true
	// The rename is what makes the write durable; if syncing the directory fails the
	// new content is in place all the same, so this is only worth a warning.
	if err := syncDir(dir); err != nil {
		s.logger.Warn("sync state file directory", "dir", dir, "err", err)
	}
	return fi, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Watch polls the file every interval and sends each new version (the first one at
// once). Only successfully read versions are sent: a missing or corrupt file is
// reported by Load. A slow receiver gets the latest version, not a backlog. The
// channel is closed when ctx is done.
func (s *Store) Watch(ctx context.Context, interval time.Duration) <-chan Snapshot {
	if interval <= 0 {
		interval = time.Second
	}
	ch := make(chan Snapshot, 1)
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		last := ""
		for {
			if snap, err := s.Load(ctx); err == nil && snap.Version != last {
				last = snap.Version
				select {
				case ch <- snap:
				default: // replace the unread one; this goroutine is the only sender
					select {
					case <-ch:
					default:
					}
					ch <- snap
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}
