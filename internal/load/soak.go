package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// A soak is the service's everyday mix held for minutes: readers calling GetStatus
// back to back, writers changing the state (with expected_version, retrying on
// ABORTED), and many WatchStatus streams open the whole time, receiving every new
// status. Every Interval the throughput and latency of that interval are taken, with
// the server's memory and goroutines, so that growth over time (a leak) shows.

// SoakOptions say what a soak is made of.
type SoakOptions struct {
	Readers  int           // workers calling GetStatus back to back
	Writers  int           // workers each changing its own row, one write every WriteEvery
	Watchers int           // WatchStatus streams kept open
	Duration time.Duration // measured time, after Warmup
	Warmup   time.Duration // everything runs, nothing is kept (the streams open meanwhile)
	Interval time.Duration // sampling period (default 5 s)
	// WriteEvery is each writer's period: a write, then a pause until WriteEvery has
	// passed since it started (0 = back to back).
	WriteEvery time.Duration
	// Numbers are the rows the writers change, one per writer (see WritableRows).
	Numbers []int32
	// Sample reads the server's memory and goroutines; nil = not sampled.
	Sample func(ctx context.Context) (ServerSample, error)
	// Settle is how long after the streams are closed and the load stopped the
	// server is sampled once more (its idle goroutines; default 3 s).
	Settle time.Duration
}

// ServerSample is what a server says about itself (from /metrics and /proc).
type ServerSample struct {
	RSS        int64 // resident set size, bytes (0 = unknown)
	HeapInuse  int64 // go_memstats_heap_inuse_bytes
	Goroutines int   // go_goroutines
	// OthersCPU is, when the sampler knows it (cmd/benchreport), the CPU other
	// processes on the machine used since the previous sample, in cores; 0 otherwise.
	OthersCPU float64
}

// SoakInterval is one sampling period.
type SoakInterval struct {
	At          time.Duration // end of the interval, from the start of the measurement
	Elapsed     time.Duration // its length
	Reads       Percentiles
	ReadErrors  int
	Writes      Percentiles // write RPCs that succeeded
	WriteErrors int         // failed write RPCs other than ABORTED, and writes not applied
	Aborted     int         // write RPCs refused with ABORTED (then retried)
	Pushes      int         // statuses received by all the streams together
	Heartbeats  int
	Streams     int // streams open at the end of the interval
	Server      ServerSample
	SampleErr   error
}

