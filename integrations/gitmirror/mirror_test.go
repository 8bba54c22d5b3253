package gitmirror

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestOpenErrors(t *testing.T) {
	// Not parallel: the cases change PATH.
	fakeGit := func(t *testing.T, version string) string {
		dir := t.TempDir()
		script := "#!/bin/sh\necho '" + version + "'\n"
		if err := os.WriteFile(filepath.Join(dir, "git"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name  string
		path  func(t *testing.T) string // PATH; "" keeps ours
		dir   func(t *testing.T) string
		check func(error) bool
	}{
		{"git missing", func(t *testing.T) string { return t.TempDir() }, func(t *testing.T) string { return t.TempDir() },
			func(err error) bool { return errors.Is(err, ErrGitMissing) }},
		{"git too old", func(t *testing.T) string { return fakeGit(t, "git version 2.37.9") }, func(t *testing.T) string { return t.TempDir() },
			func(err error) bool { var v *VersionError; return errors.As(err, &v) && v.Have == "git version 2.37.9" }},
		{"not git", func(t *testing.T) string { return fakeGit(t, "hello") }, func(t *testing.T) string { return t.TempDir() },
			func(err error) bool { var v *VersionError; return errors.As(err, &v) }},
		{"not a repository", nil, func(t *testing.T) string { return t.TempDir() },
			func(err error) bool { return errors.Is(err, ErrNotRepository) }},
		{"missing directory", nil, func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			func(err error) bool { return errors.Is(err, ErrNotRepository) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.path != nil {
				t.Setenv("PATH", c.path(t))
			}
			_, err := Open(t.Context(), c.dir(t), Options{})
			if err == nil || !c.check(err) {
				t.Errorf("Open: %v", err)
			}
		})
	}
	t.Run("bad options", func(t *testing.T) {
		dir := t.TempDir()
		git(t, dir, "init", "-q", "--bare", dir)
		for _, o := range []Options{{Remote: "-x"}, {Base: "a..b"}, {Base: "x:y"}, {Base: "-f"}} {
			if _, err := Open(t.Context(), dir, o); err == nil {
				t.Errorf("Open(%+v) accepted", o)
			}
		}
	})
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"git version 2.39.5\n", Version{2, 39, 5}, true},
		{"git version 2.45.1.windows.1", Version{2, 45, 1}, true},
		{"git version 2.39.3 (Apple Git-146)", Version{2, 39, 3}, true},
		{"git version 3.0", Version{3, 0, 0}, true},
		{"git version x", Version{}, false},
		{"", Version{}, false},
	}
	for _, c := range cases {
		got, ok := parseVersion(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseVersion(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if (Version{2, 38, 0}).atLeast(Version{2, 39, 0}) || !(Version{3, 0, 0}).atLeast(MinVersion) || !(Version{2, 38, 0}).atLeast(MinVersion) {
		t.Error("atLeast")
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, t.TempDir())
	c1 := u.commit("master", "", map[string]string{"a": "a\n"})
	p1 := u.commit("pr1", c1, map[string]string{"b": "b\n"})
	u.pull(1, p1)
	p3 := u.commit("pr3", c1, map[string]string{"c": "c\n"})
	u.pull(3, p3)
	m := cloneMirror(t, u, Options{})

	res, err := m.Fetch(t.Context(), []int{3, 2, 1, 0, -4})
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseSHA != c1 || m.BaseSHA() != c1 {
		t.Errorf("base %s / %s, want %s", res.BaseSHA, m.BaseSHA(), c1)
	}
	if len(res.PRs) != 3 {
		t.Errorf("PRs: %+v", res.PRs)
	}
	if r := res.PRs[1]; r.SHA != p1 || r.Err != nil || r.FetchedAt.IsZero() {
		t.Errorf("#1: %+v", r)
	}
	if r := res.PRs[3]; r.SHA != p3 || r.Err != nil {
		t.Errorf("#3: %+v", r)
	}
	if r := res.PRs[2]; r.SHA != "" || !errors.Is(r.Err, ErrRefMissing) {
		t.Errorf("#2: %+v", r)
	}

	// The base moves and a PR is force-pushed; a new mirror opened on the same
	// directory knows the refs before fetching.
	c2 := u.commit("master", "", map[string]string{"a": "a2\n"})
	p1b := u.commit("pr1", c1, map[string]string{"b": "b2\n"})
	u.pull(1, p1b)
	if _, err := m.Fetch(t.Context(), []int{1}); err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.BaseSHA != c2 || info.PRs[1].SHA != p1b || info.PRs[3].SHA != p3 || info.FetchErr != nil || info.Generation != 2 {
		t.Errorf("after the second fetch: %+v", info)
	}
	again, err := Open(t.Context(), info.Dir, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if i := again.Info(); i.BaseSHA != c2 || i.PRs[1].SHA != p1b || i.PRs[3].SHA != p3 {
		t.Errorf("reopened: %+v", i)
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, t.TempDir())
	c1 := u.commit("master", "", map[string]string{"a": "a\n"})
	u.pull(1, c1)

	t.Run("missing base branch", func(t *testing.T) {
		t.Parallel()
		m := cloneMirror(t, u, Options{Base: "main"})
		_, err := m.Fetch(t.Context(), []int{1})
		if !errors.Is(err, ErrRefMissing) {
			t.Errorf("err = %v, want ErrRefMissing", err)
		}
		if i := m.Info(); i.FetchErr == nil || i.PRs[1].Err == nil || i.BaseSHA != "" {
			t.Errorf("info: %+v", i)
		}
	})
	t.Run("unreachable remote", func(t *testing.T) {
		t.Parallel()
		m := cloneMirror(t, u, Options{})
		git(t, m.dir, "remote", "set-url", "origin", filepath.Join(t.TempDir(), "gone"))
		_, err := m.Fetch(t.Context(), []int{1})
		var ge *GitError
		if !errors.As(err, &ge) || ge.ExitCode <= 0 || ge.Stderr == "" {
			t.Errorf("err = %#v", err)
		}
		if i := m.Info(); i.FetchErr == nil || i.PRs[1].Err == nil {
			t.Errorf("info: %+v", i)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		m := cloneMirror(t, u, Options{FetchTimeout: 300 * time.Millisecond})
		// The remote side hangs: git runs uploadpack through the shell.
		git(t, m.dir, "config", "remote.origin.uploadpack", "sleep 30; git-upload-pack")
		start := time.Now()
		_, err := m.Fetch(t.Context(), []int{1})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("fetch took %v after its timeout", d)
		}
	})
	t.Run("caller gives up waiting for another fetch", func(t *testing.T) {
		t.Parallel()
		m := cloneMirror(t, u, Options{})
		m.fetchSem <- struct{}{} // a fetch is running
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := m.Fetch(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		// Reads do not wait for it.
		done := make(chan struct{})
		go func() { m.Info(); _, _ = m.Predict(t.Context(), c1, nil); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("a read waited for the fetch")
		}
		<-m.fetchSem
	})
}

// TestConcurrent runs fetches and predictions at once (for -race).
func TestConcurrent(t *testing.T) {
	s := newScenario(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if i%2 == 0 {
				if _, err := s.m.Fetch(t.Context(), numbers(s.items)); err != nil {
					t.Error(err)
				}
				return
			}
			p, err := s.m.Predict(t.Context(), s.base, s.items)
			if err != nil {
				t.Error(err)
				return
			}
			for _, o := range p.Items {
				if o.Status != s.want[o.Number].status {
					t.Errorf("#%d: %v", o.Number, o.Status)
				}
			}
		})
	}
	wg.Wait()
}
