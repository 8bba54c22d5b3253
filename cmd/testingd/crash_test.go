//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/gofrs/flock"
	"github.com/google/go-cmp/cmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/persistence"
)

// Crash safety (issue 6, item 1): TestCrashSafety SIGKILLs testingd at random moments
// of a stream of writes and deploys, restarts it, and checks after every kill that the
// state file and the audit trail are exactly one of the outcomes the code allows.
//
// What the code allows. A write is Store.Transact: take the state lock; re-read the
// file; run fn; write a temp file, fsync it, rename it over the state file (the commit
// point of the state), fsync the directory; then run commit, which (for the audited
// writes of service/writes.go) takes the audit lock and appends the event's line with
// one write(2) and fsyncs it (the commit point of the event); release the locks; build
// the status; answer. A deploy's commit first asks Jenkins and only then appends; a
// refused deploy restores the old bytes (temp + rename again), releases the lock, and
// appends a deploy_failed event outside it. SIGKILL cannot tear a rename, and the event
// line is one write(2) of less than a page (Linux stops a buffered write for a fatal
// signal only between pages: a torn line is counted as a failure), so with T the
// trail's events and R the state obtained by replaying T over the state of the previous
// check, after a kill exactly one holds:
//
//	A  the write in flight left no trace: the file is R, T has no event for it (killed
//	   before the rename, or after a refused deploy's restore but before deploy_failed);
//	B  the file is ahead of the trail by exactly the write in flight: the file is
//	   apply(in-flight request, R) and T has no event for it (killed between the rename
//	   and the event line; for a deploy, anywhere in the Jenkins call too);
//	C  the write in flight completed: T's last event is its event and the file is R
//	   (killed after the event line, before the answer reached the client).
//
// In all three, every request answered OK before the kill has its event in T, in
// request order, with the version its answer reported; a request answered with an
// error has exactly the events that error implies (ABORTED and "nothing to deploy":
// none; a refused deploy: one deploy_failed, and the file's bytes unchanged); the
// event chain is unbroken (each event's version_before is the version_after of the
// one before it, the first the version of the previous check); the file parses and is
// byte-for-byte what Marshal writes; the trail is whole lines of events; and the
// restarted process serves the same version. Only B breaks the chain, so over the whole
// run the trail's chain breaks exactly at the first event after each B kill.

var (
	crashRunsFlag   = flag.Int("crash-runs", 0, "kill/restart cycles of TestCrashSafety (default $TESTINGD_CRASH_RUNS, else 25)")
	crashSeedFlag   = flag.Uint64("crash-seed", 0, "seed of TestCrashSafety's request stream (default: from the clock)")
	crashReportFlag = flag.String("crash-report", "", "TestCrashSafety writes its figures (Markdown) to this file")
)

