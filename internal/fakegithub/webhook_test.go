package fakegithub_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/internal/fakegithub"
)

const waitFor = 10 * time.Second

// received is one request a receiver got.
type received struct {
	Header  http.Header
	Body    []byte
	Webhook github.Webhook
	Status  int // what the receiver answered
}

// receiver is a webhook endpoint as a real one should be written: it bounds the
// body, verifies the signature before anything else, then parses.
type receiver struct {
	*httptest.Server
	secret []byte

	mu     sync.Mutex
	got    []received
	answer int           // status for valid deliveries; 0 = 204
	block  chan struct{} // when set, handlers wait on it first
}

func newReceiver(t *testing.T, secret []byte) *receiver {
	t.Helper()
	r := &receiver{secret: secret}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-req.Context().Done():
			return
		}
	}
	rec := received{Header: req.Header.Clone()}
	defer func() {
		r.mu.Lock()
		r.got = append(r.got, rec)
		r.mu.Unlock()
	}()
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, github.MaxWebhookBody))
	rec.Body = body
	if err != nil {
		rec.Status = http.StatusRequestEntityTooLarge
		w.WriteHeader(rec.Status)
		return
	}
	if err := github.VerifySignature(r.secret, body, req.Header.Get("X-Hub-Signature-256")); err != nil {
		rec.Status = http.StatusUnauthorized
		w.WriteHeader(rec.Status)
		return
	}
	wh, err := github.ParseWebhook(req.Header.Get("X-GitHub-Event"), body)
	if err != nil {
		rec.Status = http.StatusBadRequest
		w.WriteHeader(rec.Status)
		return
	}
	rec.Webhook = wh
	r.mu.Lock()
	rec.Status = r.answer
	r.mu.Unlock()
	if rec.Status == 0 {
		rec.Status = http.StatusNoContent
	}
	w.WriteHeader(rec.Status)
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// payloadField decodes one top-level field of a delivery's body.
func payloadField(t *testing.T, body []byte, field string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("payload not JSON: %v", err)
	}
	return m[field]
}

