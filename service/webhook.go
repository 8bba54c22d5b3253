package service

import (
	"container/list"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/service/drift"
)

// The webhook receiver: GitHub tells us of a push, merge, close, retitle or
// reassignment the moment it happens, so the set is current within a second without
// asking GitHub anything. The handler only checks and queues (GitHub wants an answer
// within 10 seconds, and a slow receiver is marked failing); one worker applies the
// deliveries in order. GitHub does not redeliver a delivery that failed, so nothing
// here is load-bearing for correctness: the reconcile loop (github.go) catches what
// was lost.

const (
	// webhookQueue bounds deliveries accepted but not yet applied. Applying one is a
	// state stat and a map update, so the queue only fills when something is wrong;
	// then the delivery is refused with 503 (GitHub shows it as failed) and the
	// reconcile loop covers it.
	webhookQueue = 256
	// deliveriesKept is how many delivery ids are remembered to refuse replays.
	// GitHub's redelivery reuses the id, and so does an attacker replaying a captured
	// delivery (the signature covers the body, not the moment).
	deliveriesKept = 10_000
)

// webhooks is the receiver's state.
type webhooks struct {
	secret []byte
	queue  chan github.Webhook
	seen   deliverySet
	last   atomic.Int64 // unix nanoseconds of the last verified delivery; 0 = none

	received, badSignature, badPayload, duplicate, overflow atomic.Int64
	ignored, applied                                        atomic.Int64
}

// WebhookStats are the receiver's counters since start.
type WebhookStats struct {
	Received     int64 // deliveries that reached the handler
	BadSignature int64 // refused: unsigned, forged or malformed signature (401)
	BadPayload   int64 // refused: oversized or unusable body (413/400)
	Duplicate    int64 // a delivery id seen before: acknowledged, not applied again
	Overflow     int64 // refused because the queue was full (503)
	Ignored      int64 // verified but about nothing the set holds (other repo, PR, event or action)
	Applied      int64 // facts of a PR in the set taken from a delivery
}

// WebhookStats returns the receiver's counters (zero when it is off).
func (s *Server) WebhookStats() WebhookStats {
	w := s.webhooks
	if w == nil {
		return WebhookStats{}
	}
	return WebhookStats{
		Received:     w.received.Load(),
		BadSignature: w.badSignature.Load(),
		BadPayload:   w.badPayload.Load(),
		Duplicate:    w.duplicate.Load(),
		Overflow:     w.overflow.Load(),
		Ignored:      w.ignored.Load(),
		Applied:      w.applied.Load(),
	}
}

// WebhookHandler returns the receiver for BASE/webhooks/github, or nil when no
// secret is configured (the route then does not exist).
func (s *Server) WebhookHandler() http.Handler {
	if s.webhooks == nil {
		return nil
	}
	return http.HandlerFunc(s.serveWebhook)
}

