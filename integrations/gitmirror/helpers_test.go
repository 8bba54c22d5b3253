package gitmirror

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedDir holds what several tests build once (the scenario's upstream).
var sharedDir string

func TestMain(m *testing.M) {
	var err error
	sharedDir, err = os.MkdirTemp("", "gitmirror-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(sharedDir)
	os.Exit(code)
}

// gitEnv is the isolated environment of the package's runner, for the tests' own git
// commands (the upstream repository and the oracle's work tree).
func gitEnv(tb testing.TB) []string {
	tb.Helper()
	r, err := newRunner("", defaultCommandTimeout, nil)
	if err != nil {
		tb.Skipf("git not available: %v", err)
	}
	return r.env
}

// git runs git in dir and returns its trimmed stdout, failing the test on error.
func git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := gitTry(tb, dir, nil, args...)
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitTry(tb testing.TB, dir string, stdin []byte, args ...string) (string, error) {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = gitEnv(tb)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// upstream is a non-bare repository standing in for GitHub: branches are built in
// its work tree and published as refs/pull/N/head.
type upstream struct {
	tb  testing.TB
	dir string
}

// newUpstream makes an upstream under root (a test's TempDir, or sharedDir for one
// that outlives the test that builds it).
func newUpstream(tb testing.TB, root string) *upstream {
	tb.Helper()
	dir, err := os.MkdirTemp(root, "upstream")
	if err != nil {
		tb.Fatal(err)
	}
	git(tb, dir, "init", "-q", "-b", "master", dir)
	return &upstream{tb: tb, dir: dir}
}

// commit checks out branch (created at from when from != ""), writes files ("" =
// delete), commits, and returns the new commit id.
func (u *upstream) commit(branch, from string, files map[string]string) string {
	u.tb.Helper()
	if from != "" {
		git(u.tb, u.dir, "checkout", "-q", "-B", branch, from)
	} else if cur, _ := gitTry(u.tb, u.dir, nil, "symbolic-ref", "--short", "HEAD"); branch != "" && branch != cur {
		git(u.tb, u.dir, "checkout", "-q", branch)
	}
	for _, name := range slices.Sorted(mapsKeys(files)) {
		p := filepath.Join(u.dir, name)
		if files[name] == "" {
			if err := os.Remove(p); err != nil {
				u.tb.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			u.tb.Fatal(err)
		}
	}
	git(u.tb, u.dir, "add", "-A")
	git(u.tb, u.dir, "commit", "-q", "--allow-empty", "-m", "change "+branch)
	return git(u.tb, u.dir, "rev-parse", "HEAD")
}

// pull publishes commit as refs/pull/n/head, the way GitHub does.
func (u *upstream) pull(n int, commit string) {
	u.tb.Helper()
	git(u.tb, u.dir, "update-ref", fmt.Sprintf("refs/pull/%d/head", n), commit)
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// lines makes a file of n numbered lines with some replaced: lines(10, 3, "x") has
// "x" as its third line.
func lines(n int, repl ...any) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("line %d", i+1)
	}
	for i := 0; i+1 < len(repl); i += 2 {
		l[repl[i].(int)-1] = repl[i+1].(string)
	}
	return strings.Join(l, "\n") + "\n"
}

// cloneMirror makes the bare mirror of u and opens it.
func cloneMirror(tb testing.TB, u *upstream, opts Options) *Mirror {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "mirror.git")
	// --no-local: copy only what a fetch would (a local clone copies every object,
	// unreachable ones too).
	git(tb, tb.TempDir(), "clone", "-q", "--bare", "--no-local", u.dir, dir)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := Open(context.Background(), dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