// crashRuns is how many kill/restart cycles to run.
func crashRuns(t *testing.T) int {
	if *crashRunsFlag > 0 {
		return *crashRunsFlag
	}
	if s := os.Getenv("TESTINGD_CRASH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TESTINGD_CRASH_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return 25
}

func TestCrashSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills testingd many times")
	}
	runs := crashRuns(t)
	seed := *crashSeedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("%d cycles, seed %d (-crash-seed=%d repeats the request stream; kill timing stays random)", runs, seed, seed)

	h := newCrashHarness(t, seed)
	start := time.Now()
	for cycle := range runs {
		h.cycle(cycle)
		if t.Failed() {
			t.Fatalf("stopping at cycle %d (seed %d)", cycle, seed)
		}
	}
	h.finish()
	h.stats.Duration = time.Since(start)
	t.Log(h.stats.summary())
	if *crashReportFlag != "" && !t.Failed() {
		if err := os.WriteFile(*crashReportFlag, []byte(h.stats.markdown(runs, seed)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// crashPool is how many PRs the fake GitHub serves; AddPRs sometimes asks for
// crashPool+1, which it does not have.
const crashPool = 12

type crashHarness struct {
	t         *testing.T
	bin       string
	dir       string
	statePath string
	auditPath string
	gh        *fakegithub.Server
	jk        *fakejenkins.Server
	rng       *rand.Rand
	heads     map[int]string // what the fake GitHub serves; changed only between cycles
	headGen   int

	// What the last check established.
	version     string    // the state file's version
	view        crashView // the state file's rows
	auditOffset int64     // bytes of the trail already read (whole lines)
	events      []persistence.Event
	initial     string // the version before any write
	known       string // the client's idea of the current version (may be stale)
	temps       map[string]bool
	gapsAt      []int // indexes in events where the chain of versions must break
	pendingB    bool  // a B kill whose gap awaits the next event

	stats crashStats
}

func newCrashHarness(t *testing.T, seed uint64) *crashHarness {
	bin := testingdBinary(t)
	h := &crashHarness{
		t:     t,
		bin:   bin,
		dir:   t.TempDir(),
		gh:    fakegithub.New(t),
		jk:    fakejenkins.New(t),
		rng:   rand.New(rand.NewPCG(seed, 0x6372617368)),
		heads: map[int]string{},
		temps: map[string]bool{},
	}
	h.statePath = filepath.Join(h.dir, "_testing-prs.json")
	h.auditPath = persistence.AuditPath(h.statePath)
	for n := 1; n <= crashPool; n++ {
		h.setHead(n)
	}
	if err := os.WriteFile(h.statePath, persistence.NewState().Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := persistence.NewStore(h.statePath, nil).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h.version, h.initial, h.known = snap.Version, snap.Version, snap.Version
	h.view = viewOf(snap.State)
	return h
}

// setHead gives PR n a new head on the fake GitHub.
func (h *crashHarness) setHead(n int) {
	h.headGen++
	h.heads[n] = fmt.Sprintf("%040x", 0xc0ffee000000+h.headGen)
	h.gh.SetPull(fakegithub.PullSpec{Number: n, Title: "PR " + strconv.Itoa(n), Head: h.heads[n]})
}

// crashOp is one request of the stream and what became of it.
type crashOp struct {
	RPC      string // AddPRs, RemovePRs, RestorePRs, StagePRs, Deploy
	Stage    testingv1.Stage
	Numbers  []int
	Expected string // expected_version sent, "" = none
	// Outcome: "ok"; "aborted" (version mismatch); "nothing" (nothing to deploy);
	// "refused" (Jenkins did not accept the deploy); "inflight" (no answer: killed).
	Outcome  string
	Version  string // ok: the version the answer reported
	QueueURL string // ok deploy: the Jenkins queue item
	// Unavailable: the numbers the answer says GitHub could not be asked about (the
	// fake never fails, but a loaded machine can time a request out): nothing was done
	// to them.
	Unavailable []int
}

func (op *crashOp) String() string {
	s := op.RPC
	if op.RPC == "StagePRs" {
		s += " " + op.Stage.String()
	}
	if len(op.Numbers) > 0 {
		s += fmt.Sprint(" ", op.Numbers)
	}
	if op.Expected != "" {
		s += " expected_version=" + op.Expected
	}
	return s + " → " + op.Outcome
}

// crashProcess is one running testingd.
type crashProcess struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr []string // log lines
	done   chan struct{}
}

func (p *crashProcess) lines() []string {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr
}

// start runs testingd on the state file and waits until it listens.
func (h *crashHarness) start() *crashProcess {
	t := h.t
	t.Helper()
	cmd := exec.Command(h.bin, "--listen", "127.0.0.1:0", "--log-format", "json", "--auth", "dev",
		"--state-file", h.statePath, "--github-api-url", h.gh.URL+"/",
		"--jenkins-token", "crash-test", "--jenkins-runs-url", h.jk.RunsURL(), "--jenkins-trigger-url", h.jk.TriggerURL())
	cmd.Dir = h.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	// Our own pipe rather than StderrPipe, which Wait closes: the lines a process wrote
	// before its kill are read to the end.
	stderr, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stderr.Close()
		t.Fatal(err)
	}
	p := &crashProcess{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
			p.mu.Lock()
			p.stderr = append(p.stderr, line)
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatalf("testingd exited before listening:\n%s", strings.Join(p.lines(), "\n"))
	case <-time.After(30 * time.Second):
		t.Fatal("testingd did not start in 30 s")
	}
	return p
}

// cycle is one run: set up the fakes, start testingd, check it serves what the last
// check found, stream requests, kill it at a random moment, check the files.
func (h *crashHarness) cycle(cycle int) {
	t := h.t
	// Between cycles (no process runs): new heads for some PRs, so that PULL_LATEST has
	// something to stage, and how Jenkins answers this time.
	for n := 1; n <= crashPool; n++ {
		if h.rng.IntN(6) == 0 {
			h.setHead(n)
		}
	}
	jenkins := "accepts"
	switch r := h.rng.IntN(20); {
	case r < 4:
		jenkins = "refuses (403)"
		h.jk.SetTriggerStatus(http.StatusForbidden)
	case r < 7:
		jenkins = "fails (502)"
		h.jk.SetTriggerStatus(http.StatusBadGateway)
	default:
		h.jk.SetTriggerStatus(http.StatusCreated)
	}
	latency := time.Duration(0)
	if h.rng.IntN(2) == 0 {
		latency = time.Duration(1+h.rng.IntN(20)) * time.Millisecond
	}
	h.jk.SetLatency(latency)
	jenkinsSeen := len(h.jk.Requests())

	p := h.start()
	httpc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer httpc.CloseIdleConnections()
	client := testingv1connect.NewTestingServiceClient(httpc, p.url)

	// The restarted process serves exactly the state the last check found.
	st, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatalf("cycle %d: GetStatus after restart: %v", cycle, err)
	}
	if st.Msg.Version != h.version {
		t.Errorf("cycle %d: after restart testingd serves version %s; the file checked after the kill was %s", cycle, st.Msg.Version, h.version)
	}
	if h.rng.IntN(2) == 0 {
		h.known = st.Msg.Version // else keep the (maybe stale) one from before the kill
	}

	var (
		stop     atomic.Bool
		ops      []*crashOp
		clientWG sync.WaitGroup
	)
	crng := rand.New(rand.NewPCG(h.rng.Uint64(), uint64(cycle)))
	clientWG.Go(func() { ops = h.stream(client, crng, &stop) })

	// A random moment: mostly anywhere in the first 200 ms of the stream, sometimes
	// within its first few milliseconds.
	delay := time.Duration(h.rng.Int64N(int64(200 * time.Millisecond)))
	if h.rng.IntN(5) == 0 {
		delay = time.Duration(h.rng.Int64N(int64(5 * time.Millisecond)))
	}
	time.Sleep(delay)
	stateHeld, auditHeld := lockHeld(h.statePath+".lock"), lockHeld(h.auditPath+".lock")
	stop.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("cycle %d: kill: %v", cycle, err)
	}
	werr := p.cmd.Wait()
	clientWG.Wait()
	var exit *exec.ExitError
	if !errors.As(werr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("cycle %d: testingd ended with %v before the kill", cycle, werr)
	}

	k := crashKill{Cycle: cycle, Delay: delay, Jenkins: jenkins, Latency: latency, StateLockHeld: stateHeld, AuditLockHeld: auditHeld}
	h.checkLogs(cycle, p.lines())
	h.check(cycle, ops, &k, h.jk.Requests()[jenkinsSeen:])
	h.stats.add(k, ops)
}

// lockHeld reports whether another process holds the flock on path, by trying to take
// it without waiting (and letting it go at once).
func lockHeld(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	l := flock.New(path)
	ok, err := l.TryLock()
	if err != nil {
		return false
	}
	if ok {
		_ = l.Unlock()
		return false
	}
	return true
}

