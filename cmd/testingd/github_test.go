package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/testmemcached"
)

// The GitHub parts wired as main wires them, under a base path: the webhook route
// takes signed deliveries and refuses others, a push reaches GetStatus without a
// GitHub request for the PR, the legacy key is written to the shared memcached, and
// /metrics tells the budget and the deliveries.
func TestGitHubWiring(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret"
	head := strings.Repeat("a", 40)
	moved := strings.Repeat("b", 40)
	pin := strings.Repeat("c", 40)
	gh := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 7, Title: "Seven", Head: head}))
	gh.SetCompare(pin, head, "ahead", 2, 0)
	gh.SetCompare(pin, moved, "ahead", 3, 0)
	gh.SetQuota(5000)
	mcAddr := testmemcached.Start(t)

	dir := t.TempDir()
	state := filepath.Join(dir, "_testing-prs.json")
	writeFile(t, state, `{"last_deploy_at": "", "prs": [{"pr": 7, "commit": "`+pin+`", "active": true, "title": "Seven"}]}`)
	srvURL := serveInProcess(t, "--state-file", state, "--build-status-file", filepath.Join(dir, "t.txt"),
		"--github-api-url", gh.URL, "--github-webhook-secret", secret,
		"--memcache", mcAddr, "--base-path", "/status/v2/")
	client := testingv1connect.NewTestingServiceClient(http.DefaultClient, srvURL+"/status/v2/", connect.WithProtoJSON())
	status := func() *testingv1.GetStatusResponse {
		t.Helper()
		res, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg
	}
	if st := status(); st.Prs[0].Drift != 2 || !st.Github.WebhooksEnabled || st.Github.RateLimit != 5000 {
		t.Fatalf("first status: drift %d, github %v", st.Prs[0].Drift, st.Github)
	}

	gh.SetWebhook(srvURL+"/status/v2/webhooks/github", []byte(secret))
	if d := gh.Ping(); d.Status != http.StatusOK {
		t.Errorf("ping: %d %v", d.Status, d.Err)
	}
	if d := gh.SendWebhook("ping", []byte(`{}`), fakegithub.SignedWith([]byte("wrong"))); d.Status != http.StatusUnauthorized {
		t.Errorf("wrongly signed delivery: %d; want 401", d.Status)
	}
	pulls := gh.Count(fakegithub.KindPull)
	gh.SetPull(fakegithub.PullSpec{Number: 7, Title: "Seven", Head: moved})
	deadline := time.Now().Add(10 * time.Second)
	for st := status(); st.Prs[0].HeadSha != moved || st.Prs[0].Drift != 3; st = status() {
		if time.Now().After(deadline) {
			t.Fatalf("the push never showed: %v", st.Prs[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The mergeability question after a push may ask once; the push itself asked nothing.
	if n := gh.Count(fakegithub.KindPull) - pulls; n > 1 {
		t.Errorf("%d GetPull after the push; want at most the mergeability question", n)
	}

	// The legacy page's key, in its format, in the shared memcached.
	raw := memcache.NewMemcached([]string{mcAddr}, memcache.Options{})
	t.Cleanup(func() { _ = raw.Close() })
	const want = `{"7": {"head_sha": "bbbbbbb", "drift": 3, "merged": false}}`
	var legacy string
	for legacy != want && time.Now().Before(deadline) {
		if stored, ok := raw.GetMulti(t.Context(), []string{olcompress.DefaultKey})[olcompress.DefaultKey]; ok {
			text, err := olcompress.Default().Decode(stored)
			if err != nil {
				t.Fatal(err)
			}
			legacy = string(text)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if legacy != want {
		t.Errorf("legacy key %q; want %q", legacy, want)
	}

	resp, err := http.Get(srvURL + "/status/v2/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"testingd_github_rate_limit 5000",
		"testingd_github_rate_limit_remaining ",
		`testingd_github_webhook_deliveries_total{outcome="applied"} 1`,
		`testingd_github_webhook_deliveries_total{outcome="bad_signature"} 1`,
		"testingd_github_last_contact_timestamp_seconds 1",
		`testingd_legacy_drift_cache_events_total{event="publish"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
