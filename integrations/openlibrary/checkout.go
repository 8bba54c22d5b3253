package openlibrary

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	// ErrNotCheckout: the directory has no .git (or it is neither a directory
	// nor a gitdir file).
	ErrNotCheckout = errors.New("not a git checkout")
	// ErrBadCheckout: the .git is there but its HEAD or refs cannot be made sense
	// of, or HEAD names a branch with no commit yet.
	ErrBadCheckout = errors.New("unusable git checkout")
)

// maxSymrefDepth bounds chains of symbolic refs (git's own limit is 5).
const maxSymrefDepth = 5

// CheckoutRevision returns the full commit id HEAD points at in the git checkout
// at dir, reading git's files directly rather than running git (the service may
// run where git is not installed, and cannot afford to hang on a lock).
//
// It understands a .git directory; a .git file ("gitdir: PATH", as in worktrees
// and submodules, a relative PATH being relative to dir); a detached HEAD; a HEAD
// on a branch, looked up as a loose ref and then in packed-refs; and the
// commondir of a linked worktree, where its branches live. Repositories using the
// reftable ref format are reported as unsupported. dir must be the top of the
// checkout: parent directories are not searched.
func CheckoutRevision(dir string) (string, error) {
	gitDir, err := findGitDir(dir)
	if err != nil {
		return "", err
	}
	commonDir, err := findCommonDir(gitDir)
	if err != nil {
		return "", err
	}
	head, err := readSmallFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s has no HEAD", ErrNotCheckout, gitDir)
		}
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	return resolve(gitDir, commonDir, "HEAD", head, 0)
}

// findGitDir returns the repository directory of the checkout at dir.
func findGitDir(dir string) (string, error) {
	dotGit := filepath.Join(dir, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, derr := os.Stat(dir); derr != nil {
			return "", fmt.Errorf("%w: %w", ErrNotCheckout, derr)
		}
		return "", fmt.Errorf("%w: %s has no .git", ErrNotCheckout, dir)
	case err != nil:
		return "", fmt.Errorf("checkout revision: %w", err)
	case fi.IsDir():
		return dotGit, nil
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%w: %s is neither a directory nor a file", ErrNotCheckout, dotGit)
	}
	content, err := readSmallFile(dotGit)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dotGit, err)
	}
	target, ok := strings.CutPrefix(content, "gitdir:")
	target = strings.TrimSpace(target)
	if !ok || target == "" {
		return "", fmt.Errorf("%w: %s is a file but not a \"gitdir: PATH\" link", ErrNotCheckout, dotGit)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(dir, target)
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s points to %s, which is not a directory", ErrNotCheckout, dotGit, target)
	}
	return target, nil
}

// findCommonDir returns where the shared refs live: gitDir itself, or for a linked
// worktree the directory its "commondir" file names (relative to gitDir).
func findCommonDir(gitDir string) (string, error) {
	content, err := readSmallFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, fs.ErrNotExist) {
		return gitDir, nil
	}
	if err != nil {
		return "", fmt.Errorf("read commondir: %w", err)
	}
	common := strings.TrimSpace(content)
	if common == "" {
		return "", fmt.Errorf("%w: %s/commondir is empty", ErrBadCheckout, gitDir)
	}
	if !filepath.IsAbs(common) {
		common = filepath.Join(gitDir, common)
	}
	return common, nil
}

// resolve turns the content of a ref file into a commit id, following symbolic
// refs ("ref: refs/heads/x").
func resolve(gitDir, commonDir, name, content string, depth int) (string, error) {
	content = strings.TrimSpace(content)
	target, symbolic := strings.CutPrefix(content, "ref:")
	if !symbolic {
		if !isObjectID(content) {
			return "", fmt.Errorf("%w: %s holds %q, neither a commit id nor \"ref: refs/...\"", ErrBadCheckout, name, truncate(content))
		}
		return strings.ToLower(content), nil
	}
	if depth >= maxSymrefDepth {
		return "", fmt.Errorf("%w: symbolic refs nested deeper than %d at %s", ErrBadCheckout, maxSymrefDepth, name)
	}
	target = strings.TrimSpace(target)
	if !validRefName(target) {
		return "", fmt.Errorf("%w: %s points to %q, not a ref name", ErrBadCheckout, name, truncate(target))
	}
	if target == "refs/heads/.invalid" {
		// What git writes into HEAD for tools that do not know reftable.
		if _, err := os.Stat(filepath.Join(commonDir, "reftable")); err == nil {
			return "", fmt.Errorf("%w: the repository stores refs as a reftable, which is not supported", ErrBadCheckout)
		}
	}

	loose, err := readSmallFile(filepath.Join(refDir(gitDir, commonDir, target), filepath.FromSlash(target)))
	switch {
	case err == nil:
		return resolve(gitDir, commonDir, target, loose, depth+1)
	case isNotLooseRef(err):
	default:
		return "", fmt.Errorf("read ref %s: %w", target, err)
	}

	id, found, err := packedRef(commonDir, target)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("%w: %s points to %s, which has no commit (a new branch, or a broken repository)", ErrBadCheckout, name, target)
	}
	return id, nil
}

// refDir is where a ref's loose file lives: the few per-worktree refs in the
// worktree's own gitDir, everything else (branches, tags) in the common dir.
func refDir(gitDir, commonDir, ref string) string {
	if !strings.HasPrefix(ref, "refs/") ||
		strings.HasPrefix(ref, "refs/worktree/") ||
		strings.HasPrefix(ref, "refs/bisect/") ||
		strings.HasPrefix(ref, "refs/rewritten/") {
		return gitDir
	}
	return commonDir
}

// packedRef looks ref up in commonDir/packed-refs: lines "ID NAME", with "#"
// header lines and "^ID" lines giving the commit an annotated tag points to.
func packedRef(commonDir, ref string) (id string, found bool, err error) {
	path := filepath.Join(commonDir, "packed-refs")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read packed-refs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		oid, name, ok := strings.Cut(line, " ")
		if !ok || !isObjectID(oid) {
			return "", false, fmt.Errorf("%w: packed-refs line %d is %q", ErrBadCheckout, n, truncate(line))
		}
		if name == ref {
			return strings.ToLower(oid), true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("%w: packed-refs: %v", ErrBadCheckout, err)
	}
	return "", false, nil
}

// isObjectID reports whether s is a full object id: 40 hex digits (SHA-1) or 64
// (SHA-256 repositories).
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// validRefName accepts what HEAD may point to, and nothing that could climb out
// of the repository when joined to a path.
func validRefName(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") || strings.HasSuffix(ref, "/") {
		return false
	}
	for _, part := range strings.Split(ref, "/") {
		if part == "" || part == ".." || part == "." {
			return false
		}
	}
	for i := 0; i < len(ref); i++ {
		if c := ref[i]; c < ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// readSmallFile reads a git metadata file (HEAD, a ref, a gitdir link); anything
// larger than maxMetaFile is not one.
func readSmallFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxMetaFile {
		return "", fmt.Errorf("%w: %s is too large for a git metadata file", ErrBadCheckout, path)
	}
	return string(data), nil
}

const maxMetaFile = 4096

// isNotLooseRef reports whether err from reading a loose ref file means "no such
// loose ref": missing, or a path through or onto a directory (refs/heads/a when
// only refs/heads/a/b exists, or the reverse).
func isNotLooseRef(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR)
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
