package openlibrary

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// git runs the real git binary in dir with a clean, fixed configuration and
// returns its trimmed output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	full := append([]string{
		"-c", "user.name=Test", "-c", "user.email=test@example.org",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
	}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newRepo makes a repository with n commits on main.
func newRepo(t *testing.T, n int) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests build real repositories and need the git binary: %v", err)
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	for range n {
		git(t, dir, "commit", "-q", "--allow-empty", "-m", "commit")
	}
	return dir
}

func mustRevision(t *testing.T, dir string) string {
	t.Helper()
	got, err := CheckoutRevision(dir)
	if err != nil {
		t.Fatalf("CheckoutRevision(%s): %v", dir, err)
	}
	return got
}

func TestCheckoutRevision(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (dir string) // returns the checkout to read
	}{
		{"branch HEAD, loose ref", func(t *testing.T) string {
			return newRepo(t, 2)
		}},
		{"detached HEAD", func(t *testing.T) string {
			dir := newRepo(t, 3)
			git(t, dir, "checkout", "-q", "--detach", "HEAD~1")
			return dir
		}},
		{"packed refs", func(t *testing.T) string {
			dir := newRepo(t, 2)
			git(t, dir, "pack-refs", "--all")
			if _, err := os.Stat(filepath.Join(dir, ".git", "refs", "heads", "main")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("pack-refs left the loose ref (err %v)", err)
			}
			return dir
		}},
		{"loose ref newer than its packed copy", func(t *testing.T) string {
			dir := newRepo(t, 1)
			git(t, dir, "pack-refs", "--all")
			git(t, dir, "commit", "-q", "--allow-empty", "-m", "after packing")
			return dir
		}},
		{"packed branch with a slash, beside annotated tags", func(t *testing.T) string {
			dir := newRepo(t, 2)
			git(t, dir, "tag", "-a", "-m", "v1", "v1", "HEAD~1")
			git(t, dir, "checkout", "-q", "-b", "feature/x")
			git(t, dir, "commit", "-q", "--allow-empty", "-m", "on feature")
			git(t, dir, "tag", "-a", "-m", "v2", "v2")
			git(t, dir, "pack-refs", "--all")
			return dir
		}},
		{"worktree on its own branch", func(t *testing.T) string {
			dir := newRepo(t, 2)
			wt := filepath.Join(t.TempDir(), "wt")
			git(t, dir, "worktree", "add", "-q", "-b", "wt-branch", wt, "HEAD~1")
			git(t, wt, "commit", "-q", "--allow-empty", "-m", "in worktree")
			return wt
		}},
		{"worktree with packed refs", func(t *testing.T) string {
			dir := newRepo(t, 2)
			wt := filepath.Join(t.TempDir(), "wt")
			git(t, dir, "worktree", "add", "-q", "-b", "wt-branch", wt, "HEAD~1")
			git(t, dir, "pack-refs", "--all")
			return wt
		}},
		{"worktree detached", func(t *testing.T) string {
			dir := newRepo(t, 2)
			wt := filepath.Join(t.TempDir(), "wt")
			git(t, dir, "worktree", "add", "-q", "--detach", wt, "HEAD~1")
			return wt
		}},
		{"main checkout of a repo with worktrees", func(t *testing.T) string {
			dir := newRepo(t, 2)
			git(t, dir, "worktree", "add", "-q", "-b", "other", filepath.Join(t.TempDir(), "wt"), "HEAD~1")
			return dir
		}},
		{"separate git dir (absolute gitdir link)", func(t *testing.T) string {
			dir := t.TempDir()
			git(t, dir, "init", "-q", "--separate-git-dir", filepath.Join(t.TempDir(), "repo.git"))
			git(t, dir, "commit", "-q", "--allow-empty", "-m", "c")
			return dir
		}},
		{"relative gitdir link, as in submodules", func(t *testing.T) string {
			root := t.TempDir()
			work := filepath.Join(root, "work", "sub")
			for _, d := range []string{work, filepath.Join(root, "modules")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			git(t, work, "init", "-q", "--separate-git-dir", filepath.Join(root, "modules", "sub"))
			git(t, work, "commit", "-q", "--allow-empty", "-m", "c")
			rel := filepath.Join("..", "..", "modules", "sub")
			if err := os.WriteFile(filepath.Join(work, ".git"), []byte("gitdir: "+rel+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return work
		}},
		{"symbolic branch ref", func(t *testing.T) string {
			dir := newRepo(t, 2)
			git(t, dir, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
			git(t, dir, "symbolic-ref", "HEAD", "refs/heads/alias")
			return dir
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.setup(t)
			want := git(t, dir, "rev-parse", "HEAD")
			if got := mustRevision(t, dir); got != want {
				t.Fatalf("CheckoutRevision = %s, git rev-parse HEAD = %s", got, want)
			}
		})
	}
}

func TestCheckoutRevisionErrors(t *testing.T) {
	t.Parallel()
	writeFile := func(t *testing.T, path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T) string
		wantErr error
		wantMsg string
	}{
		{"plain directory", func(t *testing.T) string { return t.TempDir() }, ErrNotCheckout, "has no .git"},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, fs.ErrNotExist, ""},
		{"subdirectory of a checkout", func(t *testing.T) string {
			dir := newRepo(t, 1)
			sub := filepath.Join(dir, "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			return sub
		}, ErrNotCheckout, ""},
		{".git file that is not a link", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, ".git"), "hello\n")
			return dir
		}, ErrNotCheckout, "gitdir: PATH"},
		{".git link to nowhere", func(t *testing.T) string {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, ".git"), "gitdir: ../missing\n")
			return dir
		}, ErrNotCheckout, "not a directory"},
		{".git without HEAD", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		}, ErrNotCheckout, "no HEAD"},
		{"garbage HEAD", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "\x00\x01 not a ref at all\n")
			return dir
		}, ErrBadCheckout, "neither a commit id"},
		{"short id in HEAD", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "1d23364\n")
			return dir
		}, ErrBadCheckout, "neither a commit id"},
		{"HEAD escaping the repository", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/../../../etc/passwd\n")
			return dir
		}, ErrBadCheckout, "not a ref name"},
		{"HEAD naming a non-ref", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: config\n")
			return dir
		}, ErrBadCheckout, "not a ref name"},
		{"garbage branch ref", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "refs", "heads", "main"), "zzzz\n")
			return dir
		}, ErrBadCheckout, "refs/heads/main holds"},
		{"garbage packed-refs", func(t *testing.T) string {
			dir := newRepo(t, 1)
			git(t, dir, "pack-refs", "--all")
			writeFile(t, filepath.Join(dir, ".git", "packed-refs"), "# pack-refs with: peeled\nnot a line\n")
			return dir
		}, ErrBadCheckout, "packed-refs line 2"},
		{"branch without commits", func(t *testing.T) string { return newRepo(t, 0) }, ErrBadCheckout, "has no commit"},
		{"symbolic ref loop", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/a\n")
			writeFile(t, filepath.Join(dir, ".git", "refs", "heads", "a"), "ref: refs/heads/b\n")
			writeFile(t, filepath.Join(dir, ".git", "refs", "heads", "b"), "ref: refs/heads/a\n")
			return dir
		}, ErrBadCheckout, "nested deeper"},
		{"oversized HEAD", func(t *testing.T) string {
			dir := newRepo(t, 1)
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), strings.Repeat("a", 10_000))
			return dir
		}, ErrBadCheckout, "too large"},
		{"reftable repository", func(t *testing.T) string {
			dir := newRepo(t, 1)
			// What git ≥ 2.45 lays out with --ref-format=reftable (this git may be older).
			writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/.invalid\n")
			writeFile(t, filepath.Join(dir, ".git", "reftable", "tables.list"), "")
			return dir
		}, ErrBadCheckout, "reftable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.setup(t)
			got, err := CheckoutRevision(dir)
			if err == nil {
				t.Fatalf("CheckoutRevision = %q, want an error", got)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}

// TestCheckoutRevisionUnreadable: a HEAD that cannot be read is reported as a read
// error, not mistaken for a missing checkout. (A directory stands in for an
// unreadable file: permission bits do not stop root, which the tests may run as.)
func TestCheckoutRevisionUnreadable(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, 1)
	head := filepath.Join(dir, ".git", "HEAD")
	if err := os.Remove(head); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(head, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := CheckoutRevision(dir)
	if err == nil || errors.Is(err, ErrNotCheckout) || !strings.Contains(err.Error(), "read HEAD") {
		t.Fatalf("err = %v, want a read error", err)
	}
}
