package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/service/drift"
)

// How the service keeps up with GitHub while spending almost no rate limit:
//
//   - Webhooks (webhook.go) bring every change of a PR in the set within a second.
//   - While they arrive, facts count as fresh for the reconcile interval instead of
//     --drift-ttl, so nothing polls GitHub on a timer; when they stop arriving for
//     webhookSilence (a misconfigured or deleted hook), --drift-ttl applies again.
//   - The reconcile loop asks GitHub about every PR of the set every reconcile
//     interval with conditional requests (free when nothing changed), because GitHub
//     does not redeliver a lost webhook. Deploy runs the same check on what it deploys.
//   - The resolver stops asking on its own when the budget is down to the reserve
//     (drift.BudgetError), serving cached data marked stale.

const (
	defaultReconcileInterval = 5 * time.Minute
	// webhookSilence is how long without any verified delivery before webhooks count
	// as not arriving. Every pull_request event of the repository counts, not only
	// those of the set, so on a busy repository silence means a broken hook; on a
	// quiet one, polling at --drift-ttl costs 304s only, since nothing changes.
	webhookSilence = 30 * time.Minute
	// deployCheckTimeout bounds Deploy's look at GitHub before it plans.
	deployCheckTimeout = 5 * time.Second
	// coarse is the resolution of GetStatus' last-contact and last-delivery times.
	coarse = 10 * time.Second
)

// githubSync is what the service keeps about its standing with GitHub.
type githubSync struct {
	budget    func() github.Budget
	interval  time.Duration // reconcile interval; < 0 = off
	driftTTL  time.Duration // freshness without webhooks
	liveTTL   time.Duration // freshness while webhooks arrive
	reconcile atomic.Int64  // unix nanoseconds of the last reconcile that asked GitHub
	ttlMu     sync.Mutex
}

// adjustTTL sets the resolver's freshness from whether webhooks arrive.
func (s *Server) adjustTTL(now time.Time) {
	g := &s.gh
	if s.webhooks == nil || g.driftTTL <= 0 {
		return
	}
	want := g.driftTTL
	if last := s.lastWebhook(); !last.IsZero() && now.Sub(last) < webhookSilence {
		want = g.liveTTL
	}
	g.ttlMu.Lock()
	defer g.ttlMu.Unlock()
	if s.drift.TTL() != want {
		s.drift.SetTTL(want)
		s.logger.Info("drift freshness changed", "fresh_for", want.String(), "webhooks_arriving", want == g.liveTTL)
	}
}

// Run does the service's background work until ctx ends: applying webhook
// deliveries, the reconcile loop and writing the legacy drift cache. Call it once, in its own goroutine.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if s.webhooks != nil {
		wg.Go(func() { s.runWebhooks(ctx) })
	}
	if s.gh.interval > 0 {
		wg.Go(func() { s.runReconcile(ctx) })
	}
	if s.legacy != nil {
		wg.Go(func() { s.runLegacy(ctx) })
	}
	if s.predictor != nil {
		wg.Go(func() { s.predictor.Run(ctx) })
	}
	wg.Wait()
}

func (s *Server) runReconcile(ctx context.Context) {
	t := time.NewTicker(s.gh.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.adjustTTL(s.now())
			s.reconcileOnce(ctx)
		}
	}
}

// reconcileOnce asks GitHub about every PR of the set (conditional requests); what
// changed reaches watchers through the resolver's OnUpdate.
func (s *Server) reconcileOnce(ctx context.Context) drift.ReconcileResult {
	snap, err := s.store.Load(ctx)
	if err != nil {
		s.logger.WarnContext(ctx, "reconcile skipped: state unreadable", "err", err)
		return drift.ReconcileResult{Skipped: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, max(s.gh.interval/2, 30*time.Second))
	defer cancel()
	res := s.drift.Reconcile(ctx, targets(snap.State), false)
	switch {
	case res.Skipped:
		s.logger.InfoContext(ctx, "reconcile skipped", "reason", res.Err)
	default:
		s.gh.reconcile.Store(s.now().UnixNano())
		if res.Err != nil {
			s.logger.WarnContext(ctx, "reconcile incomplete", "prs", res.Asked, "err", res.Err)
		} else {
			s.logger.DebugContext(ctx, "reconciled", "prs", res.Asked)
		}
	}
	return res
}

// checkBeforeDeploy asks GitHub whether the PRs about to be deployed were merged,
// closed or pushed to since the last word (a webhook may have been lost), so the plan
// is made on current facts. GitHub failing does not stop a deploy: the plan then uses
// what is known, as legacy does.
func (s *Server) checkBeforeDeploy(ctx context.Context, ts []drift.Target) {
	ctx, cancel := context.WithTimeout(ctx, deployCheckTimeout)
	defer cancel()
	if res := s.drift.Reconcile(ctx, ts, true); res.Err != nil {
		s.logger.WarnContext(ctx, "deploy: could not re-check every PR on GitHub; planning on cached facts", "err", res.Err)
	}
}

// GitHubStatus is the service's standing with GitHub as GetStatus reports it (also
// read by the metrics).
func (s *Server) GitHubStatus() *testingv1.GitHubStatus {
	// Times that move with every GitHub answer or delivery are given to 10 seconds:
	// the status is pushed to every watcher whenever it changes, and a busy
	// repository's deliveries (most about PRs not in the set) must not push a new
	// status several times a second for a "last delivery" line.
	out := &testingv1.GitHubStatus{
		WebhooksEnabled: s.webhooks != nil,
		LastWebhookAt:   timestamp(s.lastWebhook().Truncate(coarse), true),
		FreshForSeconds: int32(s.drift.TTL() / time.Second),
	}
	if n := s.gh.reconcile.Load(); n != 0 {
		out.LastReconcileAt = timestamp(time.Unix(0, n), true)
	}
	if s.gh.budget != nil {
		b := s.gh.budget()
		if b.Known {
			out.RateLimit, out.RateRemaining = int32(b.Limit), int32(b.Remaining)
			out.RateReset = timestamp(b.Reset, true)
		}
		out.LastContactAt = timestamp(b.LastContact.Truncate(coarse), true)
	}
	out.BudgetLow = s.drift.LowBudget() != nil
	return out
}