// stream sends requests one after another until stop, and returns them with their
// outcomes. The one without an answer when stop came is the write in flight.
func (h *crashHarness) stream(client testingv1connect.TestingServiceClient, rng *rand.Rand, stop *atomic.Bool) []*crashOp {
	t := h.t
	var ops []*crashOp
	pick := func(limit int) []int {
		var ns []int
		for range 1 + rng.IntN(3) {
			ns = append(ns, 1+rng.IntN(limit))
		}
		return ns
	}
	for !stop.Load() {
		op := &crashOp{Outcome: "inflight"}
		switch r := rng.IntN(100); {
		case r < 8: // a read, which also refreshes the client's version
			st, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if err != nil {
				if !stop.Load() {
					t.Errorf("GetStatus: %v", err)
				}
				return ops
			}
			h.known = st.Msg.Version
			continue
		case r < 30:
			op.RPC, op.Numbers = "AddPRs", pick(crashPool+1)
		case r < 42:
			op.RPC, op.Numbers = "RemovePRs", pick(crashPool)
		case r < 52:
			op.RPC, op.Numbers = "RestorePRs", pick(crashPool)
		case r < 86:
			op.RPC, op.Numbers = "StagePRs", pick(crashPool)
			op.Stage = []testingv1.Stage{testingv1.Stage_STAGE_ENABLE, testingv1.Stage_STAGE_DISABLE, testingv1.Stage_STAGE_PULL_LATEST, testingv1.Stage_STAGE_UNSTAGE}[rng.IntN(4)]
		default:
			op.RPC = "Deploy"
		}
		switch r := rng.IntN(20); {
		case r < 8:
			op.Expected = h.known
		case r == 8:
			op.Expected = "0123456789abcdef" // never a version
		}
		var before []byte
		if op.RPC == "Deploy" {
			before = mustReadFile(t, h.statePath) // nothing else writes while we wait for the answer
		}
		ops = append(ops, op)
		version, queue, err := crashSend(t.Context(), client, op)
		if err == nil {
			op.Outcome, op.Version, op.QueueURL = "ok", version, queue
			h.known = version
			continue
		}
		if stop.Load() {
			return ops // no answer, or one that came as we killed: the outcome is unknown
		}
		code := connect.CodeOf(err)
		switch {
		case code == connect.CodeAborted:
			op.Outcome = "aborted"
			if cur := h.fileVersion(); op.Expected == cur {
				t.Errorf("%s: ABORTED although the state is at the expected version %s", op, cur)
			}
		case code == connect.CodeFailedPrecondition && op.RPC == "Deploy":
			op.Outcome = "nothing"
		case code == connect.CodeUnavailable && op.RPC == "Deploy":
			op.Outcome = "refused"
			if after := mustReadFile(t, h.statePath); !bytes.Equal(after, before) {
				t.Errorf("Deploy refused by Jenkins (%v) but the state file's bytes changed:\n%s", err, cmp.Diff(string(before), string(after)))
			}
		default:
			t.Errorf("%s: unexpected error before the kill: %v", op, err)
			return ops
		}
	}
	return ops
}

// crashSend sends op and returns the version the answer reports.
func crashSend(ctx context.Context, c testingv1connect.TestingServiceClient, op *crashOp) (version, queueURL string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nums := make([]int32, len(op.Numbers))
	for i, n := range op.Numbers {
		nums[i] = int32(n)
	}
	switch op.RPC {
	case "AddPRs":
		refs := make([]string, len(op.Numbers))
		for i, n := range op.Numbers {
			refs[i] = "#" + strconv.Itoa(n)
		}
		r, err := c.AddPRs(ctx, connect.NewRequest(&testingv1.AddPRsRequest{Refs: refs, ExpectedVersion: op.Expected}))
		if err != nil {
			return "", "", err
		}
		for _, res := range r.Msg.Results {
			if res.Outcome == testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE {
				op.Unavailable = append(op.Unavailable, int(res.Number))
			}
		}
		return r.Msg.Status.GetVersion(), "", nil
	case "RemovePRs":
		r, err := c.RemovePRs(ctx, connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: nums, ExpectedVersion: op.Expected}))
		if err != nil {
			return "", "", err
		}
		return r.Msg.Status.GetVersion(), "", nil
	case "RestorePRs":
		r, err := c.RestorePRs(ctx, connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: nums, ExpectedVersion: op.Expected}))
		if err != nil {
			return "", "", err
		}
		return r.Msg.Status.GetVersion(), "", nil
	case "StagePRs":
		r, err := c.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: nums, Stage: op.Stage, ExpectedVersion: op.Expected}))
		if err != nil {
			return "", "", err
		}
		for _, res := range r.Msg.Results {
			if res.Outcome == testingv1.ItemOutcome_ITEM_OUTCOME_GITHUB_UNAVAILABLE {
				op.Unavailable = append(op.Unavailable, int(res.Number))
			}
		}
		return r.Msg.Status.GetVersion(), "", nil
	case "Deploy":
		r, err := c.Deploy(ctx, connect.NewRequest(&testingv1.DeployRequest{ExpectedVersion: op.Expected}))
		if err != nil {
			return "", "", err
		}
		if r.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED {
			return "", "", fmt.Errorf("deploy outcome %v, want TRIGGERED", r.Msg.Outcome)
		}
		return r.Msg.Status.GetVersion(), r.Msg.JenkinsQueueUrl, nil
	}
	panic("unknown RPC " + op.RPC)
}

// fileVersion is the state file's version as a fresh Store reads it.
func (h *crashHarness) fileVersion() string {
	snap, err := persistence.NewStore(h.statePath, nil).Load(h.t.Context())
	if err != nil {
		h.t.Errorf("load state file: %v", err)
		return ""
	}
	return snap.Version
}

