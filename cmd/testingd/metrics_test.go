package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
)

// scrape is one reading of /metrics.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value is the counter, gauge or histogram count of name with exactly these labels
// ("k=v" pairs); 0 when there is no such series.
func (s scrape) value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// series returns every series of name as "k=v,k=v" (labels sorted) → value.
func (s scrape) series(name string) map[string]float64 {
	out := map[string]float64{}
	f := s[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		slices.Sort(ls)
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		out[strings.Join(ls, ",")] = v
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	if len(have) != len(labels) {
		return false
	}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// delta is after − before for every series of name.
func delta(before, after scrape, name string) map[string]float64 {
	out := map[string]float64{}
	b := before.series(name)
	for k, v := range after.series(name) {
		if d := v - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// metricsEnv is testingd as main wires it (buildService, newHandler) over real HTTP,
// with fake GitHub and Jenkins.
type metricsEnv struct {
	gh      *fakegithub.Server
	jk      *fakejenkins.Server
	url     string // the server's base URL
	client  testingv1connect.TestingServiceClient
	metrics string // BASE/metrics
}

func newMetricsEnv(t *testing.T) *metricsEnv {
	t.Helper()
	mergeable := true
	h1, h2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	gh := fakegithub.New(t, fakegithub.WithPulls(
		fakegithub.PullSpec{Number: 1, Title: "One", Head: h1, Mergeable: &mergeable},
		fakegithub.PullSpec{Number: 2, Title: "Two", Head: h2, Mergeable: &mergeable},
	))
	gh.SetCompare(h1, h1, "identical", 0, 0)
	gh.SetCompare(h2, h2, "identical", 0, 0)
	gh.SetQuota(5000)
	jk := fakejenkins.New(t)
	jk.SetToken("jenkins-token")

	dir := t.TempDir()
	srvURL := serveInProcess(t, "--state-file", filepath.Join(dir, "_testing-prs.json"), "--build-status-file", filepath.Join(dir, "t.txt"),
		"--github-api-url", gh.URL, "--jenkins-trigger-url", jk.TriggerURL(), "--jenkins-runs-url", jk.RunsURL(),
		"--jenkins-token", "jenkins-token",
		// Nothing asks GitHub on a timer: every request comes from the script.
		"--github-reconcile-interval", "0", "--drift-ttl", "1h",
		"--base-path", "/status/v2/")
	return &metricsEnv{
		gh:      gh,
		jk:      jk,
		url:     srvURL,
		client:  testingv1connect.NewTestingServiceClient(http.DefaultClient, srvURL+"/status/v2/", connect.WithProtoJSON()),
		metrics: srvURL + "/status/v2/metrics",
	}
}

// githubSeen is what the fake GitHub answered, as testingd_github_requests_total's
// series ("endpoint=…,status=…"); done is false while a request is unanswered.
func (e *metricsEnv) githubSeen() (seen map[string]float64, done bool) {
	endpoint := map[string]string{fakegithub.KindList: "list_pulls", fakegithub.KindPull: "get_pull", fakegithub.KindCompare: "compare", "": "other"}
	seen = map[string]float64{}
	for _, r := range e.gh.Requests() {
		if r.Status == 0 {
			return nil, false
		}
		seen[fmt.Sprintf("endpoint=%s,status=%d", endpoint[r.Kind], r.Status)]++
	}
	return seen, true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never happened: %s", what, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A scripted session against the real handler moves each counter by exactly what it
// did: RPCs by procedure and code, deploys by outcome, state writes, GitHub requests
// by endpoint and status (304s included, as the fake GitHub answered them), watchers
// up and back to 0, and the caches.
func TestMetricsScriptedSession(t *testing.T) {
	t.Parallel()
	e := newMetricsEnv(t)
	ctx := t.Context()
	before := scrapeMetrics(t, e.metrics)
	for _, name := range []string{"testingd_rpc_requests_total", "testingd_github_requests_total"} {
		if s := before.series(name); len(s) != 0 {
			t.Errorf("%s before any request: %v", name, s)
		}
	}

	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	_, err := e.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	must("GetStatus", err)
	added, err := e.client.AddPRs(ctx, connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"1", "#2"}}))
	must("AddPRs", err)
	for _, r := range added.Msg.Results {
		if r.Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED {
			t.Fatalf("AddPRs %s: %v", r.Ref, r.Outcome)
		}
	}
	_, err = e.client.AddPRs(ctx, connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"3"}, ExpectedVersion: "stale"}))
	if connect.CodeOf(err) != connect.CodeAborted {
		t.Fatalf("AddPRs with a stale version: %v; want ABORTED", err)
	}
	_, err = e.client.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: []int32{2}, Stage: testingv1.Stage_STAGE_DISABLE}))
	must("StagePRs", err)
	dry, err := e.client.Deploy(ctx, connect.NewRequest(&testingv1.DeployRequest{DryRun: true}))
	must("Deploy dry run", err)
	if dry.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_DRY_RUN {
		t.Fatalf("dry run: %v", dry.Msg.Outcome)
	}
	res, err := e.client.Deploy(ctx, connect.NewRequest(&testingv1.DeployRequest{}))
	must("Deploy", err)
	if res.Msg.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED || len(e.jk.Triggers()) != 1 {
		t.Fatalf("deploy: %v, %d triggers", res.Msg.Outcome, len(e.jk.Triggers()))
	}
	if _, err := e.client.Deploy(ctx, connect.NewRequest(&testingv1.DeployRequest{})); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("a deploy with nothing to deploy: %v; want FAILED_PRECONDITION", err)
	}

	// A watcher: counted while connected, then gone.
	watchCtx, closeWatch := context.WithCancel(ctx)
	stream, err := e.client.WatchStatus(watchCtx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	must("WatchStatus", err)
	if !stream.Receive() {
		t.Fatalf("WatchStatus: no first status: %v", stream.Err())
	}
	watching := scrapeMetrics(t, e.metrics)
	if w := watching.value("testingd_watchers"); w != 1 {
		t.Errorf("testingd_watchers while one stream is open = %v; want 1", w)
	}
	if n := watching.value("testingd_rpc_in_flight", "procedure="+testingv1connect.TestingServiceWatchStatusProcedure); n != 1 {
		t.Errorf("WatchStatus in flight while open = %v; want 1", n)
	}
	closeWatch()
	_ = stream.Close()
	watchEnded := "code=canceled,procedure=" + testingv1connect.TestingServiceWatchStatusProcedure
	eventually(t, "the watcher leaving", func() (bool, string) {
		s := scrapeMetrics(t, e.metrics)
		w, ended := s.value("testingd_watchers"), s.series("testingd_rpc_requests_total")[watchEnded]
		return w == 0 && ended == 1, fmt.Sprintf("watchers %v, streams ended %v", w, s.series("testingd_rpc_requests_total"))
	})

	// A warm read, from memory.
	_, err = e.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	must("GetStatus", err)

	// GitHub requests settle (drift answers reads without waiting for every question):
	// the metric must say exactly what the fake GitHub answered.
	var after scrape
	eventually(t, "GitHub requests matching the fake's record", func() (bool, string) {
		seen, done := e.githubSeen()
		after = scrapeMetrics(t, e.metrics)
		got := after.series("testingd_github_requests_total")
		return done && maps.Equal(got, seen), fmt.Sprintf("metrics %v; fake GitHub answered %v", got, seen)
	})

	rpc := func(name, code string) string {
		return "code=" + code + ",procedure=/openlibrary.testing.v1.TestingService/" + name
	}
	checkDelta(t, before, after, "testingd_rpc_requests_total", map[string]float64{
		rpc("GetStatus", "ok"):               2,
		rpc("AddPRs", "ok"):                  1,
		rpc("AddPRs", "aborted"):             1,
		rpc("StagePRs", "ok"):                1,
		rpc("Deploy", "ok"):                  2,
		rpc("Deploy", "failed_precondition"): 1,
		rpc("WatchStatus", "canceled"):       1,
	})
	proc := func(name string) string { return "procedure=/openlibrary.testing.v1.TestingService/" + name }
	checkDelta(t, before, after, "testingd_rpc_duration_seconds", map[string]float64{
		proc("GetStatus"): 2, proc("AddPRs"): 2, proc("StagePRs"): 1, proc("Deploy"): 3,
	})
	checkDelta(t, before, after, "testingd_rpc_stream_duration_seconds", map[string]float64{proc("WatchStatus"): 1})
	checkDelta(t, before, after, "testingd_deploys_total", map[string]float64{
		"outcome=dry_run": 1, "outcome=triggered": 1, "outcome=nothing_to_deploy": 1,
	})
	// AddPRs, StagePRs and the deploy each replaced the file once.
	checkDelta(t, before, after, "testingd_state_writes_total", map[string]float64{"result=ok": 3})
	if n := after.value("testingd_state_write_duration_seconds") - before.value("testingd_state_write_duration_seconds"); n != 3 {
		t.Errorf("state write durations observed: %v; want 3", n)
	}
	for _, s := range []string{"testingd_watchers"} {
		if v := after.value(s); v != 0 {
			t.Errorf("%s after the session = %v; want 0", s, v)
		}
	}
	if n := after.value("testingd_rpc_in_flight", "procedure="+testingv1connect.TestingServiceWatchStatusProcedure); n != 0 {
		t.Errorf("WatchStatus in flight after close = %v", n)
	}

	// The deploy's re-check of the set asked GitHub conditionally: 304s, counted apart,
	// and as etag cache hits (the fake counted them independently).
	notModified := float64(e.gh.NotModified())
	var got304 float64
	for k, v := range after.series("testingd_github_requests_total") {
		if strings.HasSuffix(k, "status=304") {
			got304 += v
		}
	}
	if notModified == 0 || got304 != notModified {
		t.Errorf("304s: metrics %v, fake GitHub %v; want equal and some", got304, notModified)
	}
	cache := delta(before, after, "testingd_cache_requests_total")
	if cache["layer=etag,result=hit"] != notModified {
		t.Errorf("etag hits moved by %v; want the %v 304s", cache["layer=etag,result=hit"], notModified)
	}
	total := float64(len(e.gh.Requests()))
	if cache["layer=etag,result=miss"] != total-notModified {
		t.Errorf("etag misses moved by %v; want %v (requests that were not 304s)", cache["layer=etag,result=miss"], total-notModified)
	}
	// Reads after the first answer from memory. (L2 is asked for a PR's facts only by
	// refreshes that lack them in memory, e.g. after a restart on a warm memcached: the
	// series are there, but this session does not move them.)
	if cache["layer=l1,result=hit"] == 0 {
		t.Errorf("l1 hits did not move: %v", cache)
	}
	// AddPRs teaches the resolver what it looked up, so no read of this session
	// misses memory (TestL1MissesCounted in service/drift counts them).
	if cache["layer=l1,result=miss"] != 0 {
		t.Errorf("l1 misses moved: %v; want none", cache)
	}
	for _, k := range []string{"layer=l1,result=miss", "layer=l2,result=hit", "layer=l2,result=miss"} {
		if _, ok := after.series("testingd_cache_requests_total")[k]; !ok {
			t.Errorf("testingd_cache_requests_total has no %s series", k)
		}
	}
	if h := after.value("testingd_github_request_duration_seconds", "endpoint=get_pull"); h == 0 {
		t.Errorf("no GitHub request durations observed for get_pull")
	}
	if r := after.value("testingd_github_rate_limit_remaining"); r <= 0 || r >= 5000 {
		t.Errorf("testingd_github_rate_limit_remaining = %v; want what the fake said", r)
	}
}