// ReadRPS and WriteRPS are the interval's throughput (successful calls per second).
func (iv SoakInterval) ReadRPS() float64  { return perSecond(iv.Reads.N, iv.Elapsed) }
func (iv SoakInterval) WriteRPS() float64 { return perSecond(iv.Writes.N, iv.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// SoakResult is a whole soak.
type SoakResult struct {
	Options     SoakOptions
	Before      ServerSample // before any load, streams included, was started
	After       ServerSample // Settle after everything stopped
	Intervals   []SoakInterval
	Reads       Percentiles // over the whole measurement
	Writes      Percentiles
	ReadErrors  int
	WriteErrors int
	Aborted     int
	Retries     int // writes that needed more than one attempt
	Pushes      int
	Heartbeats  int
	StreamsOpen int // streams open when the measurement ended
	StreamFails int // streams that ended before the soak did (each was reopened)
	Elapsed     time.Duration
	FirstError  error
}

// ReadRPS and WriteRPS are the whole measurement's throughput.
func (r SoakResult) ReadRPS() float64  { return perSecond(r.Reads.N, r.Elapsed) }
func (r SoakResult) WriteRPS() float64 { return perSecond(r.Writes.N, r.Elapsed) }

// recorder collects what the workers see; the sampler takes it every interval.
type recorder struct {
	mu                         sync.Mutex
	reads, writes              []time.Duration
	readErrs, writeErrs, abort int
	retries                    int
	firstErr                   error
	pushes, heartbeats         atomic.Int64
	streams                    atomic.Int64
	streamFails                atomic.Int64
}

func (r *recorder) err(err error) {
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// take returns what was recorded since the last take and starts afresh.
func (r *recorder) take() (reads, writes []time.Duration, readErrs, writeErrs, abort, retries int, pushes, heartbeats int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reads, writes = r.reads, r.writes
	readErrs, writeErrs, abort, retries = r.readErrs, r.writeErrs, r.abort, r.retries
	r.reads, r.writes = nil, nil
	r.readErrs, r.writeErrs, r.abort, r.retries = 0, 0, 0, 0
	return reads, writes, readErrs, writeErrs, abort, retries, r.pushes.Swap(0), r.heartbeats.Swap(0)
}

// Soak runs opts against client (unary calls) and watch (the streams; a client on an
// HTTP client without a timeout, with a connection per stream: see NewStreamClient).
func Soak(ctx context.Context, client, watch testingv1connect.TestingServiceClient, opts SoakOptions) (SoakResult, error) {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Settle <= 0 {
		opts.Settle = 3 * time.Second
	}
	res := SoakResult{Options: opts}
	if len(opts.Numbers) < opts.Writers {
		return res, fmt.Errorf("soak: %d writers need %d rows, have %d", opts.Writers, opts.Writers, len(opts.Numbers))
	}
	if opts.Sample != nil {
		s, err := opts.Sample(ctx)
		if err != nil {
			return res, fmt.Errorf("soak: sampling the server: %w", err)
		}
		res.Before = s
	}

	rec := &recorder{}
	run, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range opts.Watchers {
		wg.Go(func() { watchLoop(run, watch, rec) })
	}
	for range opts.Readers {
		wg.Go(func() { readLoop(run, client, rec) })
	}
	for i := range opts.Writers {
		wg.Go(func() { writeLoop(run, client, opts.Numbers[i], opts.WriteEvery, rec) })
	}

	// Warm-up: the streams open, caches fill; what it recorded is dropped.
	select {
	case <-time.After(opts.Warmup):
	case <-ctx.Done():
	}
	rec.take()

	var allReads, allWrites []time.Duration
	start := time.Now()
	last := start
	tick := time.NewTicker(opts.Interval)
	// The measurement ends at the first tick at least Duration - Interval/2 after its
	// start (no sliver of an interval at the end), or when ctx does.
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		now := time.Now()
		done = ctx.Err() != nil || now.Sub(start) >= opts.Duration-opts.Interval/2
		reads, writes, rerr, werr, abort, retries, pushes, hb := rec.take()
		allReads, allWrites = append(allReads, reads...), append(allWrites, writes...)
		iv := SoakInterval{
			At: now.Sub(start), Elapsed: now.Sub(last),
			Reads: Summarize(reads), ReadErrors: rerr,
			Writes: Summarize(writes), WriteErrors: werr, Aborted: abort,
			Pushes: int(pushes), Heartbeats: int(hb), Streams: int(rec.streams.Load()),
		}
		if opts.Sample != nil {
			iv.Server, iv.SampleErr = opts.Sample(ctx)
		}
		last = now
		res.ReadErrors += rerr
		res.WriteErrors += werr
		res.Aborted += abort
		res.Retries += retries
		res.Pushes += iv.Pushes
		res.Heartbeats += iv.Heartbeats
		res.Intervals = append(res.Intervals, iv)
	}
	tick.Stop()
	res.Elapsed = time.Since(start)
	res.StreamsOpen = int(rec.streams.Load())
	res.StreamFails = int(rec.streamFails.Load())
	res.Reads, res.Writes = Summarize(allReads), Summarize(allWrites)
	stop()
	wg.Wait()
	rec.mu.Lock()
	res.FirstError = rec.firstErr
	rec.mu.Unlock()

	if opts.Sample != nil && ctx.Err() == nil {
		select {
		case <-time.After(opts.Settle):
		case <-ctx.Done():
		}
		res.After, _ = opts.Sample(ctx)
	}
	return res, ctx.Err()
}

func readLoop(ctx context.Context, client testingv1connect.TestingServiceClient, rec *recorder) {
	for ctx.Err() == nil {
		t0 := time.Now()
		_, err := client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
		d := time.Since(t0)
		if ctx.Err() != nil {
			return
		}
		rec.mu.Lock()
		if err != nil {
			rec.readErrs++
			rec.err(fmt.Errorf("GetStatus: %w", err))
		} else {
			rec.reads = append(rec.reads, d)
		}
		rec.mu.Unlock()
	}
}

// writeOp is one step of a writer's cycle, which leaves its row as it found it:
// stage a change, drop it, remove the row, restore it.
type writeOp struct {
	name string
	do   func(ctx context.Context, c testingv1connect.TestingServiceClient, n int32, version string) (applied bool, newVersion string, err error)
}

func stageOp(stage testingv1.Stage) writeOp {
	return writeOp{"StagePRs " + strings.TrimPrefix(stage.String(), "STAGE_"), func(ctx context.Context, c testingv1connect.TestingServiceClient, n int32, v string) (bool, string, error) {
		resp, err := c.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{n}, Stage: stage, ExpectedVersion: v}))
		if err != nil {
			return false, "", err
		}
		return applied(resp.Msg.GetResults()), resp.Msg.GetStatus().GetVersion(), nil
	}}
}