// crashKill is what one kill found.
type crashKill struct {
	Cycle         int
	Delay         time.Duration
	Jenkins       string
	Latency       time.Duration
	StateLockHeld bool // the state file's lock was held just before the kill
	AuditLockHeld bool // the audit trail's lock was held just before the kill
	InFlight      string
	Class         string // "A", "B", "C", or "idle" (no write in flight)
	Journal       bool   // the kill left a journal (a commit was running): recovery undid or confirmed it
	NewTemps      int    // temp files the kill left behind (killed between create and rename)
	// For a deploy in flight: what Jenkins had done with its trigger at the kill:
	// "accepted", "refused", "no answer" (killed while Jenkins was answering) or
	// "not asked".
	Trigger string
}

// check checks the files after a kill and advances what the harness knows.
func (h *crashHarness) check(cycle int, ops []*crashOp, k *crashKill, jenkinsReqs []fakejenkins.Request) {
	t := h.t
	fail := func(format string, args ...any) {
		t.Helper()
		var b strings.Builder
		for _, op := range ops {
			b.WriteString("\n\t" + op.String())
		}
		t.Errorf("cycle %d: "+format+"\nrequests of the cycle:%s", append(append([]any{cycle}, args...), b.String())...)
	}

	// What the kill left, as the next start finds it: temp files (killed between
	// CreateTemp and the rename) and the journal (killed while a commit ran).
	matches, _ := filepath.Glob(filepath.Join(h.dir, "."+filepath.Base(h.statePath)+".tmp-*"))
	for _, m := range matches {
		if !h.temps[m] {
			h.temps[m] = true
			k.NewTemps++
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "."+filepath.Base(h.statePath)+".journal")); err == nil {
		k.Journal = true
	}
	// The next start recovers first (Store.Recover, as cmd/testingd does): the files
	// are checked as every reader after the restart sees them.
	if err := persistence.NewStore(h.statePath, nil).Recover(t.Context()); err != nil {
		fail("recover: %v", err)
		return
	}
	clear(h.temps) // Recover removed them

	// The state file parses, and is exactly what Marshal writes (a testingd write).
	raw := mustReadFile(t, h.statePath)
	st, err := persistence.Parse(raw)
	if err != nil {
		fail("state file does not parse after the kill: %v", err)
		return
	}
	if !bytes.Equal(raw, st.Marshal()) {
		fail("state file is not in the form testingd writes:\n%s", cmp.Diff(string(st.Marshal()), string(raw)))
	}
	version := h.fileVersion()
	file := viewOf(st)

	if left, _ := filepath.Glob(filepath.Join(h.dir, "."+filepath.Base(h.statePath)+".*")); len(left) > 0 {
		fail("left after recovery: %v", left)
	}

	// The trail: whole lines, each an event; the new ones since the last check.
	fresh, err := h.readTrail()
	if err != nil {
		fail("%v", err)
		return
	}

	// Match the events to the requests, in order.
	var inflight *crashOp
	if n := len(ops); n > 0 && ops[n-1].Outcome == "inflight" {
		inflight = ops[n-1]
		k.InFlight = inflight.RPC
		if inflight.RPC == "StagePRs" {
			k.InFlight += " " + strings.TrimPrefix(inflight.Stage.String(), "STAGE_")
		}
	}
	type pair struct {
		op *crashOp
		ev persistence.Event
	}
	var pairs []pair
	j := 0
	for _, op := range ops {
		if op == inflight {
			break
		}
		want := ""
		switch op.Outcome {
		case "ok":
			want = map[string]string{"AddPRs": "add", "RemovePRs": "remove", "RestorePRs": "restore", "StagePRs": "stage", "Deploy": "deploy"}[op.RPC]
		case "refused":
			want = "deploy_failed"
		default: // aborted, nothing: no event
			continue
		}
		if j >= len(fresh) {
			fail("%s: answered before the kill but the trail has no event for it (acknowledged write lost)", op)
			return
		}
		ev := fresh[j]
		j++
		switch {
		case ev.RPC != op.RPC || ev.Kind != want:
			fail("%s: the next event is %s/%s, want %s/%s", op, ev.RPC, ev.Kind, op.RPC, want)
			return
		case op.RPC == "StagePRs" && ev.Stage != strings.ToLower(strings.TrimPrefix(op.Stage.String(), "STAGE_")):
			fail("%s: event stage %q", op, ev.Stage)
			return
		case op.Outcome == "ok" && ev.VersionAfter != op.Version:
			fail("%s: answered with version %s, its event says %s", op, op.Version, ev.VersionAfter)
			return
		case op.Outcome == "ok" && op.Expected != "" && ev.VersionBefore != op.Expected:
			fail("%s: accepted with expected_version %s but applied to %s", op, op.Expected, ev.VersionBefore)
			return
		case op.RPC == "Deploy" && op.Outcome == "ok" && ev.JenkinsQueueURL != op.QueueURL:
			fail("%s: answered with queue %s, its event says %s", op, op.QueueURL, ev.JenkinsQueueURL)
			return
		}
		pairs = append(pairs, pair{op, ev})
	}
	inflightEvent := false
	if inflight != nil && j < len(fresh) {
		ev := fresh[j]
		if ev.RPC != inflight.RPC {
			fail("the write in flight was %s but the last event is %s/%s", inflight, ev.RPC, ev.Kind)
			return
		}
		pairs = append(pairs, pair{inflight, ev})
		inflightEvent = true
		j++
	}
	if j != len(fresh) {
		fail("%d events in the trail that no request explains: %+v", len(fresh)-j, fresh[j:])
		return
	}

	// The chain of versions is unbroken, and replaying the events gives R. Each event
	// is also checked against the model of its request (which is what case B relies on).
	prev, view := h.version, h.view
	for _, p := range pairs {
		ev := p.ev
		if ev.VersionBefore != prev {
			fail("%s: event version_before %s, but the state was at %s (a change without an event, not at a kill)", p.op, ev.VersionBefore, prev)
			return
		}
		next, err := replayEvent(view, ev)
		if err != nil {
			fail("%s: replaying its event: %v", p.op, err)
			return
		}
		if ev.Kind != "deploy_failed" {
			if model := applyOp(view, p.op, h.heads); !cmp.Equal(model, next) {
				fail("%s: its event disagrees with the model of the request (-model +event):\n%s", p.op, cmp.Diff(model, next))
				return
			}
		}
		if !cmp.Equal(view, next) && ev.VersionBefore == ev.VersionAfter {
			fail("%s: the event changes rows but not the version", p.op)
			return
		}
		prev, view = ev.VersionAfter, next
	}

	// The file is R (A, C), or R plus the write in flight (B).
	switch {
	case version == prev:
		if diff := cmp.Diff(view, file); diff != "" {
			fail("the state file has the trail's last version but other rows (-trail +file):\n%s", diff)
			return
		}
		switch {
		case inflight == nil:
			k.Class = "idle"
		case inflightEvent:
			k.Class = "C"
		default:
			k.Class = "A"
		}
	case inflight == nil || inflightEvent:
		fail("the state file is at %s, not at the trail's last version %s, and no write without an event was in flight", version, prev)
		return
	default:
		model := applyOp(view, inflight, h.heads)
		if cmp.Equal(model, view) && inflight.RPC != "Deploy" { // a deploy always writes (last_deploy_at)
			fail("the state file changed (%s → %s) although the write in flight (%s) changes nothing", prev, version, inflight)
			return
		}
		if diff := cmp.Diff(model, file); diff != "" {
			fail("the state file is ahead of the trail, but not by the write in flight %s (-expected +file):\n%s", inflight, diff)
			return
		}
		// Before the journal, this was the outcome of a kill between the rename and
		// the event (and of a deploy killed while Jenkins answered): a change nobody
		// acknowledged or recorded. Recovery now undoes it.
		fail("after recovery the state file is still ahead of the trail by the write in flight %s (the journal did not undo it)", inflight)
		k.Class = "B"
	}
	if inflight != nil && inflight.RPC == "Deploy" {
		// Each deploy answered before the kill asked Jenkins once, in order; a trigger
		// after those is the in-flight deploy's.
		var triggers []fakejenkins.Request
		for _, r := range jenkinsReqs {
			if r.Path == fakejenkins.TriggerPath {
				triggers = append(triggers, r)
			}
		}
		k.Trigger = "not asked"
		if answered := countAnswered(ops); len(triggers) > answered {
			switch triggers[answered].Status {
			case 0:
				k.Trigger = "no answer"
			case http.StatusCreated:
				k.Trigger = "accepted"
			default:
				k.Trigger = "refused"
			}
		}
	}

	// Where the trail's chain must have a gap: at the first event after a B kill (after
	// several B kills with no event between them, one gap).
	if len(fresh) > 0 && h.pendingB {
		h.gapsAt = append(h.gapsAt, len(h.events))
		h.pendingB = false
	}
	if k.Class == "B" {
		h.pendingB = true
	}
	h.version, h.view = version, file
	h.events = append(h.events, fresh...)
}