// TestWebhookSequence scripts SetPull changes and checks that the right events
// arrive, in order, signed, each carrying the PR exactly as GET /pulls/N serves it.
func TestWebhookSequence(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t)
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)

	type want struct {
		action   string
		assignee string // the payload's top-level assignee.login, for (un)assigned
	}
	// Each step edits PR 1 as the previous steps left it, unless it sets spec.
	steps := []struct {
		name string
		edit func(*fakegithub.PullSpec)
		spec *fakegithub.PullSpec
		want []want
	}{
		{"new PR", nil, &fakegithub.PullSpec{Number: 1, Title: "A", Head: "h1", Author: "alice"}, []want{{action: "opened"}}},
		{"same again", func(p *fakegithub.PullSpec) {}, nil, nil},
		{"push", func(p *fakegithub.PullSpec) { p.Head = "h2" }, nil, []want{{action: "synchronize"}}},
		{"retitle", func(p *fakegithub.PullSpec) { p.Title = "B" }, nil, []want{{action: "edited"}}},
		{"assign", func(p *fakegithub.PullSpec) { p.Assignee = "bob" }, nil, []want{{"assigned", "bob"}}},
		{"reassign", func(p *fakegithub.PullSpec) { p.Assignee = "carol" }, nil, []want{{"unassigned", "bob"}, {"assigned", "carol"}}},
		{"unassign", func(p *fakegithub.PullSpec) { p.Assignee = "" }, nil, []want{{"unassigned", "carol"}}},
		{"mergeability computed", func(p *fakegithub.PullSpec) { p.Mergeable = new(true) }, nil, nil},
		{"close", func(p *fakegithub.PullSpec) { p.State = "closed" }, nil, []want{{action: "closed"}}},
		{"reopen", func(p *fakegithub.PullSpec) { p.State = "open" }, nil, []want{{action: "reopened"}}},
		{"push and retitle", func(p *fakegithub.PullSpec) { p.Head, p.Title = "h3", "C" }, nil, []want{{action: "edited"}, {action: "synchronize"}}},
		{"merge", func(p *fakegithub.PullSpec) { p.Merged = true }, nil, []want{{action: "closed"}}},
		{"new PR assigned and closed", nil, &fakegithub.PullSpec{Number: 2, Assignee: "dave", State: "closed"},
			[]want{{action: "opened"}, {"assigned", "dave"}, {action: "closed"}}},
	}

	var pr1 fakegithub.PullSpec
	total := 0
	ids := map[string]bool{}
	for _, st := range steps {
		var spec fakegithub.PullSpec
		if st.spec != nil {
			spec = *st.spec
		} else {
			st.edit(&pr1)
			spec = pr1
		}
		if spec.Number == 1 {
			pr1 = spec
		}
		fake.SetPull(spec)
		total += len(st.want)
		ds, err := fake.WaitDeliveries(total, waitFor)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(ds) != total {
			t.Fatalf("%s: %d deliveries, want %d", st.name, len(ds), total)
		}
		// What GET /pulls/N serves now is what each new event must carry.
		resp, served := get(t, fake, repoPath+"/pulls/"+strconv.Itoa(spec.Number))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET status %d", st.name, resp.StatusCode)
		}
		got := recv.received()
		for i, w := range st.want {
			d := ds[total-len(st.want)+i]
			r := got[total-len(st.want)+i]
			if d.Event != "pull_request" || d.Action != w.action || d.Number != spec.Number || !d.Done || d.Dropped || d.Err != nil || d.Status != http.StatusNoContent {
				t.Errorf("%s: delivery %d = %+v, want %s of #%d answered 204", st.name, i, d, w.action, spec.Number)
			}
			if r.Header.Get("X-GitHub-Delivery") != d.ID || !bytes.Equal(r.Body, d.Body) {
				t.Errorf("%s: receiver got delivery %s, recorded %s", st.name, r.Header.Get("X-GitHub-Delivery"), d.ID)
			}
			if ids[d.ID] || !uuidRE.MatchString(d.ID) {
				t.Errorf("%s: delivery id %q repeated or not a UUID", st.name, d.ID)
			}
			ids[d.ID] = true
			if r.Status != http.StatusNoContent || r.Webhook.Action != w.action || r.Webhook.Number != spec.Number ||
				r.Webhook.Repo != fakegithub.DefaultRepo || r.Webhook.Pull == nil {
				t.Fatalf("%s: receiver got %+v (status %d), want %s", st.name, r.Webhook, r.Status, w.action)
			}
			if !reflect.DeepEqual(payloadField(t, d.Body, "pull_request"), decode(t, served)) {
				t.Errorf("%s: %s payload's pull_request differs from GET /pulls/%d:\n%s\n%s", st.name, w.action, spec.Number, d.Body, served)
			}
			var assignee string
			if a, ok := payloadField(t, d.Body, "assignee").(map[string]any); ok {
				assignee, _ = a["login"].(string)
			}
			if assignee != w.assignee {
				t.Errorf("%s: %s payload's assignee = %q, want %q", st.name, w.action, assignee, w.assignee)
			}
			if w.action == "closed" && r.Webhook.Pull.Merged != spec.Merged {
				t.Errorf("%s: closed event merged = %v, want %v", st.name, r.Webhook.Pull.Merged, spec.Merged)
			}
			switch w.action {
			case "synchronize":
				if payloadField(t, d.Body, "after") != spec.Head || r.Webhook.Pull.HeadSHA != spec.Head {
					t.Errorf("%s: synchronize after = %v, head %q; want %q", st.name, payloadField(t, d.Body, "after"), r.Webhook.Pull.HeadSHA, spec.Head)
				}
			case "edited":
				if r.Webhook.Pull.Title != spec.Title || payloadField(t, d.Body, "changes") == nil {
					t.Errorf("%s: edited title %q, changes %v", st.name, r.Webhook.Pull.Title, payloadField(t, d.Body, "changes"))
				}
			}
		}
	}
	if n := len(recv.received()); n != total {
		t.Errorf("receiver got %d deliveries, want %d", n, total)
	}
}