var (
	removeOp = writeOp{"RemovePRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, n int32, v string) (bool, string, error) {
		resp, err := c.RemovePRs(ctx, connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: []int32{n}, ExpectedVersion: v}))
		if err != nil {
			return false, "", err
		}
		return applied(resp.Msg.GetResults()), resp.Msg.GetStatus().GetVersion(), nil
	}}
	restoreOp = writeOp{"RestorePRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, n int32, v string) (bool, string, error) {
		resp, err := c.RestorePRs(ctx, connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: []int32{n}, ExpectedVersion: v}))
		if err != nil {
			return false, "", err
		}
		return applied(resp.Msg.GetResults()), resp.Msg.GetStatus().GetVersion(), nil
	}}
)

func applied(rs []*testingv1.ItemResult) bool {
	return len(rs) == 1 && rs[0].GetApplied()
}

// writeLoop changes row n over and over: every write carries the version of a
// GetStatus made just before it (not timed), and on ABORTED (someone else wrote in
// between) it reads the status again and retries. A write is timed per RPC; only those that succeeded are kept.
func writeLoop(ctx context.Context, client testingv1connect.TestingServiceClient, n int32, every time.Duration, rec *recorder) {
	ops := []writeOp{stageOp(testingv1.Stage_STAGE_DISABLE), stageOp(testingv1.Stage_STAGE_UNSTAGE), removeOp, restoreOp}
	for i := 0; ctx.Err() == nil; i++ {
		started := time.Now()
		op := ops[i%len(ops)]
		// Each write starts from a fresh read of the version, as the web UI writes with
		// the version of the status it shows: ABORTED means someone wrote in between.
		version := ""
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if version == "" {
				st, err := client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
				if err != nil {
					if ctx.Err() == nil {
						rec.mu.Lock()
						rec.writeErrs++
						rec.err(fmt.Errorf("GetStatus before a write: %w", err))
						rec.mu.Unlock()
						sleepCtx(ctx, 100*time.Millisecond)
					}
					continue
				}
				version = st.Msg.GetVersion()
			}
			t0 := time.Now()
			ok, v, err := op.do(ctx, client, n, version)
			d := time.Since(t0)
			if ctx.Err() != nil {
				return
			}
			rec.mu.Lock()
			switch {
			case connect.CodeOf(err) == connect.CodeAborted:
				rec.abort++
				version = "" // read it again, then retry
			case err != nil:
				rec.writeErrs++
				rec.err(fmt.Errorf("%s %d: %w", op.name, n, err))
				version = ""
			case !ok:
				rec.writeErrs++
				rec.err(fmt.Errorf("%s %d: not applied", op.name, n))
				version = v
			default:
				rec.writes = append(rec.writes, d)
				if attempt > 0 {
					rec.retries++
				}
				version = v
			}
			rec.mu.Unlock()
			if err == nil || connect.CodeOf(err) != connect.CodeAborted {
				break
			}
		}
		if every > 0 {
			sleepCtx(ctx, every-time.Since(started))
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// watchLoop keeps one WatchStatus stream open, counting what it receives, and opens
// it again should it end before ctx does.
func watchLoop(ctx context.Context, client testingv1connect.TestingServiceClient, rec *recorder) {
	for ctx.Err() == nil {
		stream, err := client.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
		if err != nil {
			if ctx.Err() == nil {
				rec.streamFails.Add(1)
				rec.mu.Lock()
				rec.err(fmt.Errorf("WatchStatus: %w", err))
				rec.mu.Unlock()
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		opened := false
		for stream.Receive() {
			if !opened {
				opened = true
				rec.streams.Add(1)
			}
			if stream.Msg().GetHeartbeat() {
				rec.heartbeats.Add(1)
			} else {
				rec.pushes.Add(1)
			}
		}
		if opened {
			rec.streams.Add(-1)
		}
		err = stream.Err()
		_ = stream.Close()
		if ctx.Err() == nil {
			rec.streamFails.Add(1)
			rec.mu.Lock()
			rec.err(fmt.Errorf("WatchStatus ended: %w", err))
			rec.mu.Unlock()
			sleepCtx(ctx, time.Second)
		}
	}
}

// NewStreamClient returns an HTTP client for n long-lived streams: no overall timeout
// (a stream lasts the whole soak), and every stream on a connection of its own
// (HTTP/1.1, as a browser without HTTP/2 to the server).
func NewStreamClient(n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(n, tr.MaxIdleConns)
	tr.MaxIdleConnsPerHost = max(n, 1)
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// WritableRows picks n rows of status a writer may change: in the set, open, active,
// nothing staged, highest numbers first (away from any the caller looks at first).
func WritableRows(status *testingv1.GetStatusResponse, n int) ([]int32, error) {
	var out []int32
	prs := status.GetPrs()
	for i := len(prs) - 1; i >= 0 && len(out) < n; i-- {
		pr := prs[i]
		if pr.GetInSet() && !pr.GetMerged() && !pr.GetClosed() && pr.GetActive() && pr.PendingActive == nil && pr.GetPullLatestSha() == "" {
			out = append(out, pr.GetNumber())
		}
	}
	if len(out) < n {
		return out, fmt.Errorf("only %d rows are open, active and without a staged change; %d writers need %d", len(out), n, n)
	}
	slices.Sort(out)
	return out, nil
}

// MetricsSampler samples a server from its Prometheus endpoint (metricsURL, e.g.
// http://127.0.0.1:8080/metrics): go_goroutines, go_memstats_heap_inuse_bytes and
// process_resident_memory_bytes. With pid > 0 the RSS is read from /proc/PID/status
// (VmRSS) instead, when it can be.
func MetricsSampler(hc *http.Client, metricsURL string, pid int) func(ctx context.Context) (ServerSample, error) {
	return func(ctx context.Context) (ServerSample, error) {
		var s ServerSample
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
		if err != nil {
			return s, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return s, fmt.Errorf("%s: %s", metricsURL, resp.Status)
		}
		m, err := ParseMetrics(bufio.NewScanner(resp.Body), "go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes")
		if err != nil {
			return s, err
		}
		s.Goroutines = int(m["go_goroutines"])
		s.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
		s.RSS = int64(m["process_resident_memory_bytes"])
		if pid > 0 {
			if rss, err := ProcRSS(pid); err == nil {
				s.RSS = rss
			}
		}
		if _, ok := m["go_goroutines"]; !ok {
			return s, errors.New("no go_goroutines in " + metricsURL)
		}
		return s, nil
	}
}

// ParseMetrics reads the named unlabelled samples of a Prometheus text exposition.
func ParseMetrics(sc *bufio.Scanner, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return out, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = v
	}
	return out, sc.Err()
}

// ProcRSS is a process's resident set size from /proc/PID/status (Linux).
func ProcRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// Growth compares the middle and the last third of a series (by their medians): the
// verdict on a soak is that the last third is within tolerance of the middle one. The
// first third is left out: it is the service warming up (its first drift refresh fills
// the GitHub connection pool, two goroutines per idle connection), a step, not a
// leak; a leak keeps growing through the middle and last thirds.
type Growth struct {
	First, Last float64 // medians of the middle and the last third
}

// Ratio is Last / First (1 = no change).
func (g Growth) Ratio() float64 {
	if g.First == 0 {
		return 1
	}
	return g.Last / g.First
}

// Within says whether Last exceeds First by no more than rel (a fraction of First)
// or abs, whichever is larger.
func (g Growth) Within(rel, abs float64) bool {
	return g.Last-g.First <= max(rel*g.First, abs)
}

// GrowthOf is the Growth of v (at least 3 values; fewer give a zero Growth).
func GrowthOf(v []float64) Growth {
	if len(v) < 3 {
		return Growth{}
	}
	third := len(v) / 3
	return Growth{First: medianOf(v[third : len(v)-third]), Last: medianOf(v[len(v)-third:])}
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Slope is the least-squares slope of y against x (per unit of x).
func Slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// The growth a soak tolerates between the medians of its first and last thirds: more
// than this is reported as growth (a leak, or a cache still filling up).
const (
	GoroutineGrowthRel = 0.05 // 5 % …
	GoroutineGrowthAbs = 10   // … or 10 goroutines, whichever is larger
	HeapGrowthRel      = 0.20 // heap in use: 20 % …
	HeapGrowthAbs      = 4 << 20
	RSSGrowthRel       = 0.20 // RSS: 20 % …
	RSSGrowthAbs       = 8 << 20
)

// Verdict is a soak's growth, by the tolerances above.
type Verdict struct {
	Goroutines, Heap, RSS               Growth
	GoroutinesOK, HeapOK, RSSOK, Enough bool
	HeapSlope                           float64 // bytes per minute, least squares over every sample
}

// OK: enough samples, and nothing grew beyond its tolerance.
func (v Verdict) OK() bool { return v.Enough && v.GoroutinesOK && v.HeapOK && v.RSSOK }

// Verdict compares the middle and the last third of the samples.
func (r SoakResult) Verdict() Verdict {
	var at, g, h, rss []float64
	for _, iv := range r.Intervals {
		if iv.SampleErr != nil || iv.Server.Goroutines == 0 {
			continue
		}
		at = append(at, iv.At.Minutes())
		g = append(g, float64(iv.Server.Goroutines))
		h = append(h, float64(iv.Server.HeapInuse))
		rss = append(rss, float64(iv.Server.RSS))
	}
	v := Verdict{Goroutines: GrowthOf(g), Heap: GrowthOf(h), RSS: GrowthOf(rss), Enough: len(g) >= 6, HeapSlope: Slope(at, h)}
	// Besides the medians, the trend after the warm-up third: a steady leak shows as a
	// slope whose growth over that span exceeds the tolerance.
	steady := func(v []float64) (span float64, slope float64) {
		w := len(v) / 3
		if len(v)-w < 2 {
			return 0, 0
		}
		a := at[w:len(v)]
		return a[len(a)-1] - a[0], Slope(a, v[w:])
	}
	trendOK := func(v []float64, first, rel, abs float64) bool {
		span, slope := steady(v)
		return slope*span <= max(rel*first, abs)
	}
	v.GoroutinesOK = v.Goroutines.Within(GoroutineGrowthRel, GoroutineGrowthAbs) && trendOK(g, v.Goroutines.First, GoroutineGrowthRel, GoroutineGrowthAbs)
	v.HeapOK = v.Heap.Within(HeapGrowthRel, HeapGrowthAbs) && trendOK(h, v.Heap.First, HeapGrowthRel, HeapGrowthAbs)
	v.RSSOK = v.RSS.Within(RSSGrowthRel, RSSGrowthAbs) && trendOK(rss, v.RSS.First, RSSGrowthRel, RSSGrowthAbs)
	return v
}

// Text is the verdict in words.
func (v Verdict) Text() string {
	if !v.Enough {
		return "too few samples for a verdict (want 6 or more)"
	}
	what := "no growth"
	if !v.OK() {
		var grew []string
		if !v.GoroutinesOK {
			grew = append(grew, "goroutines")
		}
		if !v.HeapOK {
			grew = append(grew, "heap in use")
		}
		if !v.RSSOK {
			grew = append(grew, "RSS")
		}
		what = "GROWTH of " + strings.Join(grew, ", ")
	}
	return fmt.Sprintf("%s: goroutines %.0f → %.0f, heap in use %s → %s (%+.2f MiB/min by least squares), RSS %s → %s (medians of the middle and last thirds, and the trend after the warm-up third; tolerance: goroutines +%.0f %% or +%d, heap +%.0f %% or +%d MiB, RSS +%.0f %% or +%d MiB)",
		what, v.Goroutines.First, v.Goroutines.Last, MiB(v.Heap.First), MiB(v.Heap.Last), v.HeapSlope/(1<<20), MiB(v.RSS.First), MiB(v.RSS.Last),
		100*GoroutineGrowthRel, GoroutineGrowthAbs, 100*HeapGrowthRel, HeapGrowthAbs>>20, 100*RSSGrowthRel, RSSGrowthAbs>>20)
}

// MiB prints a byte count in MiB.
func MiB(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// String is the report cmd/loadgen prints: one line per interval, then the totals.
func (r SoakResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7s %8s %9s %9s %9s %8s %9s %9s %7s %7s %8s %10s %10s %6s\n",
		"t", "reads/s", "read p50", "read p90", "read p99", "writes/s", "write p50", "write p99", "aborted", "pushes", "streams", "RSS", "heap", "gorout")
	for _, iv := range r.Intervals {
		fmt.Fprintf(&b, "%7s %8.0f %9s %9s %9s %8.1f %9s %9s %7d %7d %8d %10s %10s %6d\n",
			iv.At.Round(min(r.Options.Interval, time.Second)), iv.ReadRPS(), FormatDuration(iv.Reads.P50), FormatDuration(iv.Reads.P90), FormatDuration(iv.Reads.P99),
			iv.WriteRPS(), FormatDuration(iv.Writes.P50), FormatDuration(iv.Writes.P99), iv.Aborted, iv.Pushes, iv.Streams,
			MiB(float64(iv.Server.RSS)), MiB(float64(iv.Server.HeapInuse)), iv.Server.Goroutines)
	}
	fmt.Fprintf(&b, "reads       %d in %s, %.0f/s, %d errors; p50 %s  p90 %s  p99 %s  max %s\n", r.Reads.N, r.Elapsed.Round(time.Millisecond), r.ReadRPS(), r.ReadErrors,
		FormatDuration(r.Reads.P50), FormatDuration(r.Reads.P90), FormatDuration(r.Reads.P99), FormatDuration(r.Reads.Max))
	fmt.Fprintf(&b, "writes      %d, %.1f/s, %d errors, %d ABORTED (%d writes retried); p50 %s  p90 %s  p99 %s  max %s\n", r.Writes.N, r.WriteRPS(), r.WriteErrors, r.Aborted, r.Retries,
		FormatDuration(r.Writes.P50), FormatDuration(r.Writes.P90), FormatDuration(r.Writes.P99), FormatDuration(r.Writes.Max))
	fmt.Fprintf(&b, "streams     %d open at the end of %d, %d ended early; %d statuses pushed, %d heartbeats\n", r.StreamsOpen, r.Options.Watchers, r.StreamFails, r.Pushes, r.Heartbeats)
	if r.Before.Goroutines > 0 {
		fmt.Fprintf(&b, "server      before: %d goroutines, RSS %s; %s after everything stopped: %d goroutines, RSS %s\n",
			r.Before.Goroutines, MiB(float64(r.Before.RSS)), r.Options.Settle, r.After.Goroutines, MiB(float64(r.After.RSS)))
		fmt.Fprintf(&b, "verdict     %s\n", r.Verdict().Text())
	}
	if r.FirstError != nil {
		fmt.Fprintf(&b, "first error %v\n", r.FirstError)
	}
	return b.String()
}