// countAnswered is how many deploys were answered (each asked Jenkins once).
func countAnswered(ops []*crashOp) int {
	n := 0
	for _, op := range ops {
		if op.RPC == "Deploy" && (op.Outcome == "ok" || op.Outcome == "refused") {
			n++
		}
	}
	return n
}

// readTrail reads the trail's new bytes: they must be whole lines, each an event.
func (h *crashHarness) readTrail() ([]persistence.Event, error) {
	f, err := os.Open(h.auditPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() < h.auditOffset {
		return nil, fmt.Errorf("the audit trail shrank from %d to %d bytes", h.auditOffset, fi.Size())
	}
	data, err := io.ReadAll(io.NewSectionReader(f, h.auditOffset, 1<<40))
	if err != nil {
		return nil, err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("the audit trail ends in a torn line at offset %d: %q", h.auditOffset+int64(bytes.LastIndexByte(data, '\n')+1), data[bytes.LastIndexByte(data, '\n')+1:])
	}
	var evs []persistence.Event
	off := h.auditOffset
	for line := range bytes.Lines(data) {
		var ev persistence.Event
		if err := json.Unmarshal(line, &ev); err != nil || ev.ID == "" {
			return nil, fmt.Errorf("audit trail line at offset %d is not an event (%v): %q", off, err, line)
		}
		evs = append(evs, ev)
		off += int64(len(line))
	}
	h.auditOffset = off
	return evs, nil
}

// checkLogs looks for what a kill must never cause in the next process, and for what
// the process said about the files.
func (h *crashHarness) checkLogs(cycle int, lines []string) {
	for _, line := range lines {
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") {
			h.t.Errorf("cycle %d: testingd crashed by itself: %s", cycle, line)
		}
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			if h.stats.Warnings == nil {
				h.stats.Warnings = map[string]int{}
			}
			h.stats.Warnings[rec.Level+" "+rec.Msg]++
		}
	}
}

// finish restarts testingd once more, checks it, makes one last write and stops it
// cleanly; then checks the whole trail: its chain of versions breaks exactly where B
// kills left the file ahead of it.
func (h *crashHarness) finish() {
	t := h.t
	p := h.start()
	client := testingv1connect.NewTestingServiceClient(http.DefaultClient, p.url)
	st, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatalf("GetStatus after the last restart: %v", err)
	}
	if st.Msg.Version != h.version {
		t.Errorf("after the last restart testingd serves version %s; the file checked was %s", st.Msg.Version, h.version)
	}
	op := &crashOp{RPC: "AddPRs", Numbers: []int{1}, Expected: h.version, Outcome: "inflight"}
	version, _, err := crashSend(t.Context(), client, op)
	if err != nil {
		t.Fatalf("a write after the last restart: %v", err)
	}
	op.Outcome, op.Version = "ok", version
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("testingd did not stop cleanly: %v", err)
	}
	h.checkLogs(-1, p.lines())
	h.check(-1, []*crashOp{op}, &crashKill{}, nil)

	// The whole trail as List reads it is the same as line by line.
	listed := auditTrail(t, h.statePath)
	if len(listed) != len(h.events) {
		t.Errorf("List returns %d events, the file has %d lines", len(listed), len(h.events))
	}
	var gaps []int
	prev := h.initial
	for i, ev := range h.events {
		if ev.VersionBefore != prev {
			gaps = append(gaps, i)
		}
		prev = ev.VersionAfter
	}
	if !slices.Equal(gaps, h.gapsAt) {
		t.Errorf("the trail's chain of versions breaks before events %v; the B kills put breaks before events %v", gaps, h.gapsAt)
	}
	h.stats.Gaps = len(gaps)
	h.stats.Events = len(h.events)
}

