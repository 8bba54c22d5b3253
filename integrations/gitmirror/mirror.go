package gitmirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultRemote         = "origin"
	defaultBase           = "master"
	defaultCommandTimeout = 30 * time.Second
	defaultFetchTimeout   = 2 * time.Minute

	// refPrefix is our namespace in the mirror; nothing else in it is touched.
	refPrefix = "refs/testingd/"
)

// ErrRefMissing is recorded for a PR whose refs/pull/N/head the remote does not have
// (and returned by Fetch when the base branch is missing).
var ErrRefMissing = errors.New("remote has no such ref")

// Options configure a Mirror.
type Options struct {
	// Remote is the name of the remote to fetch from (default "origin"), as
	// configured in the mirror (`git clone --bare URL dir` sets "origin").
	Remote string
	// Base is the base branch the deploy starts from (default "master").
	Base string
	// CommandTimeout bounds every local git command (default 30s).
	CommandTimeout time.Duration
	// FetchTimeout bounds each `git fetch` (default 2m).
	FetchTimeout time.Duration
	// Env is added to git's environment (e.g. "GIT_SSH_COMMAND=…"); the rest of
	// ours is not passed on, except PATH, the proxy variables and SSH_AUTH_SOCK.
	Env    []string
	Logger *slog.Logger // default: discard
}

// Mirror is a bare clone of the repository that PRs are fetched into and merges are
// simulated in. It never touches a work tree. It is safe for concurrent use: fetches
// run one at a time, and reads (Info, Predict, Pairwise) never wait for a fetch.
type Mirror struct {
	dir     string
	remote  string
	base    string
	git     *runner
	fetchTO time.Duration
	version Version
	batch   bool // git merge-tree has --stdin
	log     *slog.Logger

	fetchSem chan struct{} // one fetch at a time

	mu     sync.Mutex
	status Info

	gen atomic.Int64 // completed fetches

	memo *memo
}

// Info is what the mirror knows from its fetches.
type Info struct {
	Dir        string
	Remote     string
	BaseBranch string
	// BaseSHA is the base branch's commit at the last successful fetch ("" before).
	BaseSHA string
	// FetchedAt is when the last fetch finished (successful or not); zero before.
	FetchedAt time.Time
	// FetchErr is the last fetch's failure, or nil.
	FetchErr error
	// PRs is the outcome of the last fetch that included each PR.
	PRs map[int]PRRef
	// Generation counts completed fetches.
	Generation int64
	GitVersion Version
}

// PRRef is one PR's ref in the mirror.
type PRRef struct {
	Number    int
	SHA       string    // refs/pull/N/head as last fetched; "" if never fetched
	FetchedAt time.Time // last fetch attempt that included it
	Err       error     // that attempt's failure (ErrRefMissing, or the fetch's error)
}

var branchRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)

// validBranch is a conservative check of a branch name put into a refspec.
func validBranch(b string) bool {
	return branchRE.MatchString(b) && !strings.Contains(b, "..") && !strings.Contains(b, "//") &&
		!strings.HasSuffix(b, "/") && !strings.HasSuffix(b, ".lock") && !strings.HasSuffix(b, ".")
}

var remoteRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// Open checks git (present, >= MinVersion) and the repository at dir, and returns its
// Mirror. dir must already be a git repository, normally made with
// `git clone --bare URL dir`.
func Open(ctx context.Context, dir string, opts Options) (*Mirror, error) {
	m := &Mirror{
		dir:      dir,
		remote:   cmpOr(opts.Remote, defaultRemote),
		base:     cmpOr(opts.Base, defaultBase),
		fetchTO:  opts.FetchTimeout,
		log:      opts.Logger,
		fetchSem: make(chan struct{}, 1),
		memo:     newMemo(defaultMemoEntries, defaultMemoTTL),
	}
	if m.fetchTO <= 0 {
		m.fetchTO = defaultFetchTimeout
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if !remoteRE.MatchString(m.remote) {
		return nil, fmt.Errorf("gitmirror: remote %q: want a remote name", m.remote)
	}
	if !validBranch(m.base) {
		return nil, fmt.Errorf("gitmirror: base branch %q: not a valid branch name", m.base)
	}
	to := opts.CommandTimeout
	if to <= 0 {
		to = defaultCommandTimeout
	}
	r, err := newRunner(dir, to, opts.Env)
	if err != nil {
		return nil, fmt.Errorf("gitmirror: %w", err)
	}
	m.git = r
	if m.version, err = r.version(ctx); err != nil {
		return nil, fmt.Errorf("gitmirror: %w", err)
	}
	m.batch = m.version.atLeast(Version{Major: 2, Minor: 39})
	out, err := r.run(ctx, 0, nil, "rev-parse", "--is-bare-repository")
	if err != nil {
		return nil, fmt.Errorf("gitmirror: %s: %w: %w", dir, ErrNotRepository, err)
	}
	if strings.TrimSpace(string(out)) != "true" {
		m.log.Warn("git dir is not bare; its work tree is never touched", "dir", dir)
	}
	m.status = Info{Dir: dir, Remote: m.remote, BaseBranch: m.base, PRs: map[int]PRRef{}, GitVersion: m.version}
	// Pick up what an earlier run fetched, so predictions work before the first fetch.
	if err := m.readRefs(ctx); err != nil {
		m.log.Warn("read refs", "err", err)
	}
	return m, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Info returns a snapshot of what the mirror knows; it never waits for a fetch.
func (m *Mirror) Info() Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.PRs = maps.Clone(s.PRs)
	s.Generation = m.gen.Load()
	return s
}

// BaseSHA returns the base branch's commit at the last fetch, or "".
func (m *Mirror) BaseSHA() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status.BaseSHA
}

