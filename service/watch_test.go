package service_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
)

// waitFor bounds every wait of these tests. It is a guard against hanging, not a
// timing check: the delays that matter are measured and logged.
const waitFor = 5 * time.Second

// received is one message of a stream and when it arrived.
type received struct {
	msg *testingv1.WatchStatusResponse
	at  time.Time
}

// watchStream reads a WatchStatus stream in the background.
type watchStream struct {
	msgs   chan received
	done   chan struct{}
	err    error // the stream's end, once done is closed
	cancel context.CancelFunc
}

// openWatch opens a WatchStatus stream, read as fast as it comes, and closes it when
// the test ends.
func openWatch(t testing.TB, client testingv1connect.TestingServiceClient) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watchStream{msgs: make(chan received, 4096), done: make(chan struct{}), cancel: cancel}
	stream, err := client.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	go func() {
		defer close(w.done)
		if err != nil {
			w.err = err
			return
		}
		defer stream.Close()
		for stream.Receive() {
			w.msgs <- received{stream.Msg(), time.Now()}
		}
		w.err = stream.Err()
	}()
	t.Cleanup(w.close)
	return w
}

// close disconnects, as a closed browser tab does.
func (w *watchStream) close() {
	w.cancel()
	<-w.done
}

// next returns the next message.
func (w *watchStream) next(t testing.TB) received {
	t.Helper()
	select {
	case r := <-w.msgs:
		return r
	case <-w.done:
		select {
		case r := <-w.msgs:
			return r
		default:
		}
		t.Fatalf("stream ended: %v", w.err)
	case <-time.After(waitFor):
		t.Fatalf("no message within %v", waitFor)
	}
	panic("unreachable")
}

// status returns the next status for which ok is true, skipping heartbeats and
// other statuses.
func (w *watchStream) status(t testing.TB, ok func(*testingv1.GetStatusResponse) bool) received {
	t.Helper()
	return w.statusWithin(t, waitFor, ok)
}

func (w *watchStream) statusWithin(t testing.TB, d time.Duration, ok func(*testingv1.GetStatusResponse) bool) received {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r := <-w.msgs:
			if r.msg.Status != nil && ok(r.msg.Status) {
				return r
			}
		case <-w.done:
			t.Fatalf("stream ended before the expected status: %v", w.err)
		case <-deadline:
			t.Fatalf("no expected status within %v", d)
		}
	}
}

// first returns the first message, which must be a status.
func (w *watchStream) first(t testing.TB) *testingv1.GetStatusResponse {
	t.Helper()
	r := w.next(t)
	if r.msg.Status == nil || r.msg.Heartbeat {
		t.Fatalf("first message = %v; want a status", r.msg)
	}
	return r.msg.Status
}

// settle takes the first status and any that follow it until none has come for d
// (heartbeats aside): under load, the two streams of a test may open a computation
// apart, and a status that differs (a slow Jenkins answer arriving) is pushed to both.
func (w *watchStream) settle(t testing.TB, d time.Duration) {
	t.Helper()
	w.first(t)
	deadline := time.After(waitFor)
	quiet := time.NewTimer(d)
	defer quiet.Stop()
	for {
		select {
		case r := <-w.msgs:
			if r.msg.Status != nil {
				quiet.Reset(d)
			}
		case <-quiet.C:
			return
		case <-deadline:
			t.Fatalf("statuses still coming after %v", waitFor)
		}
	}
}

// quiet asserts that no message comes for d.
func (w *watchStream) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case r := <-w.msgs:
		t.Errorf("unexpected message %v", summary(r.msg))
	case <-w.done:
		t.Errorf("stream ended: %v", w.err)
	case <-time.After(d):
	}
}

// end waits for the stream to end and returns how, failing if it carried a message.
func (w *watchStream) end(t testing.TB) error {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(waitFor):
		t.Fatalf("stream still open after %v", waitFor)
	}
	if len(w.msgs) > 0 {
		t.Errorf("stream carried %d messages before ending; want none", len(w.msgs))
	}
	return w.err
}

func summary(m *testingv1.WatchStatusResponse) string {
	if m.Status == nil {
		return fmt.Sprintf("heartbeat=%v", m.Heartbeat)
	}
	return "status version " + m.Status.Version
}

// openWatches opens one stream per protocol.
func openWatches(t testing.TB, e *env) map[string]*watchStream {
	t.Helper()
	out := make(map[string]*watchStream)
	for name, client := range e.clients() {
		out[name] = openWatch(t, client)
	}
	return out
}

