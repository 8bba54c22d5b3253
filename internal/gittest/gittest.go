// Package gittest builds real git repositories for tests: an "upstream" repository
// with a base branch and pull-request refs (refs/pull/N/head, as GitHub serves them),
// and bare mirrors cloned from it, as testingd's --git-dir is.
package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Repo is an upstream repository with a work tree, made in a test's temp dir.
type Repo struct {
	t   testing.TB
	Dir string
	env []string
	n   int // commits made, for distinct dates
}

// New makes an empty repository whose base branch is "master", or skips the test
// when git is not installed.
func New(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	home := t.TempDir()
	r := &Repo{t: t, Dir: t.TempDir(), env: append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org",
		"GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
	)}
	r.Git("init", "-q", "-b", "master")
	return r
}

// Git runs git in the repository and returns its trimmed output; a failure fails
// the test.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.GitIn(r.Dir, args...)
}

// GitIn runs git in dir with the repository's environment.
func (r *Repo) GitIn(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TryIn runs git in dir and returns its failure (with its output) instead of failing
// the test.
func (r *Repo) TryIn(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Commit makes a commit on top of parent ("" = a root commit, "master" or any
// revision) that writes files (path → content; "" content deletes the path), and
// returns its id. It moves no branch.
func (r *Repo) Commit(parent string, files map[string]string, msg string) string {
	r.t.Helper()
	if parent == "" {
		// A branch of its own for each root commit (an orphan branch must not exist yet).
		r.Git("checkout", "-q", "--orphan", "gittest-root-"+strconv.Itoa(r.n))
		r.Git("rm", "-rfq", "--ignore-unmatch", ".")
	} else {
		r.Git("checkout", "-q", "--detach", parent)
	}
	for path, content := range files {
		full := filepath.Join(r.Dir, path)
		if content == "" {
			if err := os.Remove(full); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.Git("add", "-A")
	r.n++
	date := "2026-01-01T00:00:" + twoDigits(r.n%60) + "Z"
	cmd := exec.Command("git", "commit", "-q", "--allow-empty", "-m", msg)
	cmd.Dir = r.Dir
	cmd.Env = append(r.env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git commit: %v\n%s", err, out)
	}
	return r.Git("rev-parse", "HEAD")
}

func twoDigits(n int) string { return fmt.Sprintf("%02d", n) }

// SetBranch points branch at commit.
func (r *Repo) SetBranch(branch, commit string) {
	r.t.Helper()
	r.Git("update-ref", "refs/heads/"+branch, commit)
}

// SetPR points refs/pull/N/head at commit, as GitHub does for a PR's head.
func (r *Repo) SetPR(n int, commit string) {
	r.t.Helper()
	r.Git("update-ref", "refs/pull/"+itoa(n)+"/head", commit)
}

// Mirror makes a bare clone of the repository (git clone --bare), as an operator
// makes testingd's --git-dir, and returns its path.
func (r *Repo) Mirror() string {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "mirror.git")
	r.GitIn(filepath.Dir(dir), "clone", "-q", "--bare", r.Dir, dir)
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }
