package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/load"
	"github.com/internetarchive/testingd/persistence"
)

// ghCount is what the fake GitHub was asked since its records were last reset.
type ghCount struct {
	list, pull, compare, other int
	total, notModified         int
}

// rateLimited is what counted against GitHub's rate limit: every request but a 304.
func (c ghCount) rateLimited() int { return c.total - c.notModified }

// countGH is what the fake GitHub has been asked so far. Figures are differences of
// two counts: the fake's ResetRecords must not run while a request is in flight (a
// background refresh may be), so it is never called.
func countGH(gh *fakegithub.Server) ghCount {
	return ghCount{
		list:        gh.Count(fakegithub.KindList),
		pull:        gh.Count(fakegithub.KindPull),
		compare:     gh.Count(fakegithub.KindCompare),
		other:       gh.Count(""),
		total:       len(gh.Requests()),
		notModified: gh.NotModified(),
	}
}

func (c ghCount) minus(o ghCount) ghCount {
	return ghCount{
		list:        c.list - o.list,
		pull:        c.pull - o.pull,
		compare:     c.compare - o.compare,
		other:       c.other - o.other,
		total:       c.total - o.total,
		notModified: c.notModified - o.notModified,
	}
}

// settle waits until the fake has answered every request received since the count
// since was taken (for at most 30 s), and returns what it was asked since.
func settle(gh *fakegithub.Server, since ghCount) ghCount {
	deadline := time.Now().Add(30 * time.Second)
	for {
		reqs := gh.Requests()
		busy := false
		for _, r := range reqs[min(since.total, len(reqs)):] {
			busy = busy || r.Status == 0
		}
		if !busy || time.Now().After(deadline) {
			return countGH(gh).minus(since)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// coldRun is one cold GetStatus.
type coldRun struct {
	latency    time.Duration // client side, end to end
	handler    time.Duration // server side, in the Connect interceptor
	gh         ghCount
	client     github.Stats // the GitHub client's own count, to cross-check the fake's
	chain      []string     // the longest chain of GitHub requests sent one after another
	driftKnown int          // open rows whose drift is known (a merged or closed PR's may be left unknown)
	rows       int
	stale      bool
	wrote      bool // the state file was written (GitHub's titles stored)
}

// coldSize is every cold figure of one set size.
type coldSize struct {
	n                int
	allOpen          bool // no merged or closed PR in the set
	inProcess        bool // the in-process cache although memcached runs (to show its cost)
	openListed       int
	first            coldRun // the priming run, which stores GitHub's titles in the state file
	runs             []coldRun
	baseline         time.Duration // 0: not measured
	baselineRequests int
	baselineReused   bool       // the baseline of the same world measured for another row
	others           contention // other processes' CPU use during the cold runs
}

func (b *bench) cold(ctx context.Context, w *world, inProcess bool) (coldSize, error) {
	var first coldRun
	for attempt := 0; ; attempt++ {
		cs, err := b.coldAttempt(ctx, w, attempt, inProcess)
		if err != nil {
			return cs, err
		}
		if attempt == 0 {
			first = cs.first
		}
		// The priming run of the first attempt is the one that wrote the state file.
		cs.first = first
		if !b.disturbed(cs.others, attempt, fmt.Sprintf("cold GetStatus of %d", w.n)) {
			return cs, nil
		}
	}
}

// coldAttempt is one untimed priming run and b.cfg.reps timed ones.
func (b *bench) coldAttempt(ctx context.Context, w *world, attempt int, inProcess bool) (cs coldSize, err error) {
	cs = coldSize{n: w.n, openListed: w.openListed(), allOpen: w.allOpen, inProcess: inProcess}
	b.waitQuiet(fmt.Sprintf("cold GetStatus of %d", w.n))
	m := b.startMeter()
	defer func() { cs.others = measured(m.others()) }()
	for i := 0; i <= b.cfg.reps; i++ {
		r, err := b.coldOnce(ctx, w, stackOptions{cachePrefix: fmt.Sprintf("cold-%d-%v-%d-%d/", w.n, w.allOpen, attempt, i), memory: inProcess})
		if err != nil {
			return cs, err
		}
		if open := w.n - w.merged; r.rows != w.n || r.driftKnown != open || r.stale {
			return cs, fmt.Errorf("cold GetStatus answered %d rows, %d open ones with drift, stale %v; want %d, %d, false", r.rows, r.driftKnown, r.stale, w.n, open)
		}
		if i == 0 {
			cs.first = r
		} else {
			cs.runs = append(cs.runs, r)
		}
	}
	return cs, nil
}

func (b *bench) coldOnce(ctx context.Context, w *world, o stackOptions) (coldRun, error) {
	before, err := persistence.NewStore(w.statePath, nil).Load(ctx)
	if err != nil {
		return coldRun{}, err
	}
	s, err := b.newStack(w, o)
	if err != nil {
		return coldRun{}, err
	}
	defer s.close()
	b.front.serve(s)
	gh0 := countGH(w.gh)

	b.front.startRecording()
	start := time.Now()
	resp, err := b.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	latency := time.Since(start)
	handler, _ := b.front.stopRecording()
	if err != nil {
		return coldRun{}, err
	}
	r := coldRun{
		latency: latency,
		gh:      settle(w.gh, gh0),
		client:  s.gh.Stats(),
		rows:    len(resp.Msg.GetPrs()),
		chain:   s.ghRec.chain(),
		stale:   resp.Msg.GetDriftStale(),
		wrote:   resp.Msg.GetVersion() != before.Version,
	}
	if len(handler) == 1 {
		r.handler = handler[0]
	}
	for _, pr := range resp.Msg.GetPrs() {
		if pr.GetDrift() >= 0 && !pr.GetMerged() && !pr.GetClosed() {
			r.driftKnown++
		}
	}
	return r, nil
}

// baseline is the legacy algorithm: for each PR, one after another, GET pulls/N and then
// GET compare/{pin}...{head}. One fresh client per pass: each URL is asked once, so no
// ETag can help, as in legacy (which keeps none).
func (b *bench) baseline(ctx context.Context, w *world) (time.Duration, int, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	gh, err := github.New(github.Options{BaseURL: w.gh.URL, Repo: fakegithub.DefaultRepo, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return 0, 0, err
	}
	gh0 := countGH(w.gh)
	start := time.Now()
	for _, t := range w.targets {
		p, err := gh.GetPull(ctx, t.Number)
		if err != nil {
			return 0, 0, err
		}
		if _, err := gh.Compare(ctx, t.Pin, p.HeadSHA); err != nil {
			return 0, 0, err
		}
	}
	took := time.Since(start)
	return took, settle(w.gh, gh0).total, nil
}

// clock is real time plus an offset that only grows: the drift resolver's clock, so
// the TTL can pass without waiting for it.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// reresolve is what GitHub is asked when nothing changed: after the TTL, and forced.
type reresolve struct {
	cold          ghCount
	afterTTL      ghCount
	afterTTLStats github.Stats // the GitHub client's counts for the re-resolve
	staleRead     time.Duration
	staleFlag     bool          // the read after the TTL said drift_stale
	refreshTook   time.Duration // from that read to OnUpdate
	freshAfter    bool          // the next read is fresh again
	forced        ghCount
	forcedStats   github.Stats
	forcedTook    time.Duration
	forcedStale   bool
	evict         ghCount // the EvictDrift RPC, every PR
	evictStats    github.Stats
	evictTook     time.Duration
	evictStale    bool
}

func (b *bench) reresolve(ctx context.Context, w *world) (reresolve, error) {
	var rr reresolve
	clk := &clock{}
	updates := make(chan struct{}, 64)
	s, err := b.newStack(w, stackOptions{
		cachePrefix: "reresolve/",
		now:         clk.Now,
		onUpdate: func() {
			select {
			case updates <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return rr, err
	}
	defer s.close()
	b.front.serve(s)

	gh0 := countGH(w.gh)
	if err := b.call(ctx); err != nil {
		return rr, err
	}
	rr.cold = settle(w.gh, gh0)
	for len(updates) > 0 {
		<-updates
	}

	// Past the drift TTL (60 s): the next read serves what it has, marked stale, and
	// refreshes in the background.
	gh0 = countGH(w.gh)
	st0 := s.gh.Stats()
	clk.advance(61 * time.Second)
	start := time.Now()
	resp, err := b.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	rr.staleRead = time.Since(start)
	if err != nil {
		return rr, err
	}
	rr.staleFlag = resp.Msg.GetDriftStale()
	select {
	case <-updates:
		rr.refreshTook = time.Since(start)
	case <-time.After(30 * time.Second):
		return rr, fmt.Errorf("no background refresh reported within 30s")
	}
	rr.afterTTL = settle(w.gh, gh0)
	rr.afterTTLStats = diffStats(s.gh.Stats(), st0)
	resp, err = b.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		return rr, err
	}
	rr.freshAfter = !resp.Msg.GetDriftStale()

	// What "Refresh from GitHub" (EvictDrift) will cost: Refresh asks again about every PR.
	gh0 = countGH(w.gh)
	st0 = s.gh.Stats()
	start = time.Now()
	res := s.resolver.Refresh(ctx, w.targets)
	rr.forcedTook = time.Since(start)
	rr.forcedStale = res.Stale
	rr.forced = settle(w.gh, gh0)
	rr.forcedStats = diffStats(s.gh.Stats(), st0)

	// The EvictDrift RPC ("Refresh from GitHub"): forget every PR's facts, then Refresh.
	gh0 = countGH(w.gh)
	st0 = s.gh.Stats()
	start = time.Now()
	ev, err := b.client.EvictDrift(ctx, connect.NewRequest(&testingv1.EvictDriftRequest{}))
	rr.evictTook = time.Since(start)
	if err != nil {
		return rr, fmt.Errorf("EvictDrift: %w", err)
	}
	rr.evictStale = ev.Msg.GetStatus().GetDriftStale()
	rr.evict = settle(w.gh, gh0)
	rr.evictStats = diffStats(s.gh.Stats(), st0)
	return rr, nil
}

func diffStats(a, b github.Stats) github.Stats {
	return github.Stats{
		Requests:    a.Requests - b.Requests,
		NotModified: a.NotModified - b.NotModified,
		RateLimited: a.RateLimited - b.RateLimited,
		Errors:      a.Errors - b.Errors,
	}
}

// loadRow is one load run against the in-process server.
type loadRow struct {
	enc        load.Encoding
	res        load.Result
	handler    load.Percentiles // Connect interceptor
	http       load.Percentiles // whole HTTP handler
	ghRequests int              // GitHub requests made meanwhile (drift refreshes)
	cpu        time.Duration    // CPU time benchreport (client and server) used meanwhile
	cpuOK      bool
	others     contention // other processes' CPU use meanwhile
}

// cpuPerCall is the CPU time one call cost, client and server together.
func (l loadRow) cpuPerCall() (time.Duration, bool) {
	if !l.cpuOK || l.res.Requests == 0 {
		return 0, false
	}
	return l.cpu / time.Duration(l.res.Requests), true
}

type warmResult struct {
	seq        []loadRow // one worker, by encoding; the browser's first
	loads      []loadRow
	jsonBytes  int
	gzipBytes  int    // the JSON response as the server sent it to a client accepting gzip
	encoding   string // its Content-Encoding ("" = none)
	protoBytes int
	profiled   string // the run the CPU profile covers
}

func (b *bench) warm(ctx context.Context, w *world) (warmResult, error) {
	var wr warmResult
	s, err := b.newStack(w, stackOptions{cachePrefix: "warm/"})
	if err != nil {
		return wr, err
	}
	defer s.close()
	b.front.serve(s)
	resp, err := b.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		return wr, err
	}
	if resp.Msg.GetDriftStale() {
		return wr, fmt.Errorf("warm-up GetStatus is stale")
	}
	if j, err := protojson.Marshal(resp.Msg); err == nil {
		wr.jsonBytes = len(j)
	}
	wr.protoBytes = proto.Size(resp.Msg)
	if wr.encoding, wr.gzipBytes, err = b.rawGetStatus(ctx); err != nil {
		return wr, err
	}

	measureOnce := func(enc load.Encoding, opts load.Options) (loadRow, error) {
		call := b.calls[enc]
		b.waitQuiet(fmt.Sprintf("%d workers, %s", opts.Concurrency, enc))
		if opts.Warmup > 0 {
			load.Run(ctx, load.Options{Concurrency: opts.Concurrency, Duration: opts.Warmup}, call)
			opts.Warmup = 0
		}
		gh0 := countGH(w.gh)
		b.front.startRecording()
		m := b.startMeter()
		cpu0, ok0 := selfCPU()
		res := load.Run(ctx, opts, call)
		cpu1, ok1 := selfCPU()
		others := measured(m.others())
		handler, whole := b.front.stopRecording()
		row := loadRow{
			enc:        enc,
			res:        res,
			handler:    load.Summarize(handler),
			http:       load.Summarize(whole),
			ghRequests: settle(w.gh, gh0).total,
			cpu:        cpu1 - cpu0,
			cpuOK:      ok0 && ok1,
			others:     others,
		}
		if res.Errors > 0 {
			return row, fmt.Errorf("%d workers, %s: %d errors, e.g. %v", res.Concurrency, enc, res.Errors, res.FirstError)
		}
		return row, ctx.Err()
	}
	measure := func(enc load.Encoding, opts load.Options) (loadRow, error) {
		for attempt := 0; ; attempt++ {
			row, err := measureOnce(enc, opts)
			if err != nil || !b.disturbed(row.others, attempt, fmt.Sprintf("%d workers, %s", opts.Concurrency, enc)) {
				return row, err
			}
		}
	}

	for i, enc := range encodings {
		n := b.cfg.sequential
		if i > 0 {
			n = max(n/4, 1)
		}
		progress("  %d sequential calls, %s", n, enc)
		row, err := measure(enc, load.Options{Concurrency: 1, Requests: n, Warmup: time.Second})
		if err != nil {
			return wr, err
		}
		wr.seq = append(wr.seq, row)
	}
	mid := b.cfg.conc[len(b.cfg.conc)/2]
	for _, c := range b.cfg.conc {
		progress("  load, %d workers, %s, %s", c, browser, b.cfg.duration)
		opts := load.Options{Concurrency: c, Duration: b.cfg.duration, Warmup: b.cfg.warmup}
		path := ""
		if c == mid && b.cfg.cpuprofile != "" {
			path = b.cfg.cpuprofile
			wr.profiled = fmt.Sprintf("%d workers, %s", c, browser)
		}
		var row loadRow
		if err := profile(path, func() { row, err = measure(browser, opts) }); err != nil {
			return wr, err
		}
		if err != nil {
			return wr, err
		}
		wr.loads = append(wr.loads, row)
		progress("  load, %d workers, %s, %s", c, rawBrowser, b.cfg.duration)
		if row, err = measure(rawBrowser, opts); err != nil {
			return wr, err
		}
		wr.loads = append(wr.loads, row)
	}
	for _, enc := range encodings[1:] {
		if enc == rawBrowser {
			continue // measured at every concurrency above
		}
		progress("  load, %d workers, %s, %s", mid, enc, b.cfg.duration)
		row, err := measure(enc, load.Options{Concurrency: mid, Duration: b.cfg.duration, Warmup: b.cfg.warmup})
		if err != nil {
			return wr, err
		}
		wr.loads = append(wr.loads, row)
	}
	return wr, nil
}

// binaryResult is the real testingd binary, a child process, under the same load.
type binaryResult struct {
	args      []string
	cold      time.Duration
	coldGH    ghCount
	load      load.Result
	rpcLogged int           // "rpc" lines in its log: the per-request logging really ran
	serverCPU time.Duration // CPU time testingd used during the measured load
	clientCPU time.Duration // CPU time benchreport (the load generator) used meanwhile
	cpuOK     bool
	others    contention
}

// testingdChild is the testingd binary started as a child on a copy of a world's state.
type testingdChild struct {
	c       *child
	args    []string
	base    string // http://127.0.0.1:PORT
	logPath string
	logFile *os.File
}

func (t *testingdChild) stop() {
	t.c.stop(10 * time.Second)
	t.logFile.Close()
}

// startTestingd runs the testingd binary on a copy of w's state file in b.tmp/name.
func (b *bench) startTestingd(w *world, name string) (*testingdChild, error) {
	dir := filepath.Join(b.tmp, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	state, err := os.ReadFile(w.statePath)
	if err != nil {
		return nil, err
	}
	statePath := filepath.Join(dir, "_testing-prs.json")
	if err := os.WriteFile(statePath, state, 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{
		"--listen", addr,
		"--state-file", statePath,
		"--build-status-file", filepath.Join(dir, "_dev-merged_status.txt"),
		"--github-api-url", w.gh.URL,
		"--github-repo", fakegithub.DefaultRepo,
		"--jenkins-runs-url", b.jenkins.RunsURL(),
		"--jenkins-trigger-url", b.jenkins.TriggerURL(),
		"--auth", "dev",
		"--log-format", "json",
	}
	if b.memcached != "" {
		args = append(args, "--memcache", b.memcached)
	}
	logPath := filepath.Join(dir, "testingd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c, err := startChild("testingd", logFile, b.cfg.testingd, args...)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	t := &testingdChild{c: c, args: args, base: "http://" + addr, logPath: logPath, logFile: logFile}
	if err := waitHealthy(c, t.base+"/healthz", 10*time.Second); err != nil {
		t.stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(log)))
	}
	return t, nil
}

func (b *bench) binary(ctx context.Context, w *world) (binaryResult, error) {
	var br binaryResult
	t, err := b.startTestingd(w, "testingd")
	if err != nil {
		return br, err
	}
	defer t.stop()
	c, base, logPath := t.c, t.base, t.logPath
	br.args = t.args

	client, err := load.NewClient(load.NewHTTPClient(b.cfg.conc[len(b.cfg.conc)/2]), base, browser)
	if err != nil {
		return br, err
	}
	call, _ := load.RPC(client, "GetStatus")
	gh0 := countGH(w.gh)
	start := time.Now()
	if err := call(ctx); err != nil {
		return br, fmt.Errorf("first GetStatus: %w", err)
	}
	br.cold = time.Since(start)
	br.coldGH = settle(w.gh, gh0)

	mid := b.cfg.conc[len(b.cfg.conc)/2]
	progress("  load, %d workers, %s, %s", mid, browser, b.cfg.duration)
	for attempt := 0; ; attempt++ {
		b.waitQuiet("the testingd binary under load")
		load.Run(ctx, load.Options{Concurrency: mid, Duration: b.cfg.warmup}, call)
		m := b.startMeter(c.cmd.Process.Pid)
		s0, ok0 := procCPU(c.cmd.Process.Pid)
		c0, ok1 := selfCPU()
		br.load = load.Run(ctx, load.Options{Concurrency: mid, Duration: b.cfg.duration}, call)
		s1, ok2 := procCPU(c.cmd.Process.Pid)
		c1, ok3 := selfCPU()
		br.serverCPU, br.clientCPU, br.cpuOK = s1-s0, c1-c0, ok0 && ok1 && ok2 && ok3
		br.others = measured(m.others())
		if br.load.Errors > 0 {
			return br, fmt.Errorf("%d errors, e.g. %v", br.load.Errors, br.load.FirstError)
		}
		if !b.disturbed(br.others, attempt, "the testingd binary under load") {
			break
		}
	}
	c.stop(10 * time.Second)
	if log, err := os.ReadFile(logPath); err == nil {
		br.rpcLogged = strings.Count(string(log), `"msg":"rpc"`)
	}
	return br, nil
}

// rawGetStatus sends one GetStatus as a browser would (Connect JSON POST, accepting
// gzip) and returns the response's Content-Encoding and size on the wire.
func (b *bench) rawGetStatus(ctx context.Context) (encoding string, size int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.front.URL+"/"+testingv1connect.TestingServiceName+"/GetStatus", strings.NewReader("{}"))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true // keep the body as sent
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("raw GetStatus: %s", resp.Status)
	}
	return resp.Header.Get("Content-Encoding"), len(body), nil
}