// setAddedBy changes one row of the state file through the store, as a write does.
func setAddedBy(t testing.TB, e *env, number int, by string) {
	t.Helper()
	_, err := e.store.Update(context.Background(), "", func(st *persistence.State) error {
		for i := range st.PRs {
			if st.PRs[i].Number == number {
				st.PRs[i].AddedBy = by
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func addedBy(number int32, by string) func(*testingv1.GetStatusResponse) bool {
	return func(st *testingv1.GetStatusResponse) bool {
		for _, p := range st.Prs {
			if p.Number == number {
				return p.AddedBy == by
			}
		}
		return false
	}
}

// waitWatchers waits until the server has this many streams and hub loops.
func waitWatchers(t testing.TB, e *env, streams, loops int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s, l := e.svc.Watchers()
		if s == streams && l == loops {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watchers: %d streams, %d hub loops; want %d, %d", s, l, streams, loops)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeAtomically replaces a file as legacy Python and the deploy script do: a new
// file renamed over the old one.
func writeAtomically(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchStatusFirstMessageIsTheStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt"})
	e.seedFixturePRs()
	want, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range openWatches(t, e) {
		if diff := cmp.Diff(want.Msg, w.first(t), protocmp.Transform()); diff != "" {
			t.Errorf("%s: first message (-GetStatus +WatchStatus):\n%s", name, diff)
		}
	}
}

// TestWatchHelperProcess is not a test: it is the other process of
// TestWatchStatusOtherProcessWrites, which runs the test binary again to replace the
// state file the way the legacy page does (a new file renamed over it, no lock) and
// print when it did.
func TestWatchHelperProcess(t *testing.T) {
	path := os.Getenv("TESTINGD_WATCH_HELPER_PATH")
	if path == "" {
		return
	}
	data, err := os.ReadFile(os.Getenv("TESTINGD_WATCH_HELPER_FROM"))
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, path, data)
	fmt.Printf("renamed %d\n", time.Now().UnixNano())
}

func TestWatchStatusOtherProcessWrites(t *testing.T) {
	t.Parallel()
	// The default poll tick: this is the delay a user sees.
	e := newEnv(t, envOptions{state: "testing-prs.json"})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for _, w := range streams {
		w.first(t)
	}

	fixture, err := os.ReadFile(fixtures + "testing-prs.json")
	if err != nil {
		t.Fatal(err)
	}
	const oldDeploy, newDeploy = `"last_deploy_at": "2026-08-05T18:00:00+00:00"`, `"last_deploy_at": "2026-08-07T09:30:00+00:00"`
	next := strings.Replace(string(fixture), oldDeploy, newDeploy, 1)
	if next == string(fixture) {
		t.Fatal("fixture has changed; update the test")
	}
	from := filepath.Join(t.TempDir(), "next.json")
	if err := os.WriteFile(from, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESTINGD_WATCH_HELPER_PATH="+e.statePath, "TESTINGD_WATCH_HELPER_FROM="+from)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	var nanos int64
	if _, err := fmt.Sscanf(firstLine(out), "renamed %d", &nanos); err != nil {
		t.Fatalf("helper process said %q: %v", out, err)
	}
	renamed := time.Unix(0, nanos)

	wantDeploy := time.Date(2026, 8, 7, 9, 30, 0, 0, time.UTC)
	for name, w := range streams {
		r := w.status(t, func(st *testingv1.GetStatusResponse) bool { return st.LastDeployAt.AsTime().Equal(wantDeploy) })
		delay := r.at.Sub(renamed)
		t.Logf("%s: another process's write reached the watcher in %v", name, delay.Round(time.Millisecond))
		if delay > time.Second {
			t.Logf("%s: slower than the 1s goal (a loaded machine?)", name)
		}
	}
}

func firstLine(b []byte) string {
	s := bufio.NewScanner(strings.NewReader(string(b)))
	s.Scan()
	return s.Text()
}

func TestWatchStatusNotifyPushesAWrite(t *testing.T) {
	t.Parallel()
	// No poll tick within the test: only Notify can push.
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: time.Hour})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for _, w := range streams {
		w.first(t)
	}
	for i := range 3 {
		who := "writer-" + strconv.Itoa(i)
		setAddedBy(t, e, 13269, who)
		written := time.Now()
		e.svc.Notify()
		for name, w := range streams {
			r := w.status(t, addedBy(13269, who))
			t.Logf("%s: write %d pushed in %v", name, i, r.at.Sub(written).Round(time.Microsecond))
		}
	}
}

func TestWatchStatusCoalescesIdenticalStatuses(t *testing.T) {
	t.Parallel()
	const tick = 20 * time.Millisecond
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: tick})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for _, w := range streams {
		w.settle(t, 5*tick)
	}
	data, err := os.ReadFile(e.statePath)
	if err != nil {
		t.Fatal(err)
	}
	// Touched, rewritten with the same bytes, and a burst of notifications: the status
	// is the same, so nothing is pushed.
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(e.statePath, future, future); err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, e.statePath, data)
	for range 20 {
		e.svc.Notify()
	}
	for name, w := range streams {
		t.Run(name, func(t *testing.T) { w.quiet(t, 5*tick) })
	}
	// A real change is pushed once.
	setAddedBy(t, e, 13238, "someone")
	e.svc.Notify()
	for name, w := range streams {
		t.Run(name, func(t *testing.T) {
			w.status(t, addedBy(13238, "someone"))
			w.quiet(t, 5*tick)
		})
	}
}

func TestWatchStatusHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", heartbeat: 30 * time.Millisecond})
	e.seedFixturePRs()
	for name, w := range openWatches(t, e) {
		w.first(t)
		for range 3 {
			if r := w.next(t); !r.msg.Heartbeat || r.msg.Status != nil {
				t.Errorf("%s: %v; want a heartbeat without a status", name, summary(r.msg))
			}
		}
	}
}

func TestWatchStatusSlowClientBlocksNobody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: time.Hour})
	e.seedFixturePRs()
	// The slow client never reads, on its own HTTP/2 connection with 64 KiB flow
	// control windows: once they are full, the server's Send to it blocks.
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	slowClient := testingv1connect.NewTestingServiceClient(&http.Client{Transport: &http.Transport{
		Protocols: &h2c,
		HTTP2:     &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10},
	}}, e.url, connect.WithGRPC())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	slow, err := slowClient.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast := openWatches(t, e)
	for _, w := range fast {
		w.first(t)
	}
	waitWatchers(t, e, 3, 1)

	// Each status carries 32 KiB of random base32, which gzip cannot shrink below
	// 16 KiB: a few fill the slow client's windows.
	const writes = 20
	var last string
	for range writes {
		var b strings.Builder
		for b.Len() < 32<<10 {
			b.WriteString(rand.Text())
		}
		last = b.String()
		setAddedBy(t, e, 13269, last)
		e.svc.Notify()
		for _, w := range fast {
			w.status(t, addedBy(13269, last))
		}
	}
	// The slow client catches up with the newest status, having missed the ones
	// replaced in its mailbox while its Send was blocked.
	time.AfterFunc(waitFor, cancel)
	n := 0
	for slow.Receive() {
		n++
		if st := slow.Msg().Status; st != nil && addedBy(13269, last)(st) {
			t.Logf("the slow client got %d statuses for %d changes, the newest last", n, writes+1)
			if n == writes+1 {
				t.Errorf("the slow client got every status: its Send never blocked, so this test proves nothing")
			}
			return
		}
	}
	t.Fatalf("the slow client never got the newest status (%d messages; %v)", n, slow.Err())
}

func TestWatchStatusDisconnectFreesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: 10 * time.Millisecond})
	e.seedFixturePRs()
	waitWatchers(t, e, 0, 0)
	e.svc.Notify() // nobody watches: nothing happens
	for round := range 2 {
		streams := openWatches(t, e)
		for _, w := range streams {
			w.first(t)
		}
		waitWatchers(t, e, 2, 1)
		for _, w := range streams {
			w.close()
		}
		waitWatchers(t, e, 0, 0)
		t.Logf("round %d: hub stopped", round)
	}
}

func TestWatchStatusTranscriptChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt", watchPoll: 20 * time.Millisecond})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for name, w := range streams {
		if got := w.first(t).MergeConflicts; !slices.Equal(got, []int32{13370}) {
			t.Errorf("%s: merge_conflicts %v; want [13370]", name, got)
		}
	}
	// The next deploy's build: now 13238 fails to merge.
	transcript, err := os.ReadFile(fixtures + "dev-merged-status.txt")
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, filepath.Join(e.dir, "_dev-merged_status.txt"), []byte(strings.ReplaceAll(string(transcript), "13370", "13238")))
	for _, w := range streams {
		r := w.status(t, func(st *testingv1.GetStatusResponse) bool { return slices.Equal(st.MergeConflicts, []int32{13238}) })
		for _, p := range r.msg.Status.Prs {
			if p.MergeConflict != (p.Number == 13238) {
				t.Errorf("#%d merge_conflict = %v", p.Number, p.MergeConflict)
			}
		}
	}
}

func TestWatchStatusJenkinsRunChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: 50 * time.Millisecond})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for name, w := range streams {
		if st := w.first(t); st.DeployResult != "IN_PROGRESS" {
			t.Errorf("%s: deploy_result %q; want the fixture's IN_PROGRESS", name, st.DeployResult)
		}
	}
	start := time.Date(2026, 8, 7, 9, 0, 0, 0, time.UTC)
	e.jk.SetRuns([]jenkins.Run{{ID: "413", Name: "#413", Status: "SUCCESS", Start: start, End: start.Add(7 * time.Minute)}})
	// Jenkins is asked again once its answer is older than its TTL (5s): the hub's
	// ticks keep asking while someone watches.
	for _, w := range streams {
		w.statusWithin(t, 15*time.Second, func(st *testingv1.GetStatusResponse) bool { return st.DeployRunId == "413" })
	}
}

func TestWatchStatusDriftUpdate(t *testing.T) {
	t.Parallel()
	// No poll tick within the test: the new drift must come through drift's OnUpdate.
	e := newEnv(t, envOptions{state: "testing-prs.json", ttl: 200 * time.Millisecond, watchPoll: time.Hour})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for _, w := range streams {
		w.first(t)
	}
	const moved = "77777777c652d6107e2dc685f918551fda5d3277"
	e.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: moved, Author: "mekarpeles"})
	e.gh.SetCompare(pin13238, moved, "ahead", 5, 0)
	time.Sleep(300 * time.Millisecond) // the drift is stale now
	// This computation serves the stale drift and starts a refresh; the refresh's
	// OnUpdate pushes the result.
	e.svc.Notify()
	for _, w := range streams {
		w.status(t, func(st *testingv1.GetStatusResponse) bool {
			for _, p := range st.Prs {
				if p.Number == 13238 {
					return p.HeadSha == moved && p.Drift == 5
				}
			}
			return false
		})
	}
}

func TestWatchStatusSurvivesACorruptFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", watchPoll: 10 * time.Millisecond, heartbeat: 20 * time.Millisecond})
	e.seedFixturePRs()
	streams := openWatches(t, e)
	for _, w := range streams {
		w.settle(t, 100*time.Millisecond)
	}
	good, err := os.ReadFile(e.statePath)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, e.statePath, []byte(`{"last_deploy_at": "", "prs": [{"pr": "oops"}]}`))
	// The streams stay open (heartbeats only) while the file cannot be read…
	for name, w := range streams {
		for range 5 {
			if r := w.next(t); r.msg.Status != nil {
				t.Errorf("%s: %v while the file is corrupt; want heartbeats only", name, summary(r.msg))
			}
		}
	}
	// …and resume when it is fixed.
	writeAtomically(t, e.statePath, []byte(strings.Replace(string(good), `"added_by": "cdrini"`, `"added_by": "fixed"`, 1)))
	for _, w := range streams {
		w.status(t, addedBy(13240, "fixed"))
	}
}

func TestWatchStatusAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		viewer fixedAuth
		want   connect.Code
	}{
		{"not signed in", fixedAuth{}, connect.CodeUnauthenticated},
		{"not a maintainer", fixedAuth{Username: "reader", SignedIn: true}, connect.CodePermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{state: "testing-prs.json", auth: tt.viewer})
			for name, client := range e.clients() {
				if err := openWatch(t, client).end(t); connect.CodeOf(err) != tt.want {
					t.Errorf("%s: WatchStatus = %v; want %v", name, err, tt.want)
				}
			}
			waitWatchers(t, e, 0, 0)
		})
	}
}

func TestWatchStatusNoStateFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for name, client := range e.clients() {
		if err := openWatch(t, client).end(t); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s: WatchStatus without a state file = %v; want NOT_FOUND", name, err)
		}
	}
	waitWatchers(t, e, 0, 0)
}

// BenchmarkWatchPushDelay measures a watcher's delay from a write (store.Update
// returned, then Notify, as the write RPCs do) to the status reaching it.
func BenchmarkWatchPushDelay(b *testing.B) {
	e := newEnv(b, envOptions{state: "testing-prs.json", watchPoll: time.Hour})
	e.seedFixturePRs()
	for name, client := range e.clients() {
		b.Run(name, func(b *testing.B) {
			w := openWatch(b, client)
			w.first(b)
			var delays []time.Duration
			for i := 0; b.Loop(); i++ {
				who := name + "-" + strconv.Itoa(i)
				setAddedBy(b, e, 13269, who)
				written := time.Now()
				e.svc.Notify()
				r := w.status(b, addedBy(13269, who))
				delays = append(delays, r.at.Sub(written))
			}
			slices.Sort(delays)
			pct := func(p float64) float64 {
				return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			w.close()
		})
	}
}