// crashPRView is one row as the checks compare it: what writes change.
type crashPRView struct {
	Commit, PullLatest string
	Active             bool
	Pending            string // "", "on", "off"
}

// crashView is the part of the state the audit trail describes: the rows in order and
// the removed rows RestorePRs can bring back.
type crashView struct {
	Order    []int
	PRs      map[int]crashPRView
	Removed  map[int]crashPRView
	Deployed []int // the last deploy's record: the rows it switched on
}

func (v crashView) clone() crashView {
	c := crashView{Order: slices.Clone(v.Order), PRs: map[int]crashPRView{}, Removed: map[int]crashPRView{}, Deployed: slices.Clone(v.Deployed)}
	for n, pr := range v.PRs {
		c.PRs[n] = pr
	}
	for n, pr := range v.Removed {
		c.Removed[n] = pr
	}
	return c
}

func pending(p *bool) string {
	switch {
	case p == nil:
		return ""
	case *p:
		return "on"
	}
	return "off"
}

func prView(pr persistence.PR) crashPRView {
	return crashPRView{Commit: pr.Commit, PullLatest: pr.PullLatestSHA, Active: pr.Active, Pending: pending(pr.PendingActive)}
}

func fieldsView(f *persistence.PRFields) crashPRView {
	return crashPRView{Commit: f.Commit, PullLatest: f.PullLatestSHA, Active: f.Active, Pending: pending(f.PendingActive)}
}

func viewOf(st *persistence.State) crashView {
	v := crashView{Order: []int{}, PRs: map[int]crashPRView{}, Removed: map[int]crashPRView{}, Deployed: []int{}}
	for _, d := range st.Deployed {
		n, err := strconv.Atoi(d.Key)
		if err != nil {
			n = -1
		}
		v.Deployed = append(v.Deployed, n)
	}
	for _, pr := range st.PRs {
		v.Order = append(v.Order, pr.Number)
		v.PRs[pr.Number] = prView(pr)
	}
	for _, r := range st.Removed {
		v.Removed[r.PR.Number] = prView(r.PR) // the newest removal wins, as RestorePRs reads it
	}
	return v
}

// replayEvent applies one event of the trail to v.
func replayEvent(v crashView, ev persistence.Event) (crashView, error) {
	v = v.clone()
	drop := func(n int) { v.Order = slices.DeleteFunc(v.Order, func(m int) bool { return m == n }) }
	for _, p := range ev.PRs {
		cur, in := v.PRs[p.Number]
		switch ev.Kind {
		case persistence.EventKindAdd, persistence.EventKindRestore:
			if p.After == nil {
				continue
			}
			if in {
				return v, fmt.Errorf("#%d %s but it is in the set", p.Number, p.Result)
			}
			v.Order = append(v.Order, p.Number)
			v.PRs[p.Number] = fieldsView(p.After)
			delete(v.Removed, p.Number)
		case persistence.EventKindRemove:
			if p.Before == nil {
				continue
			}
			if !in || cur != fieldsView(p.Before) {
				return v, fmt.Errorf("#%d removed as %+v but the set has %+v (in: %v)", p.Number, *p.Before, cur, in)
			}
			drop(p.Number)
			delete(v.PRs, p.Number)
			v.Removed[p.Number] = cur
		case persistence.EventKindStage:
			if p.After == nil {
				continue
			}
			if !in || p.Before == nil || cur != fieldsView(p.Before) {
				return v, fmt.Errorf("#%d staged from %+v but the set has %+v (in: %v)", p.Number, p.Before, cur, in)
			}
			v.PRs[p.Number] = fieldsView(p.After)
		case persistence.EventKindDeploy:
		case persistence.EventKindDeployFailed:
		default:
			return v, fmt.Errorf("unexpected event kind %q", ev.Kind)
		}
	}
	if ev.Kind == persistence.EventKindDeploy { // the event lists the whole set after it
		v = crashView{Order: []int{}, PRs: map[int]crashPRView{}, Removed: map[int]crashPRView{}, Deployed: []int{}}
		for _, p := range ev.PRs {
			if p.After == nil {
				return v, fmt.Errorf("deploy event without the fields of #%d", p.Number)
			}
			v.Order = append(v.Order, p.Number)
			v.PRs[p.Number] = fieldsView(p.After)
			if p.After.Active {
				v.Deployed = append(v.Deployed, p.Number)
			}
		}
	}
	return v, nil
}