func TestWebhookHeaders(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t)
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)
	fake.SetPull(fakegithub.PullSpec{Number: 7})
	ds, err := fake.WaitDeliveries(1, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	h := recv.received()[0].Header
	for name, want := range map[string]string{
		"X-GitHub-Event":                         "pull_request",
		"X-GitHub-Delivery":                      ds[0].ID,
		"Content-Type":                           "application/json",
		"X-GitHub-Hook-Installation-Target-Type": "repository",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if ua := h.Get("User-Agent"); !strings.HasPrefix(ua, "GitHub-Hookshot/") {
		t.Errorf("User-Agent = %q", ua)
	}
	if h.Get("X-GitHub-Hook-ID") == "" {
		t.Error("no X-GitHub-Hook-ID")
	}
	if err := github.VerifySignature(secret, ds[0].Body, h.Get("X-Hub-Signature-256")); err != nil {
		t.Errorf("X-Hub-Signature-256: %v", err)
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write(ds[0].Body)
	if got, want := h.Get("X-Hub-Signature"), "sha1="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("X-Hub-Signature = %q, want %q", got, want)
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t)
	recv := newReceiver(t, []byte("expected"))
	fake.SetWebhook(recv.URL, nil)
	fake.SetPull(fakegithub.PullSpec{Number: 1})
	ds, err := fake.WaitDeliveries(1, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Header.Get("X-Hub-Signature-256") != "" || ds[0].Header.Get("X-Hub-Signature") != "" {
		t.Errorf("unsigned hook sent signatures: %v", ds[0].Header)
	}
	if ds[0].Status != http.StatusUnauthorized {
		t.Errorf("receiver answered %d to an unsigned delivery, want 401", ds[0].Status)
	}
}

func TestWebhookNotSet(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t)
	fake.SetPull(fakegithub.PullSpec{Number: 1})
	if ds := fake.Deliveries(); len(ds) != 0 {
		t.Errorf("deliveries without a webhook: %+v", ds)
	}
	if _, err := fake.WaitDeliveries(1, waitFor); !errors.Is(err, fakegithub.ErrNoWebhook) {
		t.Errorf("WaitDeliveries = %v, want ErrNoWebhook at once", err)
	}
	if d := fake.Ping(); !errors.Is(d.Err, fakegithub.ErrNoWebhook) {
		t.Errorf("Ping = %+v, want ErrNoWebhook", d)
	}
	if d := fake.SendWebhook("push", []byte(`{}`)); !errors.Is(d.Err, fakegithub.ErrNoWebhook) {
		t.Errorf("SendWebhook = %+v, want ErrNoWebhook", d)
	}
}

// TestWebhookDropAndRedeliver: a lost delivery never arrives until replayed; a
// replay is the same bytes and headers under the same delivery id.
func TestWebhookDropAndRedeliver(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t)
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)

	fake.DropWebhooks(2)
	fake.SetPull(fakegithub.PullSpec{Number: 1, Assignee: "bob"}) // opened, assigned: both lost
	fake.SetPull(fakegithub.PullSpec{Number: 1, Assignee: "bob", Head: "h2"})
	ds, err := fake.WaitDeliveries(3, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		action  string
		dropped bool
	}{{"opened", true}, {"assigned", true}, {"synchronize", false}} {
		if ds[i].Action != want.action || ds[i].Dropped != want.dropped || !ds[i].Done {
			t.Errorf("delivery %d = %s dropped %v, want %s dropped %v", i, ds[i].Action, ds[i].Dropped, want.action, want.dropped)
		}
	}
	if ds[0].Status != 0 || ds[0].Body == nil {
		t.Errorf("dropped delivery: status %d, body %d bytes", ds[0].Status, len(ds[0].Body))
	}
	got := recv.received()
	if len(got) != 1 || got[0].Webhook.Action != "synchronize" {
		t.Fatalf("receiver got %d deliveries, want the synchronize only", len(got))
	}

	// Recover the lost opened, then replay the synchronize.
	for _, d := range []fakegithub.Delivery{ds[0], ds[2]} {
		status, err := fake.Redeliver(d.ID)
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("Redeliver(%s) = %d, %v", d.Action, status, err)
		}
	}
	got = recv.received()
	if len(got) != 3 {
		t.Fatalf("receiver got %d deliveries, want 3", len(got))
	}
	for i, orig := range []fakegithub.Delivery{ds[0], ds[2]} {
		r := got[1+i]
		if r.Header.Get("X-GitHub-Delivery") != orig.ID || !bytes.Equal(r.Body, orig.Body) ||
			r.Header.Get("X-Hub-Signature-256") != orig.Header.Get("X-Hub-Signature-256") || r.Webhook.Action != orig.Action {
			t.Errorf("replay %d is not the original %s delivery", i, orig.Action)
		}
	}
	all := fake.Deliveries()
	if len(all) != 5 || !all[3].Redelivery || !all[4].Redelivery || all[3].ID != ds[0].ID || all[3].Dropped {
		t.Errorf("recorded deliveries: %+v", all)
	}

	if _, err := fake.Redeliver("no-such-delivery"); !errors.Is(err, fakegithub.ErrUnknownDelivery) {
		t.Errorf("Redeliver(unknown) = %v, want ErrUnknownDelivery", err)
	}
}

