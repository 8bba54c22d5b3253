package fakegithub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Webhooks. After SetWebhook, every change SetPull makes is delivered to the
// receiver as the pull_request events GitHub would send for it, signed as GitHub
// signs them, one at a time and in order, from a single goroutine that never holds
// the server's lock while it waits on the receiver. Each delivery is recorded, and
// knobs drop deliveries (GitHub does not redeliver a failure by itself), replay them
// and send anything at all.

// DefaultWebhookTimeout is how long a delivery waits for the receiver's answer:
// GitHub's own limit, so that a receiver too slow for GitHub fails here too.
const DefaultWebhookTimeout = 10 * time.Second

// hookshotUA is GitHub's User-Agent for deliveries (the suffix is a build id).
const hookshotUA = "GitHub-Hookshot/fa4e0b1"

var (
	// ErrNoWebhook: SendWebhook, Ping or Redeliver was called with no webhook set.
	ErrNoWebhook = errors.New("fakegithub: no webhook set")
	// ErrUnknownDelivery: Redeliver was given an id the fake never delivered.
	ErrUnknownDelivery = errors.New("fakegithub: unknown delivery")
	// ErrClosed: the server closed before the delivery was made.
	ErrClosed = errors.New("fakegithub: server closed")
)

// Delivery is one webhook delivery, made or dropped.
type Delivery struct {
	// ID is the X-GitHub-Delivery header. Redeliver sends a delivery again under the
	// same ID (as GitHub does), so IDs repeat in Deliveries when Redelivery is set.
	ID     string
	Event  string // X-GitHub-Event
	Action string // the payload's action; "" for events without one
	Number int    // the payload's PR number; 0 for events of no PR
	Body   []byte // exactly the bytes sent (or that would have been, when Dropped)
	Header http.Header
	URL    string
	// Status is the receiver's answer; 0 when there was none (Err, Dropped, or not
	// sent yet). GitHub counts only 2xx as delivered and follows no redirect.
	Status int
	Err    error // the request failed: refused, timed out, …
	// Dropped: DropWebhooks lost this delivery; it was never sent.
	Dropped bool
	// Redelivery: sent by Redeliver, a replay of an earlier delivery with this ID.
	Redelivery bool
	// Done: sent and answered, failed or dropped. WaitDeliveries waits for Done.
	Done bool
}

// Delivered reports whether the receiver accepted the delivery, as GitHub judges it.
func (d Delivery) Delivered() bool { return d.Status >= 200 && d.Status < 300 }

// webhooks is the Server's webhook state, guarded by its own mu (taken after
// Server.mu when both are needed, never before).
type webhooks struct {
	mu      sync.Mutex
	url     string
	secret  []byte
	timeout time.Duration
	drop    int
	log     []Delivery
	queue   []queued
	started bool
	wake    chan struct{} // buffered 1: the queue grew
	changed chan struct{} // closed and replaced whenever a delivery is Done
}

// queued is a delivery waiting to be sent: its index in log, and a channel closed
// when it is Done (nil when no caller waits for it).
type queued struct {
	idx      int
	finished chan struct{}
}

// SetWebhook makes the server deliver webhooks to url, signed with secret, from now
// on: every change SetPull makes, and SendWebhook, Ping and Redeliver. A nil or
// empty secret sends no signature headers, as GitHub does for a hook without one.
// An empty url stops deliveries (queued ones are still sent to their url). Unlike
// GitHub, setting a hook sends no ping: call Ping.
func (s *Server) SetWebhook(url string, secret []byte) {
	h := &s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	h.url, h.secret = url, bytes.Clone(secret)
	if !h.started && url != "" {
		h.started = true
		h.wake = make(chan struct{}, 1)
		h.changed = make(chan struct{})
		go s.deliverLoop()
	}
}

// SetWebhookTimeout sets how long each delivery waits for the receiver (default
// DefaultWebhookTimeout).
func (s *Server) SetWebhookTimeout(d time.Duration) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.timeout = d
}

// DropWebhooks makes the next n deliveries (from SetPull, SendWebhook or Ping, not
// Redeliver) get lost: recorded as Dropped and never sent. 0 ends it.
func (s *Server) DropWebhooks(n int) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.drop = max(n, 0)
}

// Deliveries returns a copy of every delivery so far, in the order they were made.
func (s *Server) Deliveries() []Delivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.copyLocked()
}

func (h *webhooks) copyLocked() []Delivery {
	out := make([]Delivery, len(h.log))
	for i, d := range h.log {
		d.Body, d.Header = bytes.Clone(d.Body), d.Header.Clone()
		out[i] = d
	}
	return out
}