// applyOp is what the service does with op to the rows v (service/writes.go and
// service/deploy.go, with every PR open on the fake GitHub): the model the B outcome is
// checked against, itself checked against every event of the run.
func applyOp(v crashView, op *crashOp, heads map[int]string) crashView {
	v = v.clone()
	var distinct []int
	for _, n := range op.Numbers {
		if !slices.Contains(distinct, n) {
			distinct = append(distinct, n)
		}
	}
	for _, n := range distinct {
		if slices.Contains(op.Unavailable, n) {
			continue
		}
		pr, in := v.PRs[n]
		switch op.RPC {
		case "AddPRs":
			if head, ok := heads[n]; !in && ok {
				v.Order = append(v.Order, n)
				v.PRs[n] = crashPRView{Commit: head, Active: true}
				delete(v.Removed, n)
			}
		case "RemovePRs":
			if in {
				v.Order = slices.DeleteFunc(v.Order, func(m int) bool { return m == n })
				delete(v.PRs, n)
				v.Removed[n] = pr
			}
		case "RestorePRs":
			if r, ok := v.Removed[n]; !in && ok {
				v.Order = append(v.Order, n)
				v.PRs[n] = r
				delete(v.Removed, n)
			}
		case "StagePRs":
			if !in {
				continue
			}
			switch op.Stage {
			case testingv1.Stage_STAGE_ENABLE, testingv1.Stage_STAGE_DISABLE:
				want := op.Stage == testingv1.Stage_STAGE_ENABLE
				current := pr.Active
				if pr.Pending != "" {
					current = pr.Pending == "on"
				}
				switch {
				case current == want:
				case want == pr.Active:
					pr.Pending = ""
				default:
					pr.Pending = map[bool]string{true: "on", false: "off"}[want]
				}
			case testingv1.Stage_STAGE_PULL_LATEST:
				switch head := heads[n]; {
				case head == pr.Commit:
					pr.PullLatest = ""
				case head != pr.PullLatest:
					pr.PullLatest = head
				}
			case testingv1.Stage_STAGE_UNSTAGE:
				pr.Pending, pr.PullLatest = "", ""
			}
			v.PRs[n] = pr
		}
	}
	if op.RPC == "Deploy" {
		for n, pr := range v.PRs {
			if pr.PullLatest != "" && pr.PullLatest != pr.Commit {
				pr.Commit = pr.PullLatest
			}
			pr.PullLatest = ""
			if pr.Pending != "" {
				pr.Active, pr.Pending = pr.Pending == "on", ""
			}
			v.PRs[n] = pr
		}
		v.Removed = map[int]crashPRView{}
		v.Deployed = []int{}
		for _, n := range v.Order {
			if v.PRs[n].Active {
				v.Deployed = append(v.Deployed, n)
			}
		}
	}
	return v
}

// crashStats are the figures of a run.
type crashStats struct {
	Kills    []crashKill
	Requests int            // writes sent
	Outcomes map[string]int // by outcome
	Classes  map[string]int // kills by class
	Events   int
	Gaps     int
	Warnings map[string]int // WARN/ERROR log lines of the processes, by message
	Duration time.Duration
}

func (s *crashStats) add(k crashKill, ops []*crashOp) {
	if s.Outcomes == nil {
		s.Outcomes, s.Classes = map[string]int{}, map[string]int{}
	}
	s.Kills = append(s.Kills, k)
	s.Classes[k.Class]++
	for _, op := range ops {
		s.Requests++
		s.Outcomes[op.Outcome]++
	}
}

func (s *crashStats) count(f func(k crashKill) bool) int {
	n := 0
	for _, k := range s.Kills {
		if f(k) {
			n++
		}
	}
	return n
}

func (s *crashStats) summary() string {
	return fmt.Sprintf("%d kills: %d A (no trace), %d B (file ahead of the trail), %d C (event written, no answer), %d idle; "+
		"%d with the state lock held, %d with the audit lock held, %d left a temp file; %d writes sent, %d answered OK; %d events, %d chain gaps; %s",
		len(s.Kills), s.Classes["A"], s.Classes["B"], s.Classes["C"], s.Classes["idle"],
		s.count(func(k crashKill) bool { return k.StateLockHeld }), s.count(func(k crashKill) bool { return k.AuditLockHeld }),
		s.count(func(k crashKill) bool { return k.NewTemps > 0 }), s.Requests, s.Outcomes["ok"], s.Events, s.Gaps, s.Duration.Round(time.Second))
}

// markdown is the figures for docs/reliability/crash.md.
func (s *crashStats) markdown(runs int, seed uint64) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	inside := s.count(func(k crashKill) bool {
		return k.StateLockHeld || k.AuditLockHeld || k.NewTemps > 0 || k.Journal
	})
	certain := s.count(func(k crashKill) bool { return k.NewTemps > 0 || k.Journal })
	p("Run: %d kill/restart cycles (and a last restart), seed %d, %s, %s.\n\n", runs, seed, s.Duration.Round(time.Second), time.Now().UTC().Format("2006-01-02"))
	p("| | |\n|---|---|\n")
	p("| writes sent | %d |\n", s.Requests)
	p("| answered OK (acknowledged) | %d |\n", s.Outcomes["ok"])
	p("| answered ABORTED (expected_version not current) | %d |\n", s.Outcomes["aborted"])
	p("| Deploy answered \"nothing to deploy\" | %d |\n", s.Outcomes["nothing"])
	p("| Deploy refused by Jenkins (file bytes checked unchanged) | %d |\n", s.Outcomes["refused"])
	p("| in flight at the kill (no answer) | %d |\n", s.Outcomes["inflight"])
	p("| events in the trail at the end | %d |\n", s.Events)
	p("| breaks in the trail's chain of versions | %d, each at the first event after a B kill (%d B kills; consecutive B kills with no event between them make one break) |\n\n", s.Gaps, s.Classes["B"])

	p("Where the kills landed (a kill can count in several rows):\n\n")
	p("| | kills |\n|---|---|\n")
	p("| **A** write in flight, no trace of it | %d |\n", s.Classes["A"])
	p("| **B** file ahead of the trail by the write in flight, after recovery (must be 0: the journal undoes it) | %d |\n", s.Classes["B"])
	p("| the kill left a journal (a commit was running); recovery at the next start undid the write, or kept it when its event was already in the trail | %d |\n", s.count(func(k crashKill) bool { return k.Journal }))
	p("| **C** event written, answer not received | %d |\n", s.Classes["C"])
	p("| no write in flight (a read, or between requests) | %d |\n", s.Classes["idle"])
	p("| state lock held just before the kill | %d |\n", s.count(func(k crashKill) bool { return k.StateLockHeld }))
	p("| audit lock held just before the kill | %d |\n", s.count(func(k crashKill) bool { return k.AuditLockHeld }))
	p("| left a temp file (killed between create and rename) | %d |\n", s.count(func(k crashKill) bool { return k.NewTemps > 0 }))
	p("| **inside a write transaction** (a lock held, a temp file left, or B) | **%d** |\n", inside)
	p("| of which certainly, by what the files show (a temp file left, or B) | %d |\n\n", certain)

	byRPC := map[string][3]int{}
	for _, k := range s.Kills {
		if k.InFlight == "" {
			continue
		}
		c := byRPC[k.InFlight]
		switch k.Class {
		case "A":
			c[0]++
		case "B":
			c[1]++
		case "C":
			c[2]++
		}
		byRPC[k.InFlight] = c
	}
	var rpcs []string
	for r := range byRPC {
		rpcs = append(rpcs, r)
	}
	sort.Strings(rpcs)
	p("The write in flight at the kill:\n\n| request | A | B | C |\n|---|---|---|---|\n")
	for _, r := range rpcs {
		c := byRPC[r]
		p("| %s | %d | %d | %d |\n", r, c[0], c[1], c[2])
	}
	triggers := map[string]int{}
	for _, k := range s.Kills {
		if k.Class == "B" && k.Trigger != "" {
			triggers[k.Trigger]++
		}
	}
	p("\nDeploys in flight left in the file without an event (B), by what Jenkins had done: accepted %d, refused %d, answering %d, not yet asked %d.\n",
		triggers["accepted"], triggers["refused"], triggers["no answer"], triggers["not asked"])
	if len(s.Warnings) > 0 {
		var keys []string
		for k := range s.Warnings {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p("\nWarnings and errors the processes logged:\n\n| log line | times |\n|---|---|\n")
		for _, k := range keys {
			p("| %s | %d |\n", k, s.Warnings[k])
		}
	} else {
		p("\nThe processes logged no warning or error.\n")
	}
	return b.String()
}