// Generation counts completed fetches; it changes whenever new objects may have
// arrived.
func (m *Mirror) Generation() int64 { return m.gen.Load() }

func baseRef(branch string) string { return refPrefix + "base/" + branch }
func pullRef(n int) string         { return refPrefix + "pull/" + strconv.Itoa(n) }

// FetchResult is the outcome of one Fetch.
type FetchResult struct {
	BaseSHA string
	PRs     map[int]PRRef // one per requested PR
}

// missingRefRE finds the ref that made a fetch fail as a whole.
var missingRefRE = regexp.MustCompile(`couldn't find remote ref (refs/\S+)`)

// Fetch updates the mirror from the remote: the base branch and refs/pull/N/head of
// every PR in prs, in one `git fetch`, all bounded by the fetch timeout, into
// refs/testingd/. A PR whose ref the remote lacks is recorded with ErrRefMissing and
// the others are fetched again without it (git fails a fetch as a whole, naming the
// first missing ref). Fetches run one at a time: a second caller waits for the first
// (or its ctx). The error is for the fetch as a whole (remote unreachable, timeout,
// missing base branch); per-PR failures are in the result.
func (m *Mirror) Fetch(ctx context.Context, prs []int) (FetchResult, error) {
	select {
	case m.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return FetchResult{}, fmt.Errorf("fetch: %w", ctx.Err())
	}
	defer func() { <-m.fetchSem }()

	started := time.Now()
	want := map[string]int{baseRef(m.base): 0} // our ref → PR number (0: base)
	specs := map[string]string{"refs/heads/" + m.base: baseRef(m.base)}
	res := FetchResult{PRs: map[int]PRRef{}}
	for _, n := range prs {
		if n <= 0 {
			continue
		}
		want[pullRef(n)] = n
		specs["refs/pull/"+strconv.Itoa(n)+"/head"] = pullRef(n)
	}
	missing := map[int]bool{}
	var fetchErr error
	// One bound for the whole fetch, retries without missing refs included.
	fctx, cancel := context.WithTimeout(ctx, m.fetchTO)
	defer cancel()
	for len(specs) > 0 {
		// A commit-graph keeps merge-base and ancestry walks fast on a long history;
		// with --split each fetch adds only a small layer.
		args := []string{"-c", "fetch.writeCommitGraph=true", "fetch", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", "--no-recurse-submodules", "--quiet", "--", m.remote}
		for _, src := range slices.Sorted(maps.Keys(specs)) {
			args = append(args, "+"+src+":"+specs[src])
		}
		_, err := m.git.run(fctx, m.fetchTO, nil, args...)
		if err == nil {
			break
		}
		var ge *GitError
		if errors.As(err, &ge) {
			if mm := missingRefRE.FindStringSubmatch(ge.Stderr); mm != nil {
				if dst, ok := specs[mm[1]]; ok {
					n := want[dst]
					if n == 0 {
						fetchErr = fmt.Errorf("fetch %s: %w", mm[1], ErrRefMissing)
						break
					}
					missing[n] = true
					delete(specs, mm[1])
					continue
				}
			}
		}
		fetchErr = fmt.Errorf("fetch: %w", err)
		break
	}
	m.gen.Add(1)
	if err := m.readRefs(ctx); err != nil && fetchErr == nil {
		fetchErr = err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.FetchedAt = time.Now()
	m.status.FetchErr = fetchErr
	for _, n := range prs {
		if n <= 0 {
			continue
		}
		ref := m.status.PRs[n]
		ref.Number, ref.FetchedAt, ref.Err = n, started, nil
		switch {
		case missing[n]:
			ref.Err = fmt.Errorf("refs/pull/%d/head: %w", n, ErrRefMissing)
		case fetchErr != nil:
			ref.Err = fetchErr
		}
		m.status.PRs[n] = ref
		res.PRs[n] = ref
	}
	res.BaseSHA = m.status.BaseSHA
	if fetchErr != nil {
		m.log.Warn("fetch failed", "remote", m.remote, "prs", len(prs), "err", fetchErr, "took", time.Since(started))
	} else {
		m.log.Debug("fetched", "remote", m.remote, "prs", len(prs), "missing", len(missing), "took", time.Since(started))
	}
	return res, fetchErr
}

// readRefs records the SHAs of our refs.
func (m *Mirror) readRefs(ctx context.Context) error {
	out, err := m.git.run(ctx, 0, nil, "for-each-ref", "--format=%(objectname) %(refname)", refPrefix)
	if err != nil {
		return fmt.Errorf("read refs: %w", err)
	}
	refs, err := parseRefs(out)
	if err != nil {
		return fmt.Errorf("read refs: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sha, ok := refs[baseRef(m.base)]; ok {
		m.status.BaseSHA = sha
	}
	for name, sha := range refs {
		num, ok := strings.CutPrefix(name, refPrefix+"pull/")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 {
			continue
		}
		ref := m.status.PRs[n]
		ref.Number, ref.SHA = n, sha
		m.status.PRs[n] = ref
	}
	return nil
}