func (s *Server) serveWebhook(rw http.ResponseWriter, r *http.Request) {
	w := s.webhooks
	w.received.Add(1)
	rw.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, github.MaxWebhookBody))
	if err != nil {
		w.badPayload.Add(1)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(rw, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "could not read the payload", http.StatusBadRequest)
		return
	}
	// Nothing is trusted, not even the delivery id, before the signature is checked.
	if err := github.VerifySignature(w.secret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
		w.badSignature.Add(1)
		s.logger.WarnContext(r.Context(), "webhook refused: bad signature", "remote", r.RemoteAddr, "reason", err.Error())
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	now := s.now()
	w.last.Store(now.UnixNano())
	id := r.Header.Get("X-GitHub-Delivery")
	if id == "" || len(id) > 100 {
		w.badPayload.Add(1)
		http.Error(rw, "missing X-GitHub-Delivery", http.StatusBadRequest)
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	hook, err := github.ParseWebhook(event, body)
	if err != nil {
		w.badPayload.Add(1)
		s.logger.WarnContext(r.Context(), "webhook refused: bad payload", "delivery", id, "event", event, "err", err)
		http.Error(rw, "bad payload", http.StatusBadRequest)
		return
	}
	if !w.seen.add(id) {
		w.duplicate.Add(1)
		s.logger.InfoContext(r.Context(), "webhook delivery seen before; ignored", "delivery", id, "event", event)
		writeText(rw, http.StatusOK, "duplicate delivery; already handled\n")
		return
	}
	s.adjustTTL(now)
	if !s.relevant(hook) {
		w.ignored.Add(1)
		writeText(rw, http.StatusOK, "ignored\n")
		return
	}
	select {
	case w.queue <- hook:
		writeText(rw, http.StatusAccepted, "accepted\n")
	default:
		w.overflow.Add(1)
		w.seen.remove(id) // a redelivery may succeed
		s.logger.WarnContext(r.Context(), "webhook queue full; delivery refused (the reconcile loop will catch up)", "delivery", id)
		http.Error(rw, "busy; the change will be picked up by the next reconcile", http.StatusServiceUnavailable)
	}
}

// relevant is the cheap first filter: a pull_request event of our repository with an
// action that changes what we show. Whether the PR is in the set is decided by the
// worker, against the state at that moment.
func (s *Server) relevant(hook github.Webhook) bool {
	if hook.Event != github.EventPullRequest || hook.Pull == nil || !strings.EqualFold(hook.Repo, s.repo) {
		return false
	}
	switch hook.Action {
	case github.ActionOpened, github.ActionSynchronize, github.ActionClosed, github.ActionReopened,
		github.ActionEdited, github.ActionAssigned, github.ActionUnassigned:
		return true
	}
	return false
}

// runWebhooks applies queued deliveries until ctx ends.
func (s *Server) runWebhooks(ctx context.Context) {
	w := s.webhooks
	for {
		select {
		case <-ctx.Done():
			return
		case hook := <-w.queue:
			s.applyWebhook(ctx, hook)
		}
	}
}

// applyWebhook takes the facts of one delivery for the PR it is about, when the set
// holds that PR, and pushes the new status to watchers.
func (s *Server) applyWebhook(ctx context.Context, hook github.Webhook) {
	snap, err := s.store.Load(ctx)
	if err != nil {
		s.webhooks.ignored.Add(1)
		s.logger.WarnContext(ctx, "webhook not applied: state unreadable", "pr", hook.Number, "err", err)
		return
	}
	for _, pr := range snap.State.PRs {
		if pr.Number != hook.Number {
			continue
		}
		if s.drift.Apply(ctx, drift.Target{Number: pr.Number, Pin: pr.Commit}, *hook.Pull) {
			s.webhooks.applied.Add(1)
			s.logger.DebugContext(ctx, "webhook applied", "pr", hook.Number, "action", hook.Action)
			s.Notify()
			s.nudgePredictor() // a push: the mirror fetches the new head
		}
		return
	}
	s.webhooks.ignored.Add(1)
}

// lastWebhook is when the last verified delivery arrived (zero: none).
func (s *Server) lastWebhook() time.Time {
	if s.webhooks == nil {
		return time.Time{}
	}
	if n := s.webhooks.last.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func writeText(rw http.ResponseWriter, status int, text string) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = io.WriteString(rw, text)
}

// deliverySet remembers the last deliveriesKept delivery ids.
type deliverySet struct {
	mu    sync.Mutex
	ids   map[string]*list.Element
	order list.List // front = newest; Value is the id
}

// add records id and reports whether it is new.
func (d *deliverySet) add(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = make(map[string]*list.Element)
	}
	if _, ok := d.ids[id]; ok {
		return false
	}
	d.ids[id] = d.order.PushFront(id)
	for d.order.Len() > deliveriesKept {
		old := d.order.Back()
		d.order.Remove(old)
		delete(d.ids, old.Value.(string))
	}
	return true
}

func (d *deliverySet) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.ids[id]; ok {
		d.order.Remove(el)
		delete(d.ids, id)
	}
}