// TestCrashDuringDeployTrigger kills testingd while Jenkins has not answered a deploy's
// trigger (Jenkins hangs, so the kill lands inside Store.Transact's commit for sure),
// and checks what README promises of a deploy Jenkins did not accept: the file keeps
// its previous bytes, the staged changes stay staged, and a retry deploys them.
//
// The deploy's new state is renamed into place before Jenkins is asked (the job reads
// the pins from the file), so after the kill the file holds it; before the fix, only
// a live process could put the old bytes back, and a retried Deploy answered "nothing
// to deploy". Now Store.Transact leaves a journal while the commit runs, and the next
// start (Store.Recover) puts the old bytes back: the staged changes are staged again
// and the retry deploys them.
func TestCrashDuringDeployTrigger(t *testing.T) {
	t.Parallel()
	h := newCrashHarness(t, 1)
	p := h.start()
	client := testingv1connect.NewTestingServiceClient(http.DefaultClient, p.url)
	for _, op := range []*crashOp{
		{RPC: "AddPRs", Numbers: []int{1}},
		{RPC: "Deploy"},
		{RPC: "AddPRs", Numbers: []int{2}},
		{RPC: "StagePRs", Stage: testingv1.Stage_STAGE_DISABLE, Numbers: []int{1}},
	} {
		if _, _, err := crashSend(t.Context(), client, op); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}
	before := mustReadFile(t, h.statePath)
	trail, err := h.readTrail()
	if err != nil || len(trail) != 4 {
		t.Fatalf("trail before the deploy: %d events, %v", len(trail), err)
	}

	h.jk.Hang()
	deployed := make(chan error, 1)
	go func() {
		_, _, err := crashSend(t.Context(), client, &crashOp{RPC: "Deploy"})
		deployed <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if slices.ContainsFunc(h.jk.Requests(), func(r fakejenkins.Request) bool { return r.Path == fakejenkins.TriggerPath && r.Status == 0 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deploy never asked Jenkins")
		}
	}
	if !lockHeld(h.statePath + ".lock") {
		t.Fatal("Jenkins is being asked but the state lock is not held")
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	if err := <-deployed; err == nil {
		t.Fatal("the deploy was answered although Jenkins never did")
	}
	h.jk.Heal()
	if n := len(h.jk.Triggers()); n != 1 {
		t.Fatalf("Jenkins recorded %d triggers, want the first deploy's only", n)
	}

	after := mustReadFile(t, h.statePath)
	if _, err := persistence.Parse(after); err != nil {
		t.Fatalf("state file after the kill: %v", err)
	}
	if bytes.Equal(after, before) {
		t.Fatal("the kill left nothing to recover: the deploy's state was not on disk while Jenkins was asked")
	}

	// The restart finds the journal the dead deploy left and puts the bytes back.
	p = h.start()
	if recovered := mustReadFile(t, h.statePath); !bytes.Equal(recovered, before) {
		t.Errorf("Jenkins never accepted the deploy, but after the restart the state file still holds it (-before +after):\n%s", cmp.Diff(string(before), string(recovered)))
	}
	client = testingv1connect.NewTestingServiceClient(http.DefaultClient, p.url)
	_, _, err = crashSend(t.Context(), client, &crashOp{RPC: "Deploy"})
	if connect.CodeOf(err) == connect.CodeFailedPrecondition {
		t.Errorf("the retried deploy answers %v: the staged changes that never reached Jenkins can no longer be deployed", err)
	} else if err != nil {
		t.Errorf("the retried deploy: %v", err)
	}
	rest, err := h.readTrail()
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) > 0 && rest[0].VersionBefore != trail[len(trail)-1].VersionAfter {
		t.Errorf("the trail's next event starts from version %s, but the last one ended at %s: the file changed without an event",
			rest[0].VersionBefore, trail[len(trail)-1].VersionAfter)
	}
}
