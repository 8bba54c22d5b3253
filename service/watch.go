package service

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

// WatchStatus is served from one hub per Server, not one poll per client: a single
// goroutine, running only while someone watches, computes the status when told that
// something changed (Notify: writes, new drift, a new Jenkins run status) and on a
// poll tick (what other processes change: the state file, the build transcript; the
// tick also keeps the Jenkins run status refreshed while watched). It pushes a status
// only when its deterministic encoding differs from the last one pushed, into a
// one-slot mailbox per watcher that a newer status replaces, so a slow client never
// blocks the hub or other clients and always gets the newest status.

const (
	defaultWatchPoll = 250 * time.Millisecond
	defaultHeartbeat = 15 * time.Second
	// notifyDebounce lets a burst of notifications (a batch write, several refreshes
	// landing together) land before the one computation that answers all of them. It
	// is most of the hub's own share of write-to-push latency, so it stays small.
	notifyDebounce = 2 * time.Millisecond
	// watchComputeTimeout bounds one status computation of the hub (a cold drift
	// resolve waits for GitHub).
	watchComputeTimeout = 30 * time.Second
)

// hub fans the status out to the WatchStatus streams.
type hub struct {
	status    func(context.Context) (*testingv1.GetStatusResponse, error)
	poll      time.Duration
	heartbeat time.Duration
	logger    *slog.Logger

	// run is the running loop, nil while nobody watches. Written under mu; read
	// without it by notify, which must stay cheap.
	run   atomic.Pointer[hubRun]
	loops atomic.Int64 // loop goroutines alive (for Watchers)

	mu       sync.Mutex
	watchers map[*watcher]struct{}
	lastErr  string // the failure last logged; "" once the status is computed again
}

// hubRun is one life of the loop, from the first watcher to the last one leaving.
type hubRun struct {
	ctx    context.Context // canceled (under hub.mu) when the last watcher leaves
	cancel context.CancelFunc
	kick   chan struct{} // one slot: a computation is wanted
}

// wake asks for a computation; a request already pending covers this one.
func (r *hubRun) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// watcher is one WatchStatus stream's end of the hub.
type watcher struct {
	// mailbox holds the newest update the stream has not taken yet. Only the loop
	// puts into it, so replacing a pending update cannot race with another producer.
	mailbox chan update
	// synced: the watcher has been given a computation (a status, or the error that
	// ends its stream). Until then it gets the next one even if nothing changed.
	// Guarded by hub.mu.
	synced bool
}

// update is what the hub hands a watcher: a status with its deterministic encoding,
// or, only as a watcher's first update, the error that kept it from being computed.
type update struct {
	status *testingv1.GetStatusResponse
	enc    []byte
	err    error
}

// offer puts u into the mailbox, replacing an update the stream has not taken.
func (w *watcher) offer(u update) {
	for {
		select {
		case w.mailbox <- u:
			return
		default:
		}
		select {
		case <-w.mailbox:
		default:
		}
	}
}

func newHub(status func(context.Context) (*testingv1.GetStatusResponse, error), poll, heartbeat time.Duration, logger *slog.Logger) *hub {
	return &hub{
		status:    status,
		poll:      cmp.Or(poll, defaultWatchPoll),
		heartbeat: cmp.Or(heartbeat, defaultHeartbeat),
		logger:    logger,
		watchers:  make(map[*watcher]struct{}),
	}
}

// subscribe adds a watcher, starting the loop if it is the first, and asks for a
// computation: the watcher's first status.
func (h *hub) subscribe() *watcher {
	w := &watcher{mailbox: make(chan update, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers[w] = struct{}{}
	r := h.run.Load()
	if r == nil {
		ctx, cancel := context.WithCancel(context.Background())
		r = &hubRun{ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1)}
		h.run.Store(r)
		h.loops.Add(1)
		go h.loop(r)
	}
	r.wake()
	return w
}

// unsubscribe removes a watcher and stops the loop when it was the last one. Nothing
// of the watcher stays behind: the loop offers only to watchers in the map.
func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
	if len(h.watchers) == 0 {
		if r := h.run.Load(); r != nil {
			r.cancel()
			h.run.Store(nil)
		}
	}
}

// notify asks the running loop, if any, for a computation.
func (h *hub) notify() {
	if r := h.run.Load(); r != nil {
		r.wake()
	}
}

