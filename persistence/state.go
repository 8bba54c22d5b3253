package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Keys of a PR object, in canonical order (the order legacy writes them).
const (
	keyPR             = "pr"
	keyCommit         = "commit"
	keyActive         = "active"
	keyTitle          = "title"
	keyAddedAt        = "added_at"
	keyAddedBy        = "added_by"
	keyPullLatestSHA  = "pull_latest_sha"
	keyPendingActive  = "pending_active"
	keyAuthor         = "author"
	keyAuthorAvatar   = "author_avatar"
	keyAssignee       = "assignee"
	keyAssigneeAvatar = "assignee_avatar"
)

var prKeys = [...]string{
	keyPR, keyCommit, keyActive, keyTitle, keyAddedAt, keyAddedBy, keyPullLatestSHA,
	keyPendingActive, keyAuthor, keyAuthorAvatar, keyAssignee, keyAssigneeAvatar,
}

// Top-level keys, in canonical order.
const (
	keyLastDeployAt    = "last_deploy_at"
	keyPRs             = "prs"
	keyDeployStartedAt = "deploy_started_at"
	keyDeployed        = "deployed"
	// keyRemoved is testingd's own: rows removed since the last deploy, kept so that
	// RestorePRs can bring them back exactly. The legacy reader ignores it (and drops it
	// when it rewrites the file, which only loses the undo).
	keyRemoved = "testingd_removed"
)

var topKeys = [...]string{keyLastDeployAt, keyPRs, keyDeployStartedAt, keyDeployed, keyRemoved}

// A state made by code (or read from the bare-array form) always writes these two
// keys, like legacy does; the others only once they hold something.
var defaultTopKeys = []string{keyLastDeployAt, keyPRs}

// PR is one queued pull request of the state file.
//
// A PR made by code writes every key in canonical order; note that the zero value
// has Active false, while a missing "active" in the file means true (use NewPR).
// A PR read from the file keeps its key order and any unknown keys.
type PR struct {
	Number        int    // "pr", required
	Commit        string // "commit", required: the pinned SHA (40 hex; old files may hold a short one)
	Active        bool   // "active", true when missing
	Title         string // "title"
	AddedAt       string // "added_at", ISO-8601 as Python writes it
	AddedBy       string // "added_by"
	PullLatestSHA string // "pull_latest_sha": a staged move to a newer commit; "" = none
	// PendingActive is a staged enable (true) or disable (false); nil = nothing
	// staged. A value equal to Active also means nothing staged: Parse turns it into
	// nil and Marshal writes it as null.
	PendingActive  *bool
	Author         string // "author"
	AuthorAvatar   string // "author_avatar"
	Assignee       string // "assignee"
	AssigneeAvatar string // "assignee_avatar"

	keys  []string // key order as read; nil for a PR made by code
	extra []member // unknown keys, in the order they appear in keys
}

// NewPR returns a PR as legacy "add" makes it: active, nothing staged.
func NewPR(number int, commit string) PR {
	return PR{Number: number, Commit: commit, Active: true}
}

// DeployedEntry is one entry of "deployed": the PR number as a string, and its title.
type DeployedEntry struct {
	Key   string
	Title string
}

// RemovedPR is a row removed since the last deploy, as it was when removed.
type RemovedPR struct {
	PR        PR
	RemovedAt string // ISO-8601, as AddedAt
	RemovedBy string
}

// State is the content of the state file.
type State struct {
	LastDeployAt    string // "" = never deployed
	PRs             []PR
	DeployStartedAt string // "" = never
	// Deployed is the set of active PRs the last deploy built, in file order. Empty
	// means "no record" (an old file), not "nothing deployed".
	Deployed []DeployedEntry
	// Removed holds the rows removed since the last deploy, newest last, for RestorePRs
	// ("testingd_removed"; written only when not empty).
	Removed []RemovedPR

	keys      []string // top-level key order as read; nil = made by code
	extra     []member // unknown top-level keys, in the order they appear in keys
	fromArray bool     // read from the legacy bare-array form
}

