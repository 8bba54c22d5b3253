package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

// Every metric is documented in docs/METRICS.md (TestMetricsDocumented checks it).

// registerMetrics registers what BASE/metrics shows beyond the Go runtime and the
// process: the RPCs (through the returned interceptor), the watchers, and whatever
// svc can tell: its standing with GitHub, and, as buildService wires it, the metrics
// fed by its parts' hooks (partMetrics).
func registerMetrics(reg prometheus.Registerer, svc any) *rpcMetrics {
	rpc := newRPCMetrics(reg)
	watchers := func() float64 { return float64(rpc.watchStreams.Load()) }
	if w, ok := svc.(interface{ Watchers() (streams, loops int) }); ok {
		watchers = func() float64 { streams, _ := w.Watchers(); return float64(streams) }
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "testingd_watchers",
		Help: "WatchStatus streams connected now.",
	}, watchers))
	if m, ok := svc.(githubMetrics); ok {
		registerGitHubMetrics(reg, m)
	}
	if p, ok := svc.(interface{ partMetrics() *partMetrics }); ok {
		reg.MustRegister(p.partMetrics().collectors()...)
	}
	return rpc
}

// partMetrics are fed by the hooks of the service's parts (GitHub's responses,
// deploys, state-file writes) and read from their counters at scrape time (caches).
// buildService makes them before the parts, which are made before any registry.
type partMetrics struct {
	githubRequests     *prometheus.CounterVec
	githubDuration     *prometheus.HistogramVec
	deploys            *prometheus.CounterVec
	stateWrites        *prometheus.CounterVec
	stateWriteDuration prometheus.Histogram
	cache              collectorFunc
}

func newPartMetrics() *partMetrics {
	m := &partMetrics{
		githubRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "testingd_github_requests_total",
			Help: `Requests sent to GitHub, by endpoint (list_pulls, get_pull, compare, other) and status as GitHub answered ("304" for a conditional hit; "error" when no answer came).`,
		}, []string{"endpoint", "status"}),
		githubDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "testingd_github_request_duration_seconds",
			Help:    "How long GitHub took to answer a request (to its headers), by endpoint.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "testingd_deploys_total",
			Help: "Deploys asked for by a maintainer, by outcome (triggered, unconfigured, dry_run, nothing_to_deploy, failed, aborted, error).",
		}, []string{"outcome"}),
		stateWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "testingd_state_writes_total",
			Help: "Replacements of the state file (writes, restores after a failed deploy, recoveries), by result (ok, error).",
		}, []string{"result"}),
		stateWriteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "testingd_state_write_duration_seconds",
			Help:    "How long replacing the state file took: temp file, fsync, rename, directory sync (not the wait for its lock).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	// Every outcome and result from the start, so rate() and increase() see the first one.
	for _, o := range service.DeployOutcomes {
		m.deploys.WithLabelValues(o)
	}
	m.stateWrites.WithLabelValues("ok")
	m.stateWrites.WithLabelValues("error")
	return m
}

// observeGitHub is the GitHub client's ResponseObserver.
func (m *partMetrics) observeGitHub(endpoint string, status int, d time.Duration) {
	label := "error"
	if status != 0 {
		label = strconv.Itoa(status)
	}
	m.githubRequests.WithLabelValues(endpoint, label).Inc()
	if status != 0 {
		m.githubDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	}
}

// observeDeploy is the service's OnDeploy.
func (m *partMetrics) observeDeploy(outcome string) { m.deploys.WithLabelValues(outcome).Inc() }

// observeStateWrite is the store's write observer.
func (m *partMetrics) observeStateWrite(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.stateWrites.WithLabelValues(result).Inc()
	m.stateWriteDuration.Observe(d.Seconds())
}

// readCaches makes testingd_cache_requests_total read, at scrape time, the drift
// resolver's in-memory (l1) and shared (l2: memcached or the in-process cache) caches
// and the GitHub client's conditional-request cache (etag: a hit is a 304, which costs
// no rate limit; a miss is any other request, which does). An l1 miss is a PR memory
// could not answer without asking (no facts yet, or a comparison never asked).
func (m *partMetrics) readCaches(resolver func() drift.Stats, gh func() github.Stats) {
	desc := prometheus.NewDesc("testingd_cache_requests_total",
		"Cache lookups, by layer (l1: drift in memory; l2: drift in the shared cache; etag: GitHub conditional requests) and result (hit, miss).",
		[]string{"layer", "result"}, nil)
	m.cache = collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		d, g := resolver(), gh()
		for _, c := range []struct {
			layer, result string
			n             int64
		}{
			{"l1", "hit", d.L1Hits},
			{"l1", "miss", d.L1Misses},
			{"l2", "hit", d.L2Hits},
			{"l2", "miss", d.L2Misses},
			{"etag", "hit", g.NotModified},
			{"etag", "miss", g.Requests - g.NotModified},
		} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(c.n), c.layer, c.result)
		}
	}}
}

