package persistence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The audit trail is a JSON Lines file beside the state file: one Event per line,
// appended under an exclusive flock on a sibling lock file, fsynced, and never
// rewritten or truncated. It is read backwards, so the newest page costs one or two
// chunk reads however long the file has grown.

// ErrBadPageToken means a page token is not one List handed out for this file.
var ErrBadPageToken = errors.New("invalid page token")

// Values of Event.Kind.
const (
	EventKindAdd          = "add"
	EventKindRemove       = "remove"
	EventKindRestore      = "restore"
	EventKindStage        = "stage"
	EventKindDeploy       = "deploy"
	EventKindDeployFailed = "deploy_failed"
	EventKindEvictDrift   = "evict_drift"
)

// Values of Event.Stage.
const (
	EventStageEnable     = "enable"
	EventStageDisable    = "disable"
	EventStagePullLatest = "pull_latest"
	EventStageUnstage    = "unstage"
)

const (
	// DefaultEventPageSize and MaxEventPageSize bound List's pageSize.
	DefaultEventPageSize = 50
	MaxEventPageSize     = 500

	// auditChunk is how much List reads at a time, going backwards.
	auditChunk = 64 << 10
	// maxEventLine bounds one line: Append refuses a larger event and List skips a
	// larger line (it cannot be ours), so a damaged file never costs unbounded memory.
	maxEventLine = 1 << 20
	// maxReportedBad bounds the memory of which bad lines were already logged.
	maxReportedBad = 4096
	// eventIDTime is the time part of an Event.ID: fixed width, so IDs sort by time.
	eventIDTime = "20060102T150405.000000000Z"
)