// checkDelta fails unless every series of name moved by exactly want (and no other
// series moved).
func checkDelta(t *testing.T, before, after scrape, name string, want map[string]float64) {
	t.Helper()
	if got := delta(before, after, name); !maps.Equal(got, want) {
		t.Errorf("%s moved by\n\t%v\nwant\n\t%v", name, got, want)
	}
}

// Every testingd_ metric registered is described in docs/METRICS.md, and every
// testingd_ metric the document names exists, so the document cannot go stale.
func TestMetricsDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	e := newMetricsEnvService(t)
	rec := &descRecorder{Registerer: prometheus.NewRegistry(), names: map[string]bool{}}
	registerMetrics(rec, e)
	if len(rec.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(rec.names), rec.names)
	}
	for name := range rec.names {
		if !strings.HasPrefix(name, "testingd_") {
			continue
		}
		if !regexp.MustCompile("`" + name + "[`{]").Match(doc) {
			t.Errorf("docs/METRICS.md does not describe %s (as `%s`)", name, name)
		}
	}
	for _, m := range regexp.MustCompile(`testingd_[a-z0-9_]+`).FindAll(doc, -1) {
		name := string(m)
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !rec.names[name] && !rec.names[base] && name != "testingd_" {
			t.Errorf("docs/METRICS.md names %s, which is not registered", name)
		}
	}
}

// newMetricsEnvService is the service as buildService wires it, on fakes.
func newMetricsEnvService(t *testing.T) testingv1connect.TestingServiceHandler {
	t.Helper()
	gh := fakegithub.New(t)
	dir := t.TempDir()
	_, svc := buildInProcess(t, "--state-file", filepath.Join(dir, "_testing-prs.json"), "--build-status-file", filepath.Join(dir, "t.txt"),
		"--github-api-url", gh.URL, "--github-reconcile-interval", "0")
	return svc
}

// descRecorder registers collectors and remembers the names of their metrics.
type descRecorder struct {
	prometheus.Registerer
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return r.Registerer.Register(c)
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}
