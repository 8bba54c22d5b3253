package service

import (
	"context"
	"strings"
	"time"

	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/service/drift"
)

// The legacy page's drift cache: while the legacy page still runs beside us, it reads
// memcached's status.github_pr_drift (LEGACY.md §5) and asks GitHub itself, one PR
// after another, whenever that key is missing. We keep the key filled with what we
// know, so legacy asks nothing we already asked; and legacy deleting the key (after
// its add, deploy or refresh) is taken as the request to refresh that it is, so we
// ask GitHub once for both. A value legacy wrote itself tells us what it learnt.

// LegacyCache publishes the set's drift in the legacy format (implemented by
// *olcompress.Mirror).
type LegacyCache interface {
	Publish(ctx context.Context, order []int, entries map[int]olcompress.DriftEntry) error
}

// legacyRefreshTimeout bounds the refresh a legacy eviction asks for.
const legacyRefreshTimeout = 30 * time.Second

// legacyPublication is one value for the legacy key, waiting to be written.
type legacyPublication struct {
	order   []int
	entries map[int]olcompress.DriftEntry
}

// publishLegacy hands what res says of the set to the worker that writes the legacy
// key (Run), replacing any value still waiting: a status read never waits for
// memcached, and an older value never overwrites a newer one. Only fresh data is
// published: legacy trusts the key for its whole TTL.
func (s *Server) publishLegacy(_ context.Context, order []int, res drift.Result) {
	if s.legacy == nil || res.Stale {
		return
	}
	p := legacyPublication{order: order, entries: legacyEntries(order, res)}
	for {
		select {
		case s.legacyQueue <- p:
			return
		default:
		}
		select {
		case <-s.legacyQueue: // drop the older value waiting
		default:
		}
	}
}

// runLegacy writes published values until ctx ends.
func (s *Server) runLegacy(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-s.legacyQueue:
			if err := s.legacy.Publish(ctx, p.order, p.entries); err != nil {
				s.logger.WarnContext(ctx, "could not publish the legacy drift cache", "err", err)
			}
		}
	}
}

func legacyEntries(order []int, res drift.Result) map[int]olcompress.DriftEntry {
	entries := make(map[int]olcompress.DriftEntry, len(order))
	for _, n := range order {
		f := res.PRs[n]
		e := olcompress.DriftEntry{HeadSHA: f.HeadSHA, Drift: f.Drift, Merged: f.Merged}
		if len(e.HeadSHA) > 7 {
			e.HeadSHA = e.HeadSHA[:7] // legacy keeps short heads
		}
		entries[n] = e
	}
	return entries
}

// LegacyRepublish writes the legacy key again from what is known (it expired).
func (s *Server) LegacyRepublish(ctx context.Context) {
	snap, err := s.store.Load(ctx)
	if err != nil {
		return
	}
	ts := targets(snap.State)
	s.publishLegacy(ctx, numbers(ts), s.drift.Resolve(ctx, ts))
}

// LegacyEvicted is legacy deleting its drift key (after it added, deployed or was asked
// to refresh): GitHub is asked again about the whole set, once, with conditional
// requests, and the answer goes to watchers and back into the key.
func (s *Server) LegacyEvicted(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), legacyRefreshTimeout)
	defer cancel()
	snap, err := s.store.Load(ctx)
	if err != nil {
		return
	}
	ts := targets(snap.State)
	res := s.drift.Refresh(ctx, ts)
	s.Notify()
	s.publishLegacy(ctx, numbers(ts), res)
}

// LegacyForeign is a value of the legacy key that we did not write: legacy resolved
// drift itself. Where it saw a head or a merge we have not, our facts are older; those
// PRs are asked about again. Where it agrees, nothing is asked.
func (s *Server) LegacyForeign(ctx context.Context, entries map[int]olcompress.DriftEntry) {
	snap, err := s.store.Load(ctx)
	if err != nil {
		return
	}
	ts := targets(snap.State)
	res := s.drift.Resolve(ctx, ts)
	var behind []drift.Target
	for _, t := range ts {
		e, ok := entries[t.Number]
		f := res.PRs[t.Number]
		if !ok || !f.Known || e.HeadSHA == "" {
			continue
		}
		if !strings.HasPrefix(f.HeadSHA, e.HeadSHA) || e.Merged != f.Merged {
			behind = append(behind, t)
		}
	}
	if len(behind) == 0 {
		return
	}
	s.logger.InfoContext(ctx, "the legacy page saw newer GitHub facts; refreshing those PRs", "prs", numbers(behind))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), legacyRefreshTimeout)
	defer cancel()
	s.drift.Refresh(ctx, behind)
	s.Notify()
}

func numbers(ts []drift.Target) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.Number
	}
	return out
}

// LegacyStats returns the legacy cache mirror's counters; false when it is off.
func (s *Server) LegacyStats() (olcompress.MirrorStats, bool) {
	m, ok := s.legacy.(interface{ Stats() olcompress.MirrorStats })
	if !ok {
		return olcompress.MirrorStats{}, false
	}
	return m.Stats(), true
}