// NewState returns the empty state legacy creates: {"last_deploy_at": "", "prs": []}.
func NewState() *State {
	return &State{PRs: []PR{}}
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := *s
	c.keys = cloneSlice(s.keys)
	c.extra = cloneSlice(s.extra) // the values themselves are immutable
	c.Deployed = cloneSlice(s.Deployed)
	if s.Removed != nil {
		c.Removed = make([]RemovedPR, len(s.Removed))
		for i, r := range s.Removed {
			c.Removed[i] = RemovedPR{PR: r.PR.clone(), RemovedAt: r.RemovedAt, RemovedBy: r.RemovedBy}
		}
	}
	if s.PRs != nil {
		c.PRs = make([]PR, len(s.PRs))
		for i := range s.PRs {
			c.PRs[i] = s.PRs[i].clone()
		}
	}
	return &c
}

func (p *PR) clone() PR {
	c := *p
	if p.PendingActive != nil {
		b := *p.PendingActive
		c.PendingActive = &b
	}
	c.keys = cloneSlice(p.keys)
	c.extra = cloneSlice(p.extra)
	return c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// Find returns the index of the first PR with the given number.
func (s *State) Find(number int) (int, bool) {
	for i := range s.PRs {
		if s.PRs[i].Number == number {
			return i, true
		}
	}
	return -1, false
}

// HasDeployedRecord reports whether the file records what the last deploy built.
func (s *State) HasDeployedRecord() bool {
	return len(s.Deployed) > 0
}

// DeployedTitle returns the title recorded in "deployed" for a PR number.
func (s *State) DeployedTitle(number int) (string, bool) {
	key := strconv.Itoa(number)
	for _, d := range s.Deployed {
		if d.Key == key {
			return d.Title, true
		}
	}
	return "", false
}

// ErrCorrupt is matched (errors.Is) by every *CorruptError.
var ErrCorrupt = errors.New("state file is corrupt")

// CorruptError says why and where a state file cannot be used.
type CorruptError struct {
	Path   string // the file; filled in by Store
	Line   int    // 1-based; 0 when no position applies
	Column int    // 1-based, in characters
	Reason string // e.g. `prs[2].pr: want an integer, got string`
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// corruptAt builds a CorruptError for a byte offset of data.
func corruptAt(data []byte, off int, reason string) *CorruptError {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	lineStart := bytes.LastIndexByte(data[:off], '\n') + 1
	col := 1 + utf8.RuneCount(data[lineStart:off])
	return &CorruptError{Line: line, Column: col, Reason: reason}
}

// Parse reads a state file: the object form, or the legacy bare array of PRs. The
// error is always a *CorruptError.
func Parse(data []byte) (*State, error) {
	if len(data) == 0 {
		return nil, &CorruptError{Reason: "file is empty"}
	}
	if len(bytes.Trim(data, " \t\r\n")) == 0 {
		return nil, &CorruptError{Reason: "file is blank"}
	}
	root, err := parseJSON(data)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, corruptAt(data, se.off, se.msg)
		}
		return nil, &CorruptError{Reason: err.Error()}
	}
	d := decoder{data: data}
	var st *State
	switch root.kind {
	case kindArray:
		st = &State{fromArray: true}
		st.PRs = d.prs(root, "")
	case kindObject:
		st = d.state(root)
	default:
		d.fail(root, at(""), "an object or an array")
	}
	if d.err != nil {
		return nil, d.err
	}
	return st, nil
}

// decoder turns a parsed value into a State, remembering the first problem.
type decoder struct {
	data []byte
	err  *CorruptError
}

// loc names a place in the file for an error message. It is only turned into text
// when there is an error, so that parsing a good file builds no paths.
type loc struct {
	parent string // "prs", "" for the bare array's elements, or "deployed"
	index  int    // an element of parent; -1 for none
	sub    string // a key of parent written as a subscript: deployed["13238"]
	key    string // a key below that
}

func at(key string) loc { return loc{index: -1, key: key} }

