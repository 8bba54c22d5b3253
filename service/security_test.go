package service_test

// The security review of the write path, as tests: every write RPC, over Connect and
// gRPC, against every way of calling it without the right to. docs/reliability/security.md
// lists each threat with its defence and the test that holds it.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
	"github.com/internetarchive/testingd/service"
)

// writeRPC calls one write RPC of the fixture's state with the given headers.
type writeRPC struct {
	name string
	call func(ctx context.Context, c testingv1connect.TestingServiceClient, headers ...string) error
}

// writeRPCs are every RPC that changes something (or asks GitHub on the caller's
// behalf), with a request that would succeed for a maintainer.
var writeRPCs = []writeRPC{
	{"AddPRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.AddPRs(ctx, withHeaders(&testingv1.AddPRsRequest{Refs: []string{"13269"}}, h...))
		return err
	}},
	{"StagePRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.StagePRs(ctx, withHeaders(&testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_DISABLE}, h...))
		return err
	}},
	{"RemovePRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.RemovePRs(ctx, withHeaders(&testingv1.RemovePRsRequest{Numbers: []int32{13269}}, h...))
		return err
	}},
	{"RestorePRs", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.RestorePRs(ctx, withHeaders(&testingv1.RestorePRsRequest{Numbers: []int32{13269}}, h...))
		return err
	}},
	{"EvictDrift", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.EvictDrift(ctx, withHeaders(&testingv1.EvictDriftRequest{}, h...))
		return err
	}},
	{"Deploy", func(ctx context.Context, c testingv1connect.TestingServiceClient, h ...string) error {
		_, err := c.Deploy(ctx, withHeaders(&testingv1.DeployRequest{}, h...))
		return err
	}},
}

// untouched records what a refused call must not change, and checks it later.
type untouched struct {
	state        []byte
	gh, triggers int
	events       int
}

func (e *env) snapshot(t *testing.T) untouched {
	t.Helper()
	return untouched{state: e.bytes(t), gh: len(e.gh.Requests()), triggers: len(e.jk.Triggers()), events: e.auditCount(t)}
}