func TestSendWebhook(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t)
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)
	valid := []byte(`{"action":"opened","number":3,"pull_request":{"number":3,"state":"open","head":{"sha":"abc"}},"repository":{"full_name":"internetarchive/openlibrary"}}`)

	for _, tc := range []struct {
		name   string
		event  string
		body   []byte
		opts   []fakegithub.SendOption
		status int
		check  func(t *testing.T, r received, d fakegithub.Delivery)
	}{
		{name: "valid", event: "pull_request", body: valid, status: http.StatusNoContent,
			check: func(t *testing.T, r received, d fakegithub.Delivery) {
				if r.Webhook.Action != "opened" || r.Webhook.Number != 3 || d.Action != "opened" || d.Number != 3 {
					t.Errorf("got %+v, recorded %s #%d", r.Webhook, d.Action, d.Number)
				}
			}},
		{name: "forged signature", event: "pull_request", body: valid, status: http.StatusUnauthorized,
			opts: []fakegithub.SendOption{fakegithub.SignatureHeader("sha256=" + strings.Repeat("0", 64))}},
		{name: "wrong secret", event: "pull_request", body: valid, status: http.StatusUnauthorized,
			opts: []fakegithub.SendOption{fakegithub.SignedWith([]byte("guess"))}},
		{name: "missing signature", event: "pull_request", body: valid, status: http.StatusUnauthorized,
			opts: []fakegithub.SendOption{fakegithub.SignatureHeader("")},
			check: func(t *testing.T, r received, _ fakegithub.Delivery) {
				if r.Header.Get("X-Hub-Signature") != "" || r.Header.Get("X-Hub-Signature-256") != "" {
					t.Errorf("signature headers sent: %v", r.Header)
				}
			}},
		{name: "garbage signed", event: "pull_request", body: []byte("<html>Unicorn!</html>"), status: http.StatusBadRequest},
		{name: "number mismatch signed", event: "pull_request", body: bytes.Replace(valid, []byte(`"number":3,`), []byte(`"number":4,`), 1), status: http.StatusBadRequest},
		{name: "oversized", event: "pull_request", body: append(append([]byte(`{"pad":"`), bytes.Repeat([]byte("x"), github.MaxWebhookBody)...), `"}`...),
			status: http.StatusRequestEntityTooLarge},
		{name: "unknown event", event: "issues", body: []byte(`{"action":"opened","issue":{"number":1}}`), status: http.StatusNoContent,
			check: func(t *testing.T, r received, _ fakegithub.Delivery) {
				if r.Webhook != (github.Webhook{Event: "issues"}) {
					t.Errorf("got %+v", r.Webhook)
				}
			}},
		{name: "chosen delivery id", event: "pull_request", body: valid, status: http.StatusNoContent,
			opts: []fakegithub.SendOption{fakegithub.DeliveryID("replayed-id")},
			check: func(t *testing.T, r received, d fakegithub.Delivery) {
				if r.Header.Get("X-GitHub-Delivery") != "replayed-id" || d.ID != "replayed-id" {
					t.Errorf("delivery id %q, recorded %q", r.Header.Get("X-GitHub-Delivery"), d.ID)
				}
			}},
		{name: "extra header", event: "pull_request", body: valid, status: http.StatusNoContent,
			opts: []fakegithub.SendOption{fakegithub.ExtraHeader("Content-Type", "application/x-www-form-urlencoded")},
			check: func(t *testing.T, r received, _ fakegithub.Delivery) {
				if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
					t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
				}
			}},
	} {
		// Not parallel: each case reads the receiver's latest request.
		t.Run(tc.name, func(t *testing.T) {
			d := fake.SendWebhook(tc.event, tc.body, tc.opts...)
			if d.Err != nil || d.Status != tc.status || !d.Done {
				t.Fatalf("SendWebhook = status %d, err %v; want %d", d.Status, d.Err, tc.status)
			}
			got := recv.received()
			r := got[len(got)-1]
			if r.Header.Get("X-GitHub-Delivery") != d.ID || r.Header.Get("X-GitHub-Event") != tc.event {
				t.Errorf("receiver's latest is %s %s, not this delivery", r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery"))
			}
			if tc.check != nil {
				tc.check(t, r, d)
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t, fakegithub.WithRepo("octo/cat"))
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)
	d := fake.Ping()
	if d.Err != nil || d.Status != http.StatusNoContent || d.Event != "ping" {
		t.Fatalf("Ping = %+v", d)
	}
	r := recv.received()[0]
	if r.Webhook.Event != "ping" || r.Webhook.Repo != "octo/cat" || r.Webhook.HookID <= 0 {
		t.Errorf("receiver got %+v", r.Webhook)
	}
	if got := r.Header.Get("X-GitHub-Hook-ID"); got != strconv.FormatInt(r.Webhook.HookID, 10) {
		t.Errorf("X-GitHub-Hook-ID %q, payload hook_id %d", got, r.Webhook.HookID)
	}
	if cfg := payloadField(t, d.Body, "hook").(map[string]any)["config"].(map[string]any); cfg["url"] != recv.URL {
		t.Errorf("hook config %v", cfg)
	}
}

func TestWebhookReceiverFailures(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	body := []byte(`{"zen":"x","hook_id":1}`)

	t.Run("error status", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t)
		recv := newReceiver(t, secret)
		recv.answer = http.StatusInternalServerError
		fake.SetWebhook(recv.URL, secret)
		if d := fake.SendWebhook("ping", body); d.Status != 500 || d.Err != nil || d.Delivered() {
			t.Errorf("delivery = %d, %v, delivered %v", d.Status, d.Err, d.Delivered())
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t)
		recv := newReceiver(t, secret)
		redirect := httptest.NewServer(http.RedirectHandler(recv.URL, http.StatusFound))
		t.Cleanup(redirect.Close)
		fake.SetWebhook(redirect.URL, secret)
		if d := fake.SendWebhook("ping", body); d.Status != http.StatusFound || d.Delivered() || len(recv.received()) != 0 {
			t.Errorf("delivery = %d, %v; receiver got %d", d.Status, d.Err, len(recv.received()))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t)
		recv := newReceiver(t, secret)
		recv.block = make(chan struct{})
		t.Cleanup(func() { close(recv.block) })
		fake.SetWebhook(recv.URL, secret)
		fake.SetWebhookTimeout(50 * time.Millisecond)
		start := time.Now()
		d := fake.SendWebhook("ping", body)
		if d.Err == nil || d.Status != 0 || !d.Done {
			t.Errorf("delivery = %d, %v", d.Status, d.Err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %v", el)
		}
	})
	t.Run("receiver down", func(t *testing.T) {
		t.Parallel()
		fake := fakegithub.New(t)
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		fake.SetWebhook(down.URL, secret)
		fake.SetPull(fakegithub.PullSpec{Number: 1})
		ds, err := fake.WaitDeliveries(1, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Err == nil || ds[0].Status != 0 {
			t.Errorf("delivery = %d, %v", ds[0].Status, ds[0].Err)
		}
	})
}

// TestWebhookClose: closing the fake ends a delivery the receiver is sitting on
// and releases whoever waits on it.
func TestWebhookClose(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.Start()
	recv := newReceiver(t, secret)
	recv.block = make(chan struct{})
	t.Cleanup(func() { close(recv.block) })
	fake.SetWebhook(recv.URL, secret)
	fake.SetPull(fakegithub.PullSpec{Number: 1})
	fake.SetPull(fakegithub.PullSpec{Number: 2})
	res := make(chan fakegithub.Delivery)
	go func() { res <- fake.SendWebhook("ping", []byte(`{"hook_id":1}`)) }()
	time.AfterFunc(20*time.Millisecond, fake.Close)
	select {
	case d := <-res:
		if !errors.Is(d.Err, fakegithub.ErrClosed) {
			t.Errorf("SendWebhook after Close = %+v", d)
		}
	case <-time.After(waitFor):
		t.Fatal("SendWebhook still waiting after Close")
	}
	if _, err := fake.WaitDeliveries(3, waitFor); !errors.Is(err, fakegithub.ErrClosed) {
		t.Errorf("WaitDeliveries after Close = %v", err)
	}
}

// TestWebhookOrderConcurrent: SetPull from many goroutines; deliveries arrive one
// at a time in exactly the recorded order, and each PR's events in its own order.
func TestWebhookOrderConcurrent(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	fake := fakegithub.New(t)
	recv := newReceiver(t, secret)
	fake.SetWebhook(recv.URL, secret)
	const prs = 20
	var wg sync.WaitGroup
	for n := 1; n <= prs; n++ {
		wg.Go(func() {
			fake.SetPull(fakegithub.PullSpec{Number: n})
			fake.SetPull(fakegithub.PullSpec{Number: n, Head: "h2"})
			fake.SetPull(fakegithub.PullSpec{Number: n, Head: "h2", State: "closed"})
		})
	}
	wg.Wait()
	ds, err := fake.WaitDeliveries(3*prs, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	got := recv.received()
	if len(got) != len(ds) {
		t.Fatalf("receiver got %d, recorded %d", len(got), len(ds))
	}
	next := map[int]int{}
	order := []string{"opened", "synchronize", "closed"}
	for i, d := range ds {
		if got[i].Header.Get("X-GitHub-Delivery") != d.ID {
			t.Fatalf("delivery %d arrived out of recorded order", i)
		}
		if want := order[next[d.Number]]; d.Action != want {
			t.Errorf("#%d: %s, want %s", d.Number, d.Action, want)
		}
		next[d.Number]++
	}
}
