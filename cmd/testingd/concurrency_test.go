package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/persistence"
)

// TestManyProcessesLoseNothing runs three testingd processes on one state file, each
// serving several clients that make random writes at once. Afterwards, replaying the
// audit trail over the initial state gives exactly the final state file, and the trail
// holds one event per write that succeeded: nothing was lost or recorded out of order.
func TestManyProcessesLoseNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts three servers")
	}
	bin := testingdBinary(t)
	gh := fakegithub.New(t)
	jk := fakejenkins.New(t)
	const pool = 30
	heads := map[int]string{}
	for n := 1; n <= pool; n++ {
		heads[n] = fmt.Sprintf("%040x", 1000+n)
		gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR " + strconv.Itoa(n), Head: heads[n]})
	}
	dir := t.TempDir()
	statePath := filepath.Join(dir, "_testing-prs.json")
	initial := persistence.NewState()
	for n := 1; n <= 10; n++ {
		pr := persistence.NewPR(n, heads[n])
		pr.Title, pr.AddedAt = "PR "+strconv.Itoa(n), "2026-08-01T10:00:00+00:00"
		initial.PRs = append(initial.PRs, pr)
	}
	if err := os.WriteFile(statePath, initial.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}

	var urls []string
	for range 3 {
		urls = append(urls, startProcess(t, bin, dir, "--state-file", statePath, "--github-api-url", gh.URL+"/",
			"--jenkins-runs-url", jk.RunsURL(), "--jenkins-trigger-url", jk.TriggerURL()))
	}

	var (
		mu        sync.Mutex
		succeeded int
		wg        sync.WaitGroup
	)
	for i := range 12 {
		client := testingv1connect.NewTestingServiceClient(http.DefaultClient, urls[i%len(urls)])
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		wg.Go(func() {
			for range 20 {
				if err := randomWrite(t.Context(), client, rng, pool, true); err != nil {
					t.Errorf("write: %v", err)
					continue
				}
				mu.Lock()
				succeeded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	events := auditTrail(t, statePath)
	if len(events) != succeeded {
		t.Errorf("%d events for %d successful writes", len(events), succeeded)
	}

	type fields struct {
		Commit, PullLatest string
		Active             bool
		Pending            *bool
	}
	replayed := map[int]fields{}
	for _, pr := range initial.PRs {
		replayed[pr.Number] = fields{pr.Commit, pr.PullLatestSHA, pr.Active, pr.PendingActive}
	}
	for _, ev := range events {
		for _, p := range ev.PRs {
			switch {
			case p.After != nil:
				replayed[p.Number] = fields{p.After.Commit, p.After.PullLatestSHA, p.After.Active, p.After.PendingActive}
			case p.Before != nil:
				delete(replayed, p.Number)
			}
		}
	}
	final, err := persistence.Parse(mustReadFile(t, statePath))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]fields{}
	for _, pr := range final.PRs {
		if _, dup := got[pr.Number]; dup {
			t.Errorf("#%d is in the set twice", pr.Number)
		}
		got[pr.Number] = fields{pr.Commit, pr.PullLatestSHA, pr.Active, pr.PendingActive}
	}
	if diff := cmp.Diff(replayed, got); diff != "" {
		t.Errorf("final state differs from the replayed audit trail (-trail +file):\n%s", diff)
	}
	t.Logf("%d writes by 12 clients through 3 processes; %d PRs in the final set", succeeded, len(got))
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// startProcess starts bin on a free loopback port and returns its base URL; it is
// stopped with SIGTERM when the test ends.
func startProcess(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "listening" {
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return "http://" + rec.Addr
		}
	}
	t.Fatalf("testingd did not start")
	return ""
}