// Event is one entry of the audit trail: one write to the state, or one attempt at
// one (a failed deploy).
type Event struct {
	// ID is unique and sorts by time: the UTC time to the nanosecond, then a random
	// suffix. Append fills it in when empty.
	ID string `json:"id"`
	// Time is when it happened; Append fills it in (now) when zero, and stores UTC.
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`          // username or token name
	AuthMethod string    `json:"auth,omitempty"` // "dev", "cookie", "token"
	RPC        string    `json:"rpc"`            // "AddPRs", "RemovePRs", "RestorePRs", "StagePRs", "Deploy", "EvictDrift"
	Kind       string    `json:"kind"`           // EventKind*
	Stage      string    `json:"stage,omitempty"`
	// PRs the event touched; for a deploy, exactly the set and commits it sent.
	PRs             []EventPR `json:"prs,omitempty"`
	Outcome         string    `json:"outcome,omitempty"` // e.g. "triggered", "unconfigured"
	JenkinsQueueURL string    `json:"jenkins_queue_url,omitempty"`
	Error           string    `json:"error,omitempty"`
	VersionBefore   string    `json:"version_before,omitempty"`
	VersionAfter    string    `json:"version_after,omitempty"`
}

// EventPR is one PR an event touched, with its fields before and after.
type EventPR struct {
	Number int       `json:"pr"`
	Title  string    `json:"title,omitempty"`
	Result string    `json:"result,omitempty"` // per-PR outcome, e.g. "added", "not_in_set"
	Before *PRFields `json:"before,omitempty"` // nil: not in the set before
	After  *PRFields `json:"after,omitempty"`  // nil: not in the set after
}

// PRFields are the fields of a PR that writes change: its pin and its toggles.
type PRFields struct {
	Commit        string `json:"commit"`
	Active        bool   `json:"active"`
	PullLatestSHA string `json:"pull_latest_sha,omitempty"`
	PendingActive *bool  `json:"pending_active,omitempty"`
}

// PRFieldsOf returns pr's PRFields (a copy: nothing aliases pr).
func PRFieldsOf(pr PR) *PRFields {
	f := &PRFields{Commit: pr.Commit, Active: pr.Active, PullLatestSHA: pr.PullLatestSHA}
	if pr.PendingActive != nil {
		b := *pr.PendingActive
		f.PendingActive = &b
	}
	return f
}

// touches reports whether the event names PR number.
func (ev *Event) touches(number int) bool {
	for _, p := range ev.PRs {
		if p.Number == number {
			return true
		}
	}
	return false
}

// AuditPath returns the audit trail's path for a state file: beside it, with the
// ".json" replaced ("_testing-prs.json" → "_testing-prs.events.jsonl").
func AuditPath(statePath string) string {
	base := statePath
	if ext := filepath.Ext(statePath); strings.EqualFold(ext, ".json") {
		base = strings.TrimSuffix(statePath, ext)
	}
	return base + ".events.jsonl"
}

// AuditLog appends to and lists one audit trail file. Appenders take an exclusive
// flock on the sibling <path>.lock, so lines from this and other processes never
// interleave. Readers take no lock: lines are only ever added, each by one write,
// and a line without its newline yet is left for the next List.
//
// An AuditLog is safe for concurrent use.
type AuditLog struct {
	path   string
	lock   *fileLock // appenders in this and other processes, on <path>.lock
	logger *slog.Logger

	chunk   int // List's read size; tests shrink it
	maxLine int

	mu       sync.Mutex
	reported map[int64]bool // offsets of unreadable lines already logged
}

// OpenAuditLog returns the audit trail at path. Nothing is opened yet: the file is
// created by the first Append, and a missing file lists as empty. A nil logger
// discards.
func OpenAuditLog(path string, logger *slog.Logger) *AuditLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &AuditLog{
		path:     path,
		lock:     newFileLock(path+".lock", "audit log", logger),
		logger:   logger,
		chunk:    auditChunk,
		maxLine:  maxEventLine,
		reported: map[int64]bool{},
	}
}

// Path returns the audit trail's path.
func (a *AuditLog) Path() string { return a.path }

// Append adds ev as the newest line, filling in its ID and Time when empty, and
// returns once the line is fsynced. It waits for the lock as long as ctx allows; once
// it holds the lock, it writes.
//
// Append is meant to run inside Store.Transact's commit: that holds the state file's
// lock, a different file, so the two never wait for each other in a cycle, and the
// events come out in the order of the state changes. Always take the state lock first.
func (a *AuditLog) Append(ctx context.Context, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	if ev.ID == "" {
		ev.ID = newEventID(ev.Time)
	}
	line, err := encodeEvent(ev)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if len(line)-1 > a.maxLine {
		return fmt.Errorf("append audit event: %d bytes, more than a line may hold (%d)", len(line)-1, a.maxLine)
	}

	unlock, err := a.lock.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return a.appendLocked(line)
}

// encodeEvent returns ev's line, newline included. HTML is not escaped: the file is
// for people and tools, not for a browser.
func encodeEvent(ev Event) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// parseEventLine parses one line (without its newline). A line that is not a JSON
// object with an id is not an event.
func parseEventLine(line []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, err
	}
	if ev.ID == "" {
		return Event{}, errors.New("no event id")
	}
	return ev, nil
}

// newEventID returns a unique ID that sorts by t.
func newEventID(t time.Time) string {
	var r [5]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand crashes the program instead)
	return t.UTC().Format(eventIDTime) + "-" + hex.EncodeToString(r[:])
}

// appendLocked writes line at the end of the file in one write, then fsyncs it.
func (a *AuditLog) appendLocked(line []byte) error {
	f, err := os.OpenFile(a.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	defer f.Close() // a second Close after the one below only returns an error
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if size := fi.Size(); size > 0 {
		last, err := byteAt(a.path, size-1)
		if err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
		if last != '\n' {
			// A line torn by a crash: end it, so that it is one bad line and ours is whole.
			a.logger.Warn("audit log ends in a torn line; starting a new one", "path", a.path, "offset", size)
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if fi.Size() == 0 { // probably a new file: make its name durable too
		if err := syncDir(filepath.Dir(a.path)); err != nil {
			a.logger.Warn("sync audit log directory", "path", a.path, "err", err)
		}
	}
	return nil
}

// byteAt reads the byte at offset off of the file at path.
func byteAt(path string, off int64) (byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return 0, err
	}
	return b[0], nil
}

// List returns a page of events, newest first, and the token of the next (older)
// page, "" when there is none. pageSize 0 (or less) means DefaultEventPageSize and is
// capped at MaxEventPageSize; pageToken "" starts at the newest event; number > 0
// keeps only the events whose PRs include it (a negative number matches nothing).
// A missing file has no events. Lines that do not parse are skipped (and logged once
// each); a token that is not one List handed out for this file is an error wrapping
// ErrBadPageToken.
//
// Events appended after the first page was read are not on the later pages (a token
// is a position in the file; the next List without a token shows them).
func (a *AuditLog) List(ctx context.Context, pageSize int, pageToken string, number int) (events []Event, next string, err error) {
	if pageSize <= 0 {
		pageSize = DefaultEventPageSize
	}
	pageSize = min(pageSize, MaxEventPageSize)

	f, err := os.Open(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		if pageToken != "" {
			return nil, "", fmt.Errorf("%w: the audit log is empty", ErrBadPageToken)
		}
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	return a.list(ctx, f, fi.Size(), pageSize, pageToken, number)
}

// list is List on the first size bytes of r.
func (a *AuditLog) list(ctx context.Context, r io.ReaderAt, size int64, pageSize int, pageToken string, number int) (events []Event, next string, err error) {
	end := size
	if pageToken != "" {
		if end, err = checkPageToken(r, pageToken, size); err != nil {
			return nil, "", err
		}
	}

	if number < 0 {
		return nil, "", nil
	}
	var digits []byte // a cheap test before parsing: the line must hold the number
	if number > 0 {
		digits = strconv.AppendInt(nil, int64(number), 10)
	}
	sc, err := newBackScanner(r, end, a.chunk, a.maxLine)
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	var bad []int64
	defer func() { a.reportBad(append(bad, sc.long...)) }()
	last := int64(-1) // where the last event on the page starts
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
		}
		line, off, err := sc.prev()
		if err == io.EOF {
			return events, "", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("list audit events: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if number > 0 && !bytes.Contains(line, digits) {
			continue
		}
		ev, err := parseEventLine(line)
		if err != nil {
			bad = append(bad, off)
			continue
		}
		if number > 0 && !ev.touches(number) {
			continue
		}
		if len(events) == pageSize {
			// There is an older event: the next page starts where this page ended.
			return events, pageTokenAt(last), nil
		}
		events = append(events, ev)
		last = off
	}
}

const pageTokenPrefix = "e1:"

// pageTokenAt returns the token of the page that ends at offset off (exclusive): the
// page of the lines before it.
func pageTokenAt(off int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatInt(off, 10)))
}

// checkPageToken decodes a token and checks that it names the end of a line of the
// file (size bytes long).
func checkPageToken(f io.ReaderAt, token string, size int64) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !bytes.HasPrefix(raw, []byte(pageTokenPrefix)) {
		return 0, fmt.Errorf("%w: not a page token", ErrBadPageToken)
	}
	digits := raw[len(pageTokenPrefix):]
	off, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil || strconv.FormatInt(off, 10) != string(digits) {
		return 0, fmt.Errorf("%w: not a page token", ErrBadPageToken)
	}
	if off <= 0 || off > size {
		return 0, fmt.Errorf("%w: out of range", ErrBadPageToken)
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], off-1); err != nil {
		return 0, fmt.Errorf("list audit events: %w", err)
	}
	if b[0] != '\n' {
		return 0, fmt.Errorf("%w: not at a line boundary", ErrBadPageToken)
	}
	return off, nil
}

// reportBad logs the unreadable lines (by offset) that were not logged before: the
// file is never rewritten, so the same bad line would otherwise be logged on every
// List that passes it. The content is never logged.
func (a *AuditLog) reportBad(offsets []int64) {
	if len(offsets) == 0 {
		return
	}
	a.mu.Lock()
	var fresh []int64
	for _, off := range offsets {
		if !a.reported[off] {
			fresh = append(fresh, off)
			if len(a.reported) < maxReportedBad {
				a.reported[off] = true
			}
		}
	}
	a.mu.Unlock()
	if len(fresh) > 0 {
		a.logger.Warn("audit log has unreadable lines; skipped them", "path", a.path, "count", len(fresh), "offsets", fresh[:min(len(fresh), 10)])
	}
}

// backScanner returns the lines of a file's first end bytes, last first. Only lines
// ended by '\n' count: an unfinished last line (being appended, or torn by a crash)
// is left out. Lines longer than maxLine are skipped (their offsets go to long)
// without holding more than about maxLine+chunk bytes.
type backScanner struct {
	r       io.ReaderAt
	start   int64  // file offset of buf[0]
	buf     []byte // file bytes not yet returned: empty, or ending in '\n'
	spare   []byte // the array buf was in before the last fill, reused by the next
	chunk   int
	maxLine int
	long    []int64
}

func newBackScanner(r io.ReaderAt, end int64, chunk, maxLine int) (*backScanner, error) {
	s := &backScanner{r: r, start: end, chunk: chunk, maxLine: maxLine}
	if end == 0 {
		return s, nil
	}
	var b [1]byte
	if _, err := r.ReadAt(b[:], end-1); err != nil {
		return nil, err
	}
	if b[0] != '\n' {
		if err := s.skipLine(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// prev returns the line before the ones already returned, without its '\n', and the
// offset where it starts; io.EOF at the start of the file. The line is only valid
// until the next call: its bytes are reused.
func (s *backScanner) prev() (line []byte, off int64, err error) {
	for {
		if len(s.buf) > 0 {
			body := s.buf[:len(s.buf)-1]
			i := bytes.LastIndexByte(body, '\n')
			if i >= 0 || s.start == 0 {
				line, off = body[i+1:], s.start+int64(i+1)
				s.buf = s.buf[:i+1]
				if len(line) > s.maxLine {
					s.long = append(s.long, off)
					continue
				}
				return line, off, nil
			}
			if len(body) > s.maxLine {
				s.buf = s.buf[:0]
				if err := s.skipLine(); err != nil {
					return nil, 0, err
				}
				s.long = append(s.long, s.start+int64(len(s.buf)))
				continue
			}
		} else if s.start == 0 {
			return nil, 0, io.EOF
		}
		if err := s.fill(); err != nil {
			return nil, 0, err
		}
	}
}

// fill reads the chunk before buf. Two arrays take turns, so that a long scan (a
// filter that matches little) does not allocate a chunk per chunk read.
func (s *backScanner) fill() error {
	n := min(int64(s.chunk), s.start)
	need := int(n) + len(s.buf)
	p := s.spare
	if cap(p) < need {
		p = make([]byte, need, max(need, s.chunk+4<<10)) // room for a partial line
	}
	p = p[:need]
	if _, err := s.r.ReadAt(p[:n], s.start-n); err != nil {
		return err
	}
	copy(p[n:], s.buf)
	s.spare = s.buf[:0]
	s.buf = p
	s.start -= n
	return nil
}

// skipLine drops the bytes before start back to the previous '\n' (kept), or to the
// start of the file; buf must be empty.
func (s *backScanner) skipLine() error {
	for s.start > 0 {
		n := min(int64(s.chunk), s.start)
		p := make([]byte, n)
		if _, err := s.r.ReadAt(p, s.start-n); err != nil {
			return err
		}
		s.start -= n
		if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
			s.buf = p[:i+1]
			return nil
		}
	}
	s.buf = s.buf[:0]
	return nil
}