// WaitDeliveries waits until at least n deliveries are Done (sent and answered,
// failed, or dropped), for at most timeout, and returns all deliveries so far. The
// error says how many were Done when the time ran out or the server closed.
func (s *Server) WaitDeliveries(n int, timeout time.Duration) ([]Delivery, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	h := &s.hooks
	for {
		h.mu.Lock()
		done := 0
		for _, d := range h.log {
			if d.Done {
				done++
			}
		}
		changed := h.changed
		out := h.copyLocked()
		h.mu.Unlock()
		if done >= n {
			return out, nil
		}
		if changed == nil { // no webhook was ever set: nothing will be delivered
			return out, fmt.Errorf("wait deliveries: %d of %d done: %w", done, n, ErrNoWebhook)
		}
		select {
		case <-changed:
		case <-t.C:
			return out, fmt.Errorf("wait deliveries: %d of %d done after %v", done, n, timeout)
		case <-s.done:
			return out, fmt.Errorf("wait deliveries: %d of %d done: %w", done, n, ErrClosed)
		}
	}
}

// SendOption changes one SendWebhook delivery.
type SendOption func(*sendOptions)

type sendOptions struct {
	signature  *string
	signWith   []byte
	deliveryID string
	headers    [][2]string
}

// SignatureHeader sends v as X-Hub-Signature-256 instead of the right signature
// ("" sends none). The SHA-1 X-Hub-Signature is left out.
func SignatureHeader(v string) SendOption { return func(o *sendOptions) { o.signature = &v } }

// SignedWith signs the delivery with secret instead of the webhook's.
func SignedWith(secret []byte) SendOption {
	return func(o *sendOptions) { o.signWith = bytes.Clone(secret) }
}

// DeliveryID sends id as X-GitHub-Delivery instead of a fresh one.
func DeliveryID(id string) SendOption { return func(o *sendOptions) { o.deliveryID = id } }

// ExtraHeader sets a header after all others ("" value deletes it), e.g. to send
// another Content-Type.
func ExtraHeader(name, value string) SendOption {
	return func(o *sendOptions) { o.headers = append(o.headers, [2]string{name, value}) }
}

// SendWebhook delivers body as event to the webhook, signed with its secret unless
// an option says otherwise, and returns the delivery once it is Done. It is queued
// behind earlier deliveries. It is for what SetPull does not produce: forged,
// oversized, malformed or unknown events. Do not call it from the receiver's
// handler: the delivery waits on the handler, which would wait on the delivery.
func (s *Server) SendWebhook(event string, body []byte, opts ...SendOption) Delivery {
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	var peek struct {
		Action string `json:"action"`
		Number int    `json:"number"`
	}
	_ = json.Unmarshal(body, &peek) // best effort, for the record
	s.mu.Lock()
	repoID := s.repoIDLocked()
	s.mu.Unlock()
	return s.sendAndWait(func(h *webhooks) (Delivery, bool) {
		d := h.newDeliveryLocked(event, peek.Action, peek.Number, bytes.Clone(body), repoID)
		if o.deliveryID != "" {
			d.ID = o.deliveryID
			d.Header.Set("X-GitHub-Delivery", o.deliveryID)
		}
		if o.signWith != nil {
			sign(d.Header, o.signWith, d.Body)
		}
		if o.signature != nil {
			d.Header.Del("X-Hub-Signature")
			d.Header.Del("X-Hub-Signature-256")
			if *o.signature != "" {
				d.Header.Set("X-Hub-Signature-256", *o.signature)
			}
		}
		for _, kv := range o.headers {
			if kv[1] == "" {
				d.Header.Del(kv[0])
			} else {
				d.Header.Set(kv[0], kv[1])
			}
		}
		return d, true
	})
}

// Ping sends GitHub's ping event, as GitHub does when a hook is created or when
// asked to, and returns the delivery once it is Done.
func (s *Server) Ping() Delivery {
	s.mu.Lock()
	repo := s.repoJSONLocked()
	sender := user(s.owner)
	s.mu.Unlock()
	return s.sendAndWait(func(h *webhooks) (Delivery, bool) {
		id := hookIDFor(repo.ID)
		body, err := json.Marshal(pingJSON{
			Zen:    "Design for failure.",
			HookID: id,
			Hook: hookJSON{
				Type: "Repository", ID: id, Name: "web", Active: true, Events: []string{"pull_request"},
				Config: map[string]string{"content_type": "json", "insecure_ssl": "0", "url": h.url},
			},
			Repository: repo,
			Sender:     sender,
		})
		if err != nil {
			return Delivery{Err: err}, false
		}
		return h.newDeliveryLocked("ping", "", 0, body, repo.ID), true
	})
}