func (l loc) String() string {
	var b strings.Builder
	b.WriteString(l.parent)
	if l.index >= 0 {
		fmt.Fprintf(&b, "[%d]", l.index)
	}
	if l.sub != "" {
		b.WriteString("[" + quoteKey(l.sub) + "]")
	}
	if l.key != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l.key)
	}
	return b.String()
}

func (d *decoder) fail(v value, where loc, want string) {
	if d.err != nil {
		return
	}
	path := where.String()
	got := v.kind.String()
	if v.kind == kindNumber {
		lit := v.s
		if len(lit) > 32 {
			lit = lit[:32] + "…"
		}
		got = "number " + lit
	}
	reason := fmt.Sprintf("want %s, got %s", want, got)
	if path != "" {
		reason = path + ": " + reason
	}
	d.err = corruptAt(d.data, v.off, reason)
}

func (d *decoder) failf(v value, format string, args ...any) {
	if d.err == nil {
		d.err = corruptAt(d.data, v.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) str(v value, where loc) string {
	if v.kind != kindString {
		d.fail(v, where, "a string")
	}
	return v.s
}

func (d *decoder) boolean(v value, where loc) bool {
	if v.kind != kindBool {
		d.fail(v, where, "a boolean")
	}
	return v.b
}

func (d *decoder) state(root value) *State {
	st := &State{keys: make([]string, 0, len(root.obj))}
	for _, m := range root.obj {
		st.keys = append(st.keys, m.key)
		switch m.key {
		case keyLastDeployAt:
			st.LastDeployAt = d.str(m.val, at(m.key))
		case keyDeployStartedAt:
			st.DeployStartedAt = d.str(m.val, at(m.key))
		case keyPRs:
			st.PRs = d.prs(m.val, keyPRs)
		case keyDeployed:
			st.Deployed = d.deployed(m.val)
		case keyRemoved:
			st.Removed = d.removed(m.val)
		default:
			st.extra = append(st.extra, m)
		}
	}
	return st
}

func (d *decoder) deployed(v value) []DeployedEntry {
	if v.kind != kindObject {
		d.fail(v, at(keyDeployed), "an object")
		return nil
	}
	out := make([]DeployedEntry, 0, len(v.obj))
	for _, m := range v.obj {
		out = append(out, DeployedEntry{Key: m.key, Title: d.str(m.val, loc{parent: keyDeployed, index: -1, sub: m.key})})
	}
	return out
}

// removed decodes testingd's list of removed rows:
// [{"removed_at": "...", "removed_by": "...", "row": {PR}}, ...].
func (d *decoder) removed(v value) []RemovedPR {
	if v.kind != kindArray {
		d.fail(v, at(keyRemoved), "an array")
		return nil
	}
	out := make([]RemovedPR, 0, len(v.arr))
	for i, e := range v.arr {
		where := loc{parent: keyRemoved, index: i}
		if e.kind != kindObject {
			d.fail(e, where, "an object")
			return nil
		}
		var r RemovedPR
		hasRow := false
		for _, m := range e.obj {
			fp := where
			fp.key = m.key
			switch m.key {
			case "removed_at":
				r.RemovedAt = d.str(m.val, fp)
			case "removed_by":
				r.RemovedBy = d.str(m.val, fp)
			case "row":
				hasRow = true
				r.PR = d.pr(m.val, fp)
			}
		}
		if !hasRow {
			d.failf(e, "%s: missing %q", where, "row")
		}
		if d.err != nil {
			return nil
		}
		out = append(out, r)
	}
	return out
}

// quoteKey quotes a key for an error message, shortened so that a hostile file cannot
// push much of itself into a log line.
func quoteKey(k string) string {
	if utf8.RuneCountInString(k) > 24 {
		k = string([]rune(k)[:24]) + "…"
	}
	return strconv.Quote(k)
}

// prs decodes the PR array found under key ("" for the bare array).
func (d *decoder) prs(v value, key string) []PR {
	if v.kind != kindArray {
		d.fail(v, at(key), "an array")
		return nil
	}
	out := make([]PR, 0, len(v.arr))
	for i, e := range v.arr {
		out = append(out, d.pr(e, loc{parent: key, index: i}))
		if d.err != nil {
			return nil
		}
	}
	return out
}

func (d *decoder) pr(v value, where loc) PR {
	if v.kind != kindObject {
		d.fail(v, where, "an object")
		return PR{}
	}
	p := PR{Active: true, keys: make([]string, 0, len(v.obj))}
	var hasPR, hasCommit bool
	var pending *bool
	for _, m := range v.obj {
		p.keys = append(p.keys, m.key)
		fp := where
		fp.key = m.key
		switch m.key {
		case keyPR:
			hasPR = true
			p.Number = d.integer(m.val, fp)
		case keyCommit:
			hasCommit = true
			p.Commit = d.str(m.val, fp)
		case keyActive:
			p.Active = d.boolean(m.val, fp)
		case keyTitle:
			p.Title = d.str(m.val, fp)
		case keyAddedAt:
			p.AddedAt = d.str(m.val, fp)
		case keyAddedBy:
			p.AddedBy = d.str(m.val, fp)
		case keyPullLatestSHA:
			p.PullLatestSHA = d.str(m.val, fp)
		case keyPendingActive:
			if m.val.kind != kindNull {
				b := d.boolean(m.val, fp)
				pending = &b
			}
		case keyAuthor:
			p.Author = d.str(m.val, fp)
		case keyAuthorAvatar:
			p.AuthorAvatar = d.str(m.val, fp)
		case keyAssignee:
			p.Assignee = d.str(m.val, fp)
		case keyAssigneeAvatar:
			p.AssigneeAvatar = d.str(m.val, fp)
		default:
			p.extra = append(p.extra, m)
		}
	}
	switch {
	case !hasPR:
		d.failf(v, "%s: missing %q", where, keyPR)
	case !hasCommit:
		d.failf(v, "%s: missing %q", where, keyCommit)
	}
	if pending != nil && *pending != p.Active {
		p.PendingActive = pending
	}
	return p
}

// integer accepts what Python reads as an int that fits a GitHub PR number (int32,
// the service's wire type). 13269.0 is a float to Python, so it is refused.
func (d *decoder) integer(v value, where loc) int {
	if v.kind != kindNumber || strings.ContainsAny(v.s, ".eE") {
		d.fail(v, where, "an integer")
		return 0
	}
	n, err := strconv.ParseInt(v.s, 10, 64)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		d.fail(v, where, "an integer in the int32 range")
		return 0
	}
	return int(n)
}

// Marshal returns the state as the legacy Python writer would write it:
// json.dumps(state, indent=2), no trailing newline. Keys keep the order they were
// read in; unknown keys are kept; keys that were not in the file are added, in
// canonical order, only when they hold something other than their default. A state
// read from the bare-array form is written in the object form.
func (s *State) Marshal() []byte {
	return appendValue(make([]byte, 0, 512+512*len(s.PRs)), s.value(), 0)
}

func (s *State) value() value {
	keys := s.keys
	if keys == nil {
		keys = defaultTopKeys
	}
	// testingd's own key disappears once empty, even from a file that had it.
	drop := func(key string, isDefault bool) bool { return key == keyRemoved && isDefault }
	return orderedObject(keys, s.extra, topKeys[:], s.known, drop)
}

// orderedObject lays out an object as the legacy writer would: the keys in the order
// they were read (known ones with their current values, unknown ones as read), then the
// known keys that were absent, in canonical order, only when they hold something other
// than their default. drop leaves out a present key.
func orderedObject(read []string, extra []member, canonical []string, known func(string) (int, value, bool), drop func(key string, isDefault bool) bool) value {
	obj := make([]member, 0, len(read)+len(canonical))
	seen := make([]bool, len(canonical))
	for _, k := range read {
		if i, v, isDefault := known(k); i >= 0 {
			seen[i] = true
			if drop == nil || !drop(k, isDefault) {
				obj = append(obj, member{k, v})
			}
		} else if len(extra) > 0 {
			obj = append(obj, extra[0])
			extra = extra[1:]
		}
	}
	for i, k := range canonical {
		if seen[i] {
			continue
		}
		if _, v, isDefault := known(k); !isDefault {
			obj = append(obj, member{k, v})
		}
	}
	return value{kind: kindObject, obj: obj}
}

// known returns the index in topKeys of a known top-level key (-1 for an unknown
// one), its current value, and whether that value is the default.
func (s *State) known(key string) (int, value, bool) {
	switch key {
	case keyLastDeployAt:
		return 0, stringValue(s.LastDeployAt), s.LastDeployAt == ""
	case keyPRs:
		arr := make([]value, len(s.PRs))
		for i := range s.PRs {
			arr[i] = s.PRs[i].value()
		}
		return 1, value{kind: kindArray, arr: arr}, len(s.PRs) == 0
	case keyDeployStartedAt:
		return 2, stringValue(s.DeployStartedAt), s.DeployStartedAt == ""
	case keyDeployed:
		return 3, deployedValue(s.Deployed), len(s.Deployed) == 0
	case keyRemoved:
		arr := make([]value, len(s.Removed))
		for i, r := range s.Removed {
			arr[i] = value{kind: kindObject, obj: []member{
				{"removed_at", stringValue(r.RemovedAt)},
				{"removed_by", stringValue(r.RemovedBy)},
				{"row", r.PR.value()},
			}}
		}
		return 4, value{kind: kindArray, arr: arr}, len(s.Removed) == 0
	}
	return -1, value{}, false
}

// deployedValue builds the "deployed" object. A key repeated by code is written once,
// where it first appears, with its last title: what Python would read back.
func deployedValue(entries []DeployedEntry) value {
	obj := make([]member, 0, len(entries))
	var at map[string]int
	for _, e := range entries {
		if at == nil {
			at = make(map[string]int, len(entries))
		}
		if i, ok := at[e.Key]; ok {
			obj[i].val = stringValue(e.Title)
			continue
		}
		at[e.Key] = len(obj)
		obj = append(obj, member{e.Key, stringValue(e.Title)})
	}
	return value{kind: kindObject, obj: obj}
}

func (p *PR) value() value {
	if p.keys == nil {
		obj := make([]member, 0, len(prKeys)+len(p.extra))
		for _, k := range prKeys {
			_, v, _ := p.known(k)
			obj = append(obj, member{k, v})
		}
		return value{kind: kindObject, obj: append(obj, p.extra...)}
	}
	return orderedObject(p.keys, p.extra, prKeys[:], p.known, nil)
}

// known returns the index in prKeys of a known PR key (-1 for an unknown one), its
// current value, and whether that value is the default.
func (p *PR) known(key string) (int, value, bool) {
	str := func(i int, s string) (int, value, bool) { return i, stringValue(s), s == "" }
	switch key {
	case keyPR:
		return 0, intValue(p.Number), false
	case keyCommit:
		return 1, stringValue(p.Commit), false
	case keyActive:
		return 2, boolValue(p.Active), p.Active
	case keyTitle:
		return str(3, p.Title)
	case keyAddedAt:
		return str(4, p.AddedAt)
	case keyAddedBy:
		return str(5, p.AddedBy)
	case keyPullLatestSHA:
		return str(6, p.PullLatestSHA)
	case keyPendingActive:
		if p.PendingActive == nil || *p.PendingActive == p.Active {
			return 7, value{kind: kindNull}, true
		}
		return 7, boolValue(*p.PendingActive), false
	case keyAuthor:
		return str(8, p.Author)
	case keyAuthorAvatar:
		return str(9, p.AuthorAvatar)
	case keyAssignee:
		return str(10, p.Assignee)
	case keyAssigneeAvatar:
		return str(11, p.AssigneeAvatar)
	}
	return -1, value{}, false
}
