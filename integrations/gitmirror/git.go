package gitmirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MinVersion is the oldest git this package runs with: 2.38 brought
// `git merge-tree --write-tree`, which merges two commits without a work tree.
var MinVersion = Version{Major: 2, Minor: 38}

// ErrGitMissing is returned when no git executable is found on PATH.
var ErrGitMissing = errors.New("git executable not found")

// ErrNotRepository is returned by Open when the directory is not a git repository.
var ErrNotRepository = errors.New("not a git repository")

// VersionError is returned by Open when the installed git is older than MinVersion.
type VersionError struct {
	Have string // what `git --version` printed, trimmed
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("git is too old: %q; need git >= %d.%d for merge-tree --write-tree", e.Have, MinVersion.Major, MinVersion.Minor)
}

// GitError is a git command that failed: it exited non-zero, was killed at its
// timeout, or could not start. Stderr is trimmed and bounded.
type GitError struct {
	Args     []string // the git arguments (never credentials: remotes are named, not URLs)
	ExitCode int      // -1 when the command did not exit by itself
	Stderr   string
	Err      error // the underlying cause: *exec.ExitError, context.DeadlineExceeded, …
}

func (e *GitError) Error() string {
	msg := "git " + firstArg(e.Args)
	switch {
	case e.ExitCode >= 0:
		msg += ": exit " + strconv.Itoa(e.ExitCode)
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *GitError) Unwrap() error { return e.Err }

func firstArg(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-c":
			i++ // its value
		case !strings.HasPrefix(a, "-"):
			return a
		}
	}
	return strings.Join(args, " ")
}

// Version is a git release number.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// atLeast reports whether v >= w.
func (v Version) atLeast(w Version) bool {
	if v.Major != w.Major {
		return v.Major > w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor > w.Minor
	}
	return v.Patch >= w.Patch
}

var versionRE = regexp.MustCompile(`^git version (\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?`)

// parseVersion reads `git --version` output: "git version 2.39.5",
// "git version 2.45.1.windows.1", "git version 2.39.3 (Apple Git-146)".
func parseVersion(out string) (Version, bool) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return Version{}, false
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, true
}

// maxStderr bounds the stderr kept in a GitError.
const maxStderr = 2048

// runner runs git against one repository with an isolated environment: no system or
// global config, no prompts, the C locale (so messages are parseable), and a bounded
// time per command.
type runner struct {
	git     string // absolute path of the executable
	gitDir  string
	env     []string
	timeout time.Duration
	runs    atomic.Int64 // commands started, for tests and benchmarks
}

// passEnv are the variables of our own environment that git may see: finding
// programs, and reaching the remote through a proxy or an SSH agent.
var passEnv = []string{"PATH", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSH_AUTH_SOCK"}

func newRunner(gitDir string, timeout time.Duration, extra []string) (*runner, error) {
	path, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrGitMissing, err)
	}
	env := []string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		// HOME and XDG_CONFIG_HOME point at nothing, for gits that still look there.
		"HOME=" + os.DevNull,
		"XDG_CONFIG_HOME=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
		"GIT_NO_REPLACE_OBJECTS=1",
		"GIT_ATTR_NOSYSTEM=1",
		"LC_ALL=C",
		"LANG=C",
		// commit-tree makes the simulated merge commits; fixed identities and dates
		// make them, and so every cache key built on them, deterministic.
		"GIT_AUTHOR_NAME=testingd",
		"GIT_AUTHOR_EMAIL=testingd@localhost",
		"GIT_AUTHOR_DATE=@0 +0000",
		"GIT_COMMITTER_NAME=testingd",
		"GIT_COMMITTER_EMAIL=testingd@localhost",
		"GIT_COMMITTER_DATE=@0 +0000",
	}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, extra...)
	return &runner{git: path, gitDir: gitDir, env: env, timeout: timeout}, nil
}

// run runs git with args in the repository, bounded by timeout (the runner's default
// when 0), and returns its standard output. A non-zero exit is a *GitError.
func (r *runner) run(ctx context.Context, timeout time.Duration, stdin []byte, args ...string) ([]byte, error) {
	if timeout <= 0 {
		timeout = r.timeout
	}
	r.runs.Add(1)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	full := args
	if r.gitDir != "" {
		full = append([]string{"--git-dir=" + r.gitDir}, args...)
	}
	cmd := exec.CommandContext(ctx, r.git, full...)
	cmd.Env = r.env
	cmd.Dir = os.TempDir() // never a work tree of ours
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &limitedWriter{w: &stderr, n: maxStderr}
	// A fetch runs helpers (git-remote-https, index-pack) in the same process
	// group: kill them all at the timeout, and do not wait for a helper that still
	// holds a pipe.
	setProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	ge := &GitError{Args: args, ExitCode: -1, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		ge.Err = ctx.Err()
	case errors.As(err, &exitErr) && exitErr.Exited():
		ge.ExitCode = exitErr.ExitCode()
	}
	return stdout.Bytes(), ge
}

// exitCode is the exit code of a *GitError, or -1.
func exitCode(err error) int {
	var ge *GitError
	if errors.As(err, &ge) {
		return ge.ExitCode
	}
	return -1
}

// version runs `git --version` and checks it against MinVersion.
func (r *runner) version(ctx context.Context) (Version, error) {
	r2 := &runner{git: r.git, env: r.env, timeout: r.timeout} // no repository needed
	out, err := r2.run(ctx, 0, nil, "--version")
	if err != nil {
		return Version{}, fmt.Errorf("git --version: %w", err)
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return Version{}, &VersionError{Have: strings.TrimSpace(string(out))}
	}
	if !v.atLeast(MinVersion) {
		return v, &VersionError{Have: strings.TrimSpace(string(out))}
	}
	return v, nil
}

// limitedWriter keeps the first n bytes written to it and discards the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