// Redeliver sends delivery id again, byte for byte with the same headers (the
// same ID included), to the webhook's current url, as GitHub's "Redeliver" button
// does: a replay the receiver must tolerate. It works on dropped deliveries too
// (the way to recover one), is never dropped itself, and waits its turn behind
// queued deliveries. The replay is recorded with Redelivery set.
func (s *Server) Redeliver(id string) (status int, err error) {
	d := s.sendAndWait(func(h *webhooks) (Delivery, bool) {
		for _, orig := range h.log {
			if orig.ID == id && !orig.Redelivery {
				return Delivery{
					ID: orig.ID, Event: orig.Event, Action: orig.Action, Number: orig.Number,
					Body: bytes.Clone(orig.Body), Header: orig.Header.Clone(), Redelivery: true,
				}, true
			}
		}
		return Delivery{Err: fmt.Errorf("redeliver %q: %w", id, ErrUnknownDelivery)}, false
	})
	return d.Status, d.Err
}

// sendAndWait queues the delivery build makes (under hooks.mu) and waits until it
// is Done. build returns false with an error in Err to send nothing.
func (s *Server) sendAndWait(build func(*webhooks) (Delivery, bool)) Delivery {
	h := &s.hooks
	h.mu.Lock()
	if h.url == "" {
		h.mu.Unlock()
		return Delivery{Err: ErrNoWebhook}
	}
	d, ok := build(h)
	if !ok {
		h.mu.Unlock()
		return d
	}
	finished := make(chan struct{})
	idx := h.enqueueLocked(d, !d.Redelivery, finished)
	h.mu.Unlock()
	select {
	case <-finished:
	case <-s.done:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d = h.log[idx]
	if !d.Done && d.Err == nil {
		d.Err = ErrClosed
	}
	d.Body, d.Header = bytes.Clone(d.Body), d.Header.Clone()
	return d
}

// newDeliveryLocked builds a delivery to the current url with GitHub's headers,
// signed with the current secret.
func (h *webhooks) newDeliveryLocked(event, action string, number int, body []byte, repoID int64) Delivery {
	id := newDeliveryID()
	hdr := http.Header{}
	hdr.Set("Accept", "*/*")
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", hookshotUA)
	hdr.Set("X-GitHub-Delivery", id)
	hdr.Set("X-GitHub-Event", event)
	hdr.Set("X-GitHub-Hook-ID", strconv.FormatInt(hookIDFor(repoID), 10))
	hdr.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	hdr.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(repoID, 10))
	if len(h.secret) > 0 {
		sign(hdr, h.secret, body)
	}
	return Delivery{ID: id, Event: event, Action: action, Number: number, Body: body, Header: hdr, URL: h.url}
}

// sign sets X-Hub-Signature-256 and the legacy X-Hub-Signature (HMAC-SHA1), both of
// which GitHub sends when the hook has a secret.
func sign(hdr http.Header, secret, body []byte) {
	mac256 := hmac.New(sha256.New, secret)
	mac256.Write(body)
	hdr.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac256.Sum(nil)))
	mac1 := hmac.New(sha1.New, secret)
	mac1.Write(body)
	hdr.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac1.Sum(nil)))
}

// enqueueLocked records d and queues it, or records it Dropped when DropWebhooks
// says so (and droppable). It returns d's index in the log.
func (h *webhooks) enqueueLocked(d Delivery, droppable bool, finished chan struct{}) int {
	if d.URL == "" {
		d.URL = h.url
	}
	idx := len(h.log)
	if droppable && h.drop > 0 {
		h.drop--
		d.Dropped, d.Done = true, true
		h.log = append(h.log, d)
		h.doneLocked(finished)
		return idx
	}
	h.log = append(h.log, d)
	h.queue = append(h.queue, queued{idx: idx, finished: finished})
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return idx
}