// loop computes and pushes the status until r is canceled.
func (h *hub) loop(r *hubRun) {
	defer h.loops.Add(-1)
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	var last []byte // encoding of the status last pushed
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		case <-r.kick:
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(notifyDebounce):
			}
			// Notifications that came during the pause are answered by this computation;
			// one that comes during it asks for the next.
			select {
			case <-r.kick:
			default:
			}
		}
		h.compute(r, &last)
	}
}

// compute computes the status once and pushes it: to every watcher when it differs
// from the last one pushed, and to watchers still waiting for their first status
// either way.
func (h *hub) compute(r *hubRun, last *[]byte) {
	ctx, cancel := context.WithTimeout(r.ctx, watchComputeTimeout)
	st, err := h.status(ctx)
	cancel()
	var enc []byte
	if err == nil {
		enc, err = proto.MarshalOptions{Deterministic: true}.Marshal(st)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	// Checked under mu, where unsubscribe cancels: a stopped loop never offers to the
	// watchers of the next one.
	if r.ctx.Err() != nil {
		return
	}
	if err != nil {
		// A watcher that has no status yet ends with the error (NOT_FOUND, a corrupt
		// file…). The others keep their stream open on the last status they have (and
		// heartbeats) and get a push as soon as the status can be computed again, e.g.
		// once a corrupt state file is fixed: the failure is logged once, not on every
		// tick.
		kept := false
		for w := range h.watchers {
			if !w.synced {
				w.synced = true
				w.offer(update{err: err})
			} else {
				kept = true
			}
		}
		if msg := err.Error(); kept && msg != h.lastErr {
			h.lastErr = msg
			h.logger.Warn("cannot compute the status for watchers; their streams stay open and resume when it recovers", "err", err)
		}
		return
	}
	if h.lastErr != "" {
		h.lastErr = ""
		h.logger.Info("status computed again; watchers resume")
	}
	changed := !bytes.Equal(enc, *last)
	*last = enc
	u := update{status: st, enc: enc}
	for w := range h.watchers {
		if changed || !w.synced {
			w.synced = true
			w.offer(u)
		}
	}
}

// Notify tells watchers that something the status shows may have changed: call it
// after every write. It never blocks, is safe from any goroutine, and costs an atomic
// load when nobody watches. Many calls in a burst cause one computation, and a status
// identical to the last one pushed is not pushed.
func (s *Server) Notify() {
	s.memoGen.Add(1) // the memoised status is out of date
	s.watch.notify()
}

// Watchers reports the open WatchStatus streams and the hub's running loops (1 while
// anyone watches, 0 once the last stream has ended; 2 for an instant when a new
// stream restarts the hub while the previous loop exits). For metrics and tests.
func (s *Server) Watchers() (streams, loops int) {
	s.watch.mu.Lock()
	streams = len(s.watch.watchers)
	s.watch.mu.Unlock()
	return streams, int(s.watch.loops.Load())
}

// WatchStatus streams the status: first the current one, then each new one, with
// heartbeats after HeartbeatInterval of silence.
func (s *Server) WatchStatus(ctx context.Context, req *connect.Request[testingv1.WatchStatusRequest], stream *connect.ServerStream[testingv1.WatchStatusResponse]) error {
	if _, err := s.requireMaintainer(ctx, req.Header()); err != nil {
		return err
	}
	// Subscribed before the first status is computed, so no change after it is missed.
	// The hub computes the first status right away (one computation shared by every
	// stream opening at the same moment, and ordered with the pushes that follow).
	w := s.watch.subscribe()
	defer s.watch.unsubscribe(w)

	heartbeat := time.NewTimer(s.watch.heartbeat)
	defer heartbeat.Stop()
	var (
		beat <-chan time.Time // nil until the first status is sent: it must come first
		sent []byte           // encoding of the status last sent
	)
	for {
		var msg *testingv1.WatchStatusResponse
		select {
		case <-ctx.Done():
			return s.connectError(ctx, ctx.Err())
		case u := <-w.mailbox:
			if u.err != nil {
				return s.connectError(ctx, u.err)
			}
			// The mailbox may hand over X after X→Y→X was pushed while this stream was busy.
			if bytes.Equal(u.enc, sent) {
				continue
			}
			sent = u.enc
			msg = &testingv1.WatchStatusResponse{Status: u.status}
		case <-beat:
			msg = &testingv1.WatchStatusResponse{Heartbeat: true}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		heartbeat.Reset(s.watch.heartbeat)
		beat = heartbeat.C
	}
}
