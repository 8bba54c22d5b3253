package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/service"
)

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