// doneLocked wakes WaitDeliveries and the caller waiting on finished.
func (h *webhooks) doneLocked(finished chan struct{}) {
	if finished != nil {
		close(finished)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// deliverLoop sends queued deliveries one at a time until the server closes.
func (s *Server) deliverLoop() {
	h := &s.hooks
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		// GitHub does not follow redirects: a 3xx is a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for {
		h.mu.Lock()
		for len(h.queue) == 0 {
			h.mu.Unlock()
			select {
			case <-h.wake:
			case <-ctx.Done():
				return
			}
			h.mu.Lock()
		}
		q := h.queue[0]
		h.queue = h.queue[1:]
		d := h.log[q.idx]
		timeout := h.timeout
		if timeout <= 0 {
			timeout = DefaultWebhookTimeout
		}
		h.mu.Unlock()

		status, err := post(ctx, client, timeout, d)

		h.mu.Lock()
		rec := &h.log[q.idx]
		rec.Status, rec.Err, rec.Done = status, err, true
		h.doneLocked(q.finished)
		h.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// post sends one delivery and returns the receiver's status.
func post(ctx context.Context, client *http.Client, timeout time.Duration, d Delivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	req.Header = d.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// newDeliveryID returns a random UUID (version 4), the shape of X-GitHub-Delivery.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// pullChangedLocked queues the pull_request events GitHub would send for the
// change from old (nil: the PR is new) to cur; s.mu must be held. Every event of
// one change carries the PR as it is after the whole change, which is what GET
// /pulls/N serves at that moment. The order is GitHub's for a change made in
// steps: (re)opening first, then edits, pushes and assignments, closing last.
// Changes GitHub has no event for (mergeable, author, merging a PR already closed)
// send nothing; nor does a SetPull that changes nothing.
func (s *Server) pullChangedLocked(old, cur *pullState) {
	if cur == nil || cur == old {
		return
	}
	h := &s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.url == "" {
		return
	}
	n := cur.spec
	var o PullSpec
	if old != nil {
		o = old.spec
	}
	var events []pullEventJSON
	add := func(action string, edit func(*pullEventJSON)) {
		e := pullEventJSON{Action: action}
		if edit != nil {
			edit(&e)
		}
		events = append(events, e)
	}
	switch {
	case old == nil:
		add("opened", nil)
	case o.State == "closed" && n.State == "open":
		add("reopened", nil)
	}
	if old != nil && o.Title != n.Title {
		add("edited", func(e *pullEventJSON) {
			e.Changes = map[string]map[string]string{"title": {"from": o.Title}}
		})
	}
	if old != nil && o.Head != n.Head {
		add("synchronize", func(e *pullEventJSON) { e.Before, e.After = o.Head, n.Head })
	}
	if o.Assignee != n.Assignee {
		if o.Assignee != "" {
			a := user(o.Assignee)
			add("unassigned", func(e *pullEventJSON) { e.Assignee = &a })
		}
		if n.Assignee != "" {
			a := user(n.Assignee)
			add("assigned", func(e *pullEventJSON) { e.Assignee = &a })
		}
	}
	if n.State == "closed" && (old == nil || o.State != "closed") {
		add("closed", nil)
	}

	pull := s.pullDetailLocked(cur)
	repo := s.repoJSONLocked()
	for _, e := range events {
		e.Number, e.PullRequest, e.Repository, e.Sender = n.Number, pull, repo, user(n.Author)
		body, err := json.Marshal(e)
		if err != nil {
			continue // cannot happen: plain structs
		}
		h.enqueueLocked(h.newDeliveryLocked("pull_request", e.Action, n.Number, body, repo.ID), true, nil)
	}
}

// Payload shapes, in GitHub's field names (the parts a receiver may read).

type pullEventJSON struct {
	Action      string                       `json:"action"`
	Number      int                          `json:"number"`
	Before      string                       `json:"before,omitempty"` // synchronize
	After       string                       `json:"after,omitempty"`  // synchronize
	Changes     map[string]map[string]string `json:"changes,omitempty"`
	Assignee    *userJSON                    `json:"assignee,omitempty"` // (un)assigned
	PullRequest pullDetailJSON               `json:"pull_request"`
	Repository  hookRepoJSON                 `json:"repository"`
	Sender      userJSON                     `json:"sender"`
}

type hookRepoJSON struct {
	ID            int64    `json:"id"`
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Private       bool     `json:"private"`
	Owner         userJSON `json:"owner"`
	HTMLURL       string   `json:"html_url"`
	URL           string   `json:"url"`
	DefaultBranch string   `json:"default_branch"`
}

type pingJSON struct {
	Zen        string       `json:"zen"`
	HookID     int64        `json:"hook_id"`
	Hook       hookJSON     `json:"hook"`
	Repository hookRepoJSON `json:"repository"`
	Sender     userJSON     `json:"sender"`
}

type hookJSON struct {
	Type   string            `json:"type"`
	ID     int64             `json:"id"`
	Name   string            `json:"name"`
	Active bool              `json:"active"`
	Events []string          `json:"events"`
	Config map[string]string `json:"config"`
}

// repoIDLocked is the repository's made-up id; s.mu must be held.
func (s *Server) repoIDLocked() int64 {
	f := fnv.New32a()
	f.Write([]byte(s.owner + "/" + s.repo))
	return int64(f.Sum32()%100_000_000) + 1
}

func (s *Server) repoJSONLocked() hookRepoJSON {
	full := s.owner + "/" + s.repo
	owner := user(s.owner)
	owner.Type = "Organization"
	return hookRepoJSON{
		ID:            s.repoIDLocked(),
		Name:          s.repo,
		FullName:      full,
		Owner:         owner,
		HTMLURL:       "https://github.com/" + full,
		URL:           "https://api.github.com/repos/" + full,
		DefaultBranch: "master",
	}
}

// hookIDFor is the made-up id of the repository's hook.
func hookIDFor(repoID int64) int64 { return 400_000_000 + repoID }