func (e *env) auditCount(t *testing.T) int {
	t.Helper()
	events, _, err := e.audit.List(t.Context(), 500, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

func (e *env) checkUntouched(t *testing.T, before untouched) {
	t.Helper()
	if !bytes.Equal(e.bytes(t), before.state) {
		t.Error("a refused call changed the state file")
	}
	if n := len(e.gh.Requests()) - before.gh; n != 0 {
		t.Errorf("refused calls made %d GitHub requests (the caller spent our rate limit)", n)
	}
	if n := len(e.jk.Triggers()) - before.triggers; n != 0 {
		t.Errorf("refused calls triggered %d Jenkins deploys", n)
	}
	if n := e.auditCount(t) - before.events; n != 0 {
		t.Errorf("refused calls appended %d audit events", n)
	}
}

// forgedCookie is a maintainer's session cookie with one hex digit of its signature
// changed.
func forgedCookie(user string) string {
	value := openlibrary.SignSession(user, "2026-01-18T17:25:46", "7897f", []byte(olSecret))
	last := value[len(value)-1]
	swap := byte('0')
	if last == '0' {
		swap = '1'
	}
	return "session=" + url.QueryEscape(value[:len(value)-1]+string(swap))
}

// Every write RPC, over Connect and gRPC, refuses every caller who may not write, with
// the code that says why, and does nothing for them: no state change, no audit event,
// no Jenkins trigger, not even a GitHub request. The refusal never echoes the
// credential presented.
func TestSecurityWritesRefuseUntrustedCallers(t *testing.T) {
	t.Parallel()
	e := newOLEnv(t)
	// old-bot's token worked once, then was deleted from the tokens file.
	const oldToken = "tr_old_fedcba9876543210"
	writeTokens(t, e.tokens, "ci-bot "+openlibrary.HashToken(ciToken)+"\nold-bot "+openlibrary.HashToken(oldToken)+"\n")
	info, err := e.connect.GetServerInfo(t.Context(), withHeaders(&testingv1.GetServerInfoRequest{}, "Authorization", "Bearer "+oldToken))
	if err != nil || !info.Msg.Viewer.Maintainer {
		t.Fatalf("old-bot before revocation: %v, %v", info, err)
	}
	writeTokens(t, e.tokens, "ci-bot "+openlibrary.HashToken(ciToken)+"\n")

	maintainer := sessionCookie("openlibrary", olSecret)
	tampered := strings.Replace(maintainer, "openlibrary", "mekarpeles", 1) // another maintainer, same signature
	cases := []struct {
		name    string
		headers []string
		want    connect.Code
		secret  string // a credential the error must not echo
	}{
		{"no credentials", nil, connect.CodeUnauthenticated, ""},
		{"forged cookie signature", []string{"Cookie", forgedCookie("openlibrary")}, connect.CodeUnauthenticated, "7897f"},
		{"cookie signed with another secret", []string{"Cookie", sessionCookie("openlibrary", "not-the-secret")}, connect.CodeUnauthenticated, "7897f"},
		{"cookie with its username changed", []string{"Cookie", tampered}, connect.CodeUnauthenticated, "7897f"},
		{"cookie not of a person", []string{"Cookie", "session=%2Fusergroup%2Fmaintainers%2C2026-01-18T17%3A25%3A46%2C7897f%24841a3bd2f8e9a5ca46f505fa557d57bd"}, connect.CodeUnauthenticated, "7897f"},
		{"signed in, in no maintainer usergroup", []string{"Cookie", sessionCookie("reader", olSecret)}, connect.CodePermissionDenied, "7897f"},
		{"maintainer cookie, sent cross-site", []string{"Cookie", maintainer, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, connect.CodePermissionDenied, "7897f"},
		{"maintainer cookie, sent from a sibling site", []string{"Cookie", maintainer, "Sec-Fetch-Site", "same-site", "Origin", "https://staging.openlibrary.org"}, connect.CodePermissionDenied, "7897f"},
		{"maintainer cookie, foreign Origin (old browser)", []string{"Cookie", maintainer, "Origin", "https://evil.example"}, connect.CodePermissionDenied, "7897f"},
		{"maintainer cookie, Origin null (sandboxed frame)", []string{"Cookie", maintainer, "Origin", "null"}, connect.CodePermissionDenied, "7897f"},
		{"maintainer cookie, Origin of another port", []string{"Cookie", maintainer, "Origin", "http://127.0.0.1:1"}, connect.CodePermissionDenied, "7897f"},
		{"unknown bearer token", []string{"Authorization", "Bearer tr_guess_0000000000000000"}, connect.CodeUnauthenticated, "tr_guess"},
		{"unknown bearer token with a maintainer cookie", []string{"Authorization", "Bearer tr_guess_0000000000000000", "Cookie", maintainer}, connect.CodeUnauthenticated, "tr_guess"},
		{"revoked bearer token", []string{"Authorization", "Bearer " + oldToken}, connect.CodeUnauthenticated, oldToken},
		{"empty bearer token", []string{"Authorization", "Bearer "}, connect.CodeUnauthenticated, ""},
	}
	before := e.snapshot(t)
	for _, tc := range cases {
		for _, rpc := range writeRPCs {
			for protocol, client := range e.clients() {
				t.Run(tc.name+"/"+rpc.name+"/"+protocol, func(t *testing.T) {
					err := rpc.call(t.Context(), client, tc.headers...)
					if connect.CodeOf(err) != tc.want {
						t.Fatalf("%v; want %v", err, tc.want)
					}
					if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
						t.Errorf("the error echoes the credential: %v", err)
					}
				})
			}
		}
	}
	e.checkUntouched(t, before)
}

// The matrix above is not vacuous: the same calls succeed for a maintainer's cookie
// sent by the testing page itself (current and old browsers), for a member of another
// maintainer group, for a cookie however old, and for a bearer token even when a browser-like header says
// cross-site (a token is never attached by a browser on its own). The audit trail names
// who did it and how they signed in.
func TestSecurityWritesAdmitMaintainers(t *testing.T) {
	t.Parallel()
	creds := []struct {
		name    string
		headers func(e *olEnv) []string
		actor   string
		method  string
	}{
		{"maintainer cookie, same origin", func(*olEnv) []string {
			return []string{"Cookie", sessionCookie("openlibrary", olSecret), "Sec-Fetch-Site", "same-origin"}
		}, "openlibrary", service.MethodCookie},
		{"maintainer cookie, own Origin (old browser)", func(e *olEnv) []string {
			return []string{"Cookie", sessionCookie("mekarpeles", olSecret), "Origin", e.url}
		}, "mekarpeles", service.MethodCookie},
		{"admin cookie, no browser headers (curl)", func(*olEnv) []string {
			return []string{"Cookie", sessionCookie("root", olSecret)}
		}, "root", service.MethodCookie},
		// Session cookies carry a timestamp, but neither legacy nor testingd reads it as
		// an expiry (LEGACY.md §6): a cookie of 2001 works until Open Library's secret
		// changes. Membership is re-checked (TestSecurityRemovedMaintainerLosesAccess).
		{"maintainer cookie signed in 2001 (no expiry)", func(*olEnv) []string {
			return []string{"Cookie", "session=" + url.QueryEscape(openlibrary.SignSession("openlibrary", "2001-01-01T00:00:00", "a1b2c", []byte(olSecret)))}
		}, "openlibrary", service.MethodCookie},
		{"bearer token, cross-site headers", func(*olEnv) []string {
			return []string{"Authorization", "Bearer " + ciToken, "Sec-Fetch-Site", "cross-site"}
		}, "ci-bot", service.MethodToken},
	}
	for _, cred := range creds {
		for _, protocol := range []string{"connect", "grpc"} {
			t.Run(cred.name+"/"+protocol, func(t *testing.T) {
				t.Parallel()
				e := newOLEnv(t)
				e.ol.SetMembers("admin", "root")
				client := e.clients()[protocol]
				for _, rpc := range writeRPCs {
					if err := rpc.call(t.Context(), client, cred.headers(e)...); err != nil {
						t.Errorf("%s: %v", rpc.name, err)
					}
				}
				events, _, err := e.audit.List(t.Context(), 50, "", 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(events) != len(writeRPCs) {
					t.Errorf("%d audit events for %d writes", len(events), len(writeRPCs))
				}
				for _, ev := range events {
					if ev.Actor != cred.actor || ev.AuthMethod != cred.method {
						t.Errorf("%s event by %q (%q); want %q (%q)", ev.RPC, ev.Actor, ev.AuthMethod, cred.actor, cred.method)
					}
				}
			})
		}
	}
}

// In dev mode every caller is a maintainer, so any page the developer's browser opens
// could drive their testingd on 127.0.0.1; writes a browser sends for another site are
// refused there too. curl, scripts and the UI itself are not affected.
func TestSecurityDevAuthRefusesCrossOriginWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{state: "testing-prs.json", transcript: "dev-merged-status.txt", jenkinsToken: "jenkins-token"})
	e.seedFixturePRs()
	before := e.snapshot(t)
	for _, headers := range [][]string{
		{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
	} {
		for _, rpc := range writeRPCs {
			for protocol, client := range e.clients() {
				if err := rpc.call(t.Context(), client, headers...); connect.CodeOf(err) != connect.CodePermissionDenied {
					t.Errorf("%s over %s with %v: %v; want PERMISSION_DENIED", rpc.name, protocol, headers, err)
				}
			}
		}
	}
	e.checkUntouched(t, before)
	for _, rpc := range writeRPCs {
		if err := rpc.call(t.Context(), e.connect, "Sec-Fetch-Site", "same-origin", "Origin", e.url); err != nil {
			t.Errorf("%s from the UI itself: %v", rpc.name, err)
		}
	}
}

// A write cannot be smuggled in as a request a browser sends cross-site without asking
// first (a "simple" request: GET, or a POST of a form or text/plain): Connect serves
// GET only for side-effect-free RPCs and only its own content types. So even the old
// browsers that send neither Sec-Fetch-Site nor Origin cannot be made to write.
func TestSecuritySimpleRequestsCannotWrite(t *testing.T) {
	t.Parallel()
	e := newOLEnv(t)
	before := e.snapshot(t)
	cookie := sessionCookie("openlibrary", olSecret)
	stage := `{"numbers":[13238],"stage":"STAGE_DISABLE"}`
	path := e.url + "/" + testingv1connect.TestingServiceName + "/StagePRs"
	requests := []struct {
		name        string
		method, url string
		contentType string
	}{
		{"GET with the message in the query", http.MethodGet, path + "?encoding=json&message=" + url.QueryEscape(stage), ""},
		{"POST text/plain", http.MethodPost, path, "text/plain"},
		{"POST a form", http.MethodPost, path, "application/x-www-form-urlencoded"},
		{"POST multipart", http.MethodPost, path, "multipart/form-data; boundary=x"},
	}
	for _, r := range requests {
		var body *strings.Reader
		if r.method == http.MethodPost {
			body = strings.NewReader(stage)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequestWithContext(t.Context(), r.method, r.url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", cookie)
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s: %s; want it refused", r.name, resp.Status)
		}
		t.Logf("%s: %s", r.name, resp.Status)
	}
	e.checkUntouched(t, before)
}

// A maintainer removed from the usergroup on Open Library loses write access within
// the usergroup cache's TTL (60 s in testingd), whatever cookie they hold.
func TestSecurityRemovedMaintainerLosesAccess(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	const ttl = 100 * time.Millisecond
	groups, err := openlibrary.NewGroups(ol.URL, ol.Client(), ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := service.NewOpenLibraryAuth(service.OpenLibraryAuthOptions{Secret: []byte(olSecret), Groups: groups, MaintainerGroups: []string{"maintainers"}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{state: "testing-prs.json", auth: auth})
	e.seedFixturePRs()
	cookie := sessionCookie("mekarpeles", olSecret)
	stage := func() error {
		_, err := e.connect.StagePRs(t.Context(), withHeaders(&testingv1.StagePRsRequest{Numbers: []int32{13238}, Stage: testingv1.Stage_STAGE_DISABLE}, "Cookie", cookie))
		return err
	}
	if err := stage(); err != nil {
		t.Fatalf("a maintainer: %v", err)
	}
	ol.SetMembers("maintainers", "openlibrary")
	removed := time.Now()
	waitUntil(t, func() bool { return connect.CodeOf(stage()) == connect.CodePermissionDenied })
	t.Logf("write access ended %s after the removal (usergroup TTL %s)", time.Since(removed).Round(time.Millisecond), ttl)
}

// A delivery replayed with its id (GitHub's redelivery, or an attacker who captured it)
// is acknowledged and not applied again; a captured delivery replayed under a new id is
// applied only if it is not older than what is known (GitHub's updated_at), so it cannot
// roll a PR back.
func TestSecurityWebhookReplay(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	e.gh.SetCompare(pin13269, head3, "ahead", 1, 0)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: head3, Author: "author", Assignee: "assignee"})
	ds, err := e.gh.WaitDeliveries(1, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	captured := ds[len(ds)-1]
	waitUntil(t, func() bool { return e.svc.WebhookStats().Applied == 1 })

	if status, err := e.gh.Redeliver(captured.ID); err != nil || status != http.StatusOK {
		t.Errorf("replay with the same id: %d, %v; want 200", status, err)
	}
	if st := e.svc.WebhookStats(); st.Duplicate != 1 || st.Applied != 1 {
		t.Errorf("after the replay: %+v; want 1 duplicate, still 1 applied", st)
	}

	// GitHub's updated_at has whole seconds: the next change must be a second later.
	time.Sleep(1100 * time.Millisecond)
	e.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author", Assignee: "assignee"})
	waitUntil(t, func() bool { return e.svc.WebhookStats().Applied == 2 })
	d := e.gh.SendWebhook(captured.Event, captured.Body, fakegithub.DeliveryID("replayed-"+captured.ID))
	if d.Status != http.StatusAccepted {
		t.Fatalf("the captured delivery under a new id: %d %v; want 202 (it is signed)", d.Status, d.Err)
	}
	// The worker applies deliveries in order: once a later one is done, so is the replay.
	ignored := e.svc.WebhookStats().Ignored
	later := []byte(`{"action":"opened","number":1,"pull_request":{"number":1,"state":"open","head":{"sha":"` + head3 + `"}},"repository":{"full_name":"` + repo + `"}}`)
	if d := e.gh.SendWebhook("pull_request", later); d.Status != http.StatusAccepted {
		t.Fatalf("a later delivery: %d %v", d.Status, d.Err)
	}
	waitUntil(t, func() bool { return e.svc.WebhookStats().Ignored > ignored })
	if st := e.svc.WebhookStats(); st.Applied != 2 {
		t.Errorf("stats %+v: the old delivery was applied again", st)
	}
	res, err := e.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if r := row(res.Msg, 13269); r.HeadSha != pin13269 {
		t.Errorf("#13269 head %s after replaying an old delivery; want the newer %s", r.HeadSha, pin13269)
	}
}

// The webhook receiver reads at most 1 MiB, before it checks anything: a body of
// exactly 1 MiB is read and judged, one byte more is refused with 413 whether it is
// signed or not.
func TestSecurityWebhookBodyLimit(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, envOptions{})
	padded := func(size int) []byte {
		head, tail := []byte(`{"action":"opened","pad":"`), []byte(`"}`)
		return append(append(head, bytes.Repeat([]byte("x"), size-len(head)-len(tail))...), tail...)
	}
	exact := padded(github.MaxWebhookBody)
	if !json.Valid(exact) || len(exact) != 1<<20 {
		t.Fatalf("bad test body: %d bytes", len(exact))
	}
	if d := e.gh.SendWebhook("issues", exact); d.Status != http.StatusOK {
		t.Errorf("a signed 1 MiB delivery: %d %v; want 200 (read, verified, ignored)", d.Status, d.Err)
	}
	if d := e.gh.SendWebhook("issues", padded(github.MaxWebhookBody+1)); d.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a signed delivery of 1 MiB + 1 byte: %d %v; want 413", d.Status, d.Err)
	}
	if d := e.gh.SendWebhook("issues", padded(8<<20), fakegithub.SignatureHeader("")); d.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("an unsigned 8 MiB delivery: %d %v; want 413", d.Status, d.Err)
	}
	if st := e.svc.WebhookStats(); st.BadPayload != 2 || st.BadSignature != 0 {
		t.Errorf("stats %+v; want 2 bad payloads (the signature is never reached)", st)
	}
}
