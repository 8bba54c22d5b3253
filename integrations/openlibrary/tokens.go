package openlibrary

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidTokens is wrapped by every error about the content of a tokens file.
var ErrInvalidTokens = errors.New("invalid tokens file")

const (
	maxTokensFile = 1 << 20
	// maxTokenLen bounds what is hashed for a presented token.
	maxTokenLen = 4096
)

// ParseTokens reads a tokens file: one "NAME SHA256HEX" per line, the lower- or
// upper-case hex SHA-256 of the token (the token itself is never stored). Blank
// lines and lines starting with '#' are skipped. It returns the hashes, in
// lower-case hex, to the names. Every error wraps ErrInvalidTokens and names the
// line; a duplicate name or hash is an error, since one of the two lines is a
// mistake whichever was meant.
func ParseTokens(data []byte) (map[string]string, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8 text", ErrInvalidTokens)
	}
	byHash := make(map[string]string)
	names := make(map[string]int) // name → line
	lines := make(map[string]int) // hash → line
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1:
			return nil, fmt.Errorf("%w: line %d: missing the hash: want NAME SHA256HEX", ErrInvalidTokens, n)
		case len(fields) > 2:
			return nil, fmt.Errorf("%w: line %d: %d fields: want NAME SHA256HEX (a name has no spaces)", ErrInvalidTokens, n, len(fields))
		}
		name, hash := fields[0], strings.ToLower(fields[1])
		if !validTokenName(name) {
			return nil, fmt.Errorf("%w: line %d: the name has a control character", ErrInvalidTokens, n)
		}
		if len(hash) != 2*sha256.Size {
			return nil, fmt.Errorf("%w: line %d: the hash has %d characters; a SHA-256 in hex has 64", ErrInvalidTokens, n, len(hash))
		}
		if _, err := hex.DecodeString(hash); err != nil {
			return nil, fmt.Errorf("%w: line %d: the hash is not hexadecimal", ErrInvalidTokens, n)
		}
		if prev, ok := names[name]; ok {
			return nil, fmt.Errorf("%w: line %d: the name %q is already on line %d", ErrInvalidTokens, n, name, prev)
		}
		if prev, ok := lines[hash]; ok {
			return nil, fmt.Errorf("%w: line %d: the same hash is already on line %d (two names for one token)", ErrInvalidTokens, n, prev)
		}
		names[name], lines[hash] = n, n
		byHash[hash] = name
	}
	return byHash, nil
}

func validTokenName(name string) bool {
	for _, r := range name {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// LoadTokens reads and parses the tokens file at path (see ParseTokens).
func LoadTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(bufio.NewReader(f), maxTokensFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxTokensFile {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrInvalidTokens, maxTokensFile)
	}
	m, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// HashToken is the hex SHA-256 of a token, as a tokens file lists it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Tokens are the bearer tokens of a tokens file, re-read whenever the file changes
// (its size, modification time or inode), so a token deleted from the file stops
// working at the next request, without a restart. It is safe for concurrent use.
//
// A file that becomes unreadable or invalid admits no token at all until it is
// fixed (and the error is logged): a half-edited file may be one that revokes a
// token, so failing closed is the only safe reading of it.
type Tokens struct {
	path   string
	logger *slog.Logger

	mu     sync.Mutex
	byHash map[[sha256.Size]byte]string
	stat   os.FileInfo // of the file last read; nil when it could not be
	readAt time.Time   // when it was read
	err    error       // of the last read
}

// racyWindow: a file modified this close to when it was read may have changed again
// within the file system's timestamp granularity without its stat changing, so it is
// read again at the next lookup (git's "racy clean" rule).
const racyWindow = 2 * time.Second

// OpenTokens reads the tokens file at path. A file that cannot be read or parsed
// now is an error (testingd refuses to start with it); later problems are logged.
func OpenTokens(path string, logger *slog.Logger) (*Tokens, error) {
	t := &Tokens{path: path, logger: cmp.Or(logger, slog.New(slog.DiscardHandler))}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := t.loadLocked(fi); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the name of the token, if the tokens file lists its hash.
//
// The presented token is hashed and the hash looked up in a map. The lookup's
// timing depends only on the SHA-256 of what the caller sent, which the caller
// already knows and which tells nothing about any listed hash (finding a token
// whose hash shares a prefix with a listed one means inverting SHA-256), so the
// map lookup leaks nothing a constant-time comparison would hide.
func (t *Tokens) Lookup(token string) (name string, ok bool) {
	if t == nil || token == "" || len(token) > maxTokenLen {
		return "", false
	}
	fi, statErr := os.Stat(t.path)
	sum := sha256.Sum256([]byte(token))

	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case statErr != nil:
		if t.stat != nil || t.err == nil { // log once per change
			t.logger.Error("tokens file cannot be read; no bearer token is accepted until it can", "path", t.path, "err", statErr)
		}
		t.byHash, t.stat, t.err = nil, nil, statErr
	case t.stat == nil || !sameVersion(t.stat, fi) || !fi.ModTime().Before(t.readAt.Add(-racyWindow)):
		prev := t.err
		if err := t.loadLocked(fi); err != nil && (prev == nil || prev.Error() != err.Error()) {
			t.logger.Error("tokens file is invalid; no bearer token is accepted until it is fixed", "path", t.path, "err", err)
		}
	}
	name, ok = t.byHash[sum]
	return name, ok
}

// loadLocked reads the file, whose stat was just taken, and remembers the stat even
// when reading fails, so a bad file is read (and logged) once per change.
func (t *Tokens) loadLocked(fi os.FileInfo) error {
	t.stat, t.readAt = fi, time.Now()
	m, err := LoadTokens(t.path)
	t.err = err
	if err != nil {
		t.byHash = nil
		return err
	}
	byHash := make(map[[sha256.Size]byte]string, len(m))
	for h, name := range m {
		var key [sha256.Size]byte
		if _, err := hex.Decode(key[:], []byte(h)); err != nil { // ParseTokens checked it
			t.byHash, t.err = nil, err
			return err
		}
		byHash[key] = name
	}
	t.byHash = byHash
	return nil
}

// sameVersion reports whether two stats of the tokens file are of the same content,
// as far as stat can tell: the same inode (an editor or `mv` replacing the file
// changes it), size and modification time.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