func (m *partMetrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.githubRequests, m.githubDuration, m.deploys, m.stateWrites, m.stateWriteDuration}
	if m.cache.desc != nil {
		cs = append(cs, m.cache)
	}
	return cs
}

// githubMetrics are what *service.Server tells of its standing with GitHub.
type githubMetrics interface {
	GitHubStatus() *testingv1.GitHubStatus
	WebhookStats() service.WebhookStats
	LegacyStats() (olcompress.MirrorStats, bool)
}

// registerGitHubMetrics exports the rate-limit budget, GitHub's last answer, the
// webhook receiver and the reconcile loop, read at scrape time.
func registerGitHubMetrics(reg prometheus.Registerer, svc githubMetrics) {
	gauge := func(name, help string, f func(*testingv1.GitHubStatus) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "testingd", Subsystem: "github", Name: name, Help: help},
			func() float64 { return f(svc.GitHubStatus()) })
	}
	reg.MustRegister(
		gauge("rate_limit", "Requests allowed per rate-limit window, as GitHub last said (0 = unknown).",
			func(g *testingv1.GitHubStatus) float64 { return float64(g.GetRateLimit()) }),
		gauge("rate_limit_remaining", "Requests left in the current rate-limit window, as GitHub last said.",
			func(g *testingv1.GitHubStatus) float64 { return float64(g.GetRateRemaining()) }),
		gauge("rate_limit_reset_timestamp_seconds", "When the rate-limit window resets (0 = unknown).",
			func(g *testingv1.GitHubStatus) float64 { return unixSeconds(g.GetRateReset()) }),
		gauge("budget_low", "1 while the budget is down to the reserve and nothing is asked in the background.",
			func(g *testingv1.GitHubStatus) float64 { return boolGauge(g.GetBudgetLow()) }),
		gauge("last_contact_timestamp_seconds", "When GitHub last answered a request successfully (0 = never).",
			func(g *testingv1.GitHubStatus) float64 { return unixSeconds(g.GetLastContactAt()) }),
		gauge("last_webhook_timestamp_seconds", "When the last verified webhook delivery arrived (0 = none).",
			func(g *testingv1.GitHubStatus) float64 { return unixSeconds(g.GetLastWebhookAt()) }),
		gauge("last_reconcile_timestamp_seconds", "When the reconcile loop last re-checked the set on GitHub (0 = not yet).",
			func(g *testingv1.GitHubStatus) float64 { return unixSeconds(g.GetLastReconcileAt()) }),
		gauge("fresh_for_seconds", "How long resolved GitHub facts count as fresh now.",
			func(g *testingv1.GitHubStatus) float64 { return float64(g.GetFreshForSeconds()) }),
	)
	deliveries := prometheus.NewDesc("testingd_github_webhook_deliveries_total",
		"Webhook deliveries received, by outcome.", []string{"outcome"}, nil)
	reg.MustRegister(collectorFunc{desc: deliveries, collect: func(ch chan<- prometheus.Metric) {
		st := svc.WebhookStats()
		for outcome, n := range map[string]int64{
			"bad_signature": st.BadSignature,
			"bad_payload":   st.BadPayload,
			"duplicate":     st.Duplicate,
			"overflow":      st.Overflow,
			"ignored":       st.Ignored,
			"applied":       st.Applied,
		} {
			ch <- prometheus.MustNewConstMetric(deliveries, prometheus.CounterValue, float64(n), outcome)
		}
	}})
	legacy := prometheus.NewDesc("testingd_legacy_drift_cache_events_total",
		"What the legacy page's drift cache mirror did or saw, by event (only with --memcache).", []string{"event"}, nil)
	reg.MustRegister(collectorFunc{desc: legacy, collect: func(ch chan<- prometheus.Metric) {
		st, ok := svc.LegacyStats()
		if !ok {
			return
		}
		for event, n := range map[string]uint64{
			"publish":      st.Publishes,
			"eviction":     st.Evictions,
			"foreign":      st.Foreign,
			"decode_error": st.DecodeErrors,
		} {
			ch <- prometheus.MustNewConstMetric(legacy, prometheus.CounterValue, float64(n), event)
		}
	}})
}

type timestampLike interface {
	IsValid() bool
	AsTime() time.Time
}

func unixSeconds(ts timestampLike) float64 {
	if ts == nil || !ts.IsValid() {
		return 0
	}
	return float64(ts.AsTime().UnixMilli()) / 1e3
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectorFunc is a collector of one family computed at scrape time.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
