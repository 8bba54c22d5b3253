package main

// The parts of the security review that need the process as main wires it: the
// listen-address rule of --auth dev, what reaches the log, error messages and /metrics,
// and request size limits on the real handler. The RPC-level review is
// service/security_test.go; docs/reliability/security.md has the whole table.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/internal/fakeopenlibrary"
)

// --auth dev makes every caller a maintainer, so it serves on loopback addresses only,
// however the address is spelt (IPv6, IPv4-mapped, zones) and wherever it comes from
// (flag or environment). A host name other than localhost is refused even when it
// resolves to a loopback address today: what it resolves to can change.
func TestSecurityDevAuthListenAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8080", true},
		{"127.255.255.254:8080", true},
		{"[::1]:8080", true},
		{"[0:0:0:0:0:0:0:1]:8080", true},
		{"[::ffff:127.0.0.1]:8080", true},
		{"[::1%lo]:8080", true},
		{"localhost:8080", true},
		{"LocalHost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"0:8080", false},
		{"[::]:8080", false},
		{"[0:0:0:0:0:0:0:0]:8080", false},
		{"[::ffff:0.0.0.0]:8080", false},
		{"[::ffff:10.0.0.1]:8080", false},
		{"[fe80::1%eth0]:8080", false},
		{"[2001:db8::1]:8080", false},
		{"[::2]:8080", false},
		{"192.168.1.10:8080", false},
		{"127.000.000.001:8080", false}, // not an address Go parses: a host name
		{"2130706433:8080", false},      // 127.0.0.1 as one number: a host name
		{"localhost.:8080", false},
		{"ip6-localhost:8080", false},
		{"127.0.0.1.nip.io:8080", false}, // public DNS names that resolve to 127.0.0.1
		{"localtest.me:8080", false},
		{"example.org:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig([]string{"--listen", tt.listen}, env(nil))
			if tt.ok && err != nil {
				t.Errorf("--auth dev --listen %s refused: %v", tt.listen, err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "loopback")) {
				t.Errorf("--auth dev --listen %s = %v; want refused as not loopback", tt.listen, err)
			}
			// The same from the environment, with dev auth asked for explicitly.
			_, err = parseConfig(nil, env(map[string]string{"TESTINGD_LISTEN": tt.listen, "TESTINGD_AUTH": "dev"}))
			if tt.ok != (err == nil) {
				t.Errorf("TESTINGD_LISTEN=%s TESTINGD_AUTH=dev: %v; want ok %v", tt.listen, err, tt.ok)
			}
		})
	}
	// The flag wins over the environment, in the safe direction too.
	if _, err := parseConfig([]string{"--listen", "0.0.0.0:8080"}, env(map[string]string{"TESTINGD_LISTEN": "127.0.0.1:8080"})); err == nil {
		t.Error("--listen 0.0.0.0:8080 with TESTINGD_LISTEN=127.0.0.1:8080 accepted under --auth dev")
	}
	if _, err := parseConfig([]string{"--auth", "dev"}, env(map[string]string{"TESTINGD_AUTH": "openlibrary", "TESTINGD_LISTEN": "0.0.0.0:8080"})); err == nil {
		t.Error("--auth dev on TESTINGD_LISTEN=0.0.0.0:8080 accepted")
	}
}

// localhost is accepted by name, so what it resolves to matters: testingd listens on
// what the resolver gives, and this checks that is loopback here (an /etc/hosts that
// maps localhost elsewhere would expose a dev server; testingd does not check the
// bound address again).
func TestSecurityDevAuthBindsLoopback(t *testing.T) {
	t.Parallel()
	addrs, err := net.DefaultResolver.LookupHost(t.Context(), "localhost")
	if err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			t.Errorf("localhost resolves to %s, which is not loopback: --auth dev --listen localhost:PORT would serve it", a)
		}
	}
	for _, listen := range []string{"localhost:0", "127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig([]string{"--listen", listen}, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if listen == "[::1]:0" {
				ln, err := net.Listen("tcp", listen)
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				ln.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan net.Addr, 1)
			done := make(chan error, 1)
			logger := slog.New(slog.DiscardHandler)
			go func() {
				done <- run(ctx, cfg, http.NotFoundHandler(), logger, func(a net.Addr) { ready <- a })
			}()
			select {
			case a := <-ready:
				if ip := a.(*net.TCPAddr).IP; !ip.IsLoopback() {
					t.Errorf("--listen %s bound %s", listen, a)
				}
			case err := <-done:
				t.Fatalf("run: %v", err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
}

// securityServer is testingd as main wires it (buildService, newHandler, run) on 127.0.0.1:0,
// logging JSON at debug level into logs.
type securityServer struct {
	url  string // base URL, no trailing slash
	cfg  config
	stop func()
}

func startSecurityServer(t *testing.T, logs io.Writer, args ...string) *securityServer {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--listen", "127.0.0.1:0", "--log-level", "debug"}, args...), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	logger := newLogger(cfg, logs)
	logger.Info("starting", "config", cfg) // as realMain does
	ctx, cancel := context.WithCancel(context.Background())
	svc, release, err := buildService(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, newHandler(cfg, svc, logger), logger, func(a net.Addr) { ready <- a }) }()
	w := &securityServer{cfg: cfg}
	select {
	case a := <-ready:
		w.url = "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	stopped := false
	w.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			release()
		}
	}
	t.Cleanup(w.stop)
	return w
}

// clients returns Connect (JSON, HTTP/1.1) and gRPC (h2c) clients of the server.
func (w *securityServer) clients(t *testing.T) map[string]testingv1connect.TestingServiceClient {
	return map[string]testingv1connect.TestingServiceClient{
		"connect": testingv1connect.NewTestingServiceClient(http1Client(t), w.url, connect.WithProtoJSON()),
		"grpc":    testingv1connect.NewTestingServiceClient(h2cClient(t), w.url, connect.WithGRPC()),
	}
}

func securityRequest[T any](msg *T, kv ...string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header().Set(kv[i], kv[i+1])
	}
	return req
}

// securityState is a state file with PR 7 pinned at pin, never deployed.
func securityState(t *testing.T, dir, pin string) string {
	t.Helper()
	path := filepath.Join(dir, "_testing-prs.json")
	writeFile(t, path, `{"last_deploy_at": "", "prs": [{"pr": 7, "commit": "`+pin+`", "active": true, "title": "Seven"}]}`)
	return path
}

// No secret reaches the log (at debug level, JSON, the startup line included), an
// error message or /metrics, whatever fails: the GitHub token, the Jenkins token (which
// rides in the trigger URL's query), the webhook secret, Open Library's session secret,
// session cookies, bearer tokens (a valid one, and a mistyped one that may be a real
// token one digit off).
func TestSecuritySecretsStayOutOfLogsErrorsAndMetrics(t *testing.T) {
	t.Parallel()
	const (
		ghToken      = "ghp_SECRETgithub0123456789abcdef"
		jenkinsToken = "SECRETjenkins4567"
		hookSecret   = "SECRETwebhook89ab"
		olSecret     = "SECRETolsession_cdef"
		botToken     = "tr_SECRETbot_0123456789"
		typoToken    = "tr_SECRETbot_0123456788"
	)
	head, pin := strings.Repeat("a", 40), strings.Repeat("c", 40)
	gh := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 7, Title: "Seven", Head: head}))
	gh.SetCompare(pin, head, "ahead", 2, 0)
	jk := fakejenkins.New(t)
	jk.SetToken(jenkinsToken)
	ol := fakeopenlibrary.New(t)
	olDown := fakeopenlibrary.New(t)
	olDown.FailAll(http.StatusBadGateway)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "ol-secret")
	writeFile(t, secretFile, olSecret+"\n")
	tokensFile := filepath.Join(dir, "tokens")
	writeFile(t, tokensFile, "ci-bot "+openlibrary.HashToken(botToken)+"\n")
	args := func(olURL, stateDir string) []string {
		return []string{
			"--state-file", securityState(t, stateDir, pin), "--build-status-file", filepath.Join(stateDir, "t.txt"),
			"--github-api-url", gh.URL, "--github-token", ghToken, "--github-webhook-secret", hookSecret,
			"--jenkins-runs-url", jk.RunsURL(), "--jenkins-trigger-url", jk.TriggerURL(), "--jenkins-token", jenkinsToken,
			"--auth", "openlibrary", "--ol-url", olURL, "--ol-secret-key-file", secretFile, "--tokens-file", tokensFile,
			"--log-format", "json",
		}
	}
	var logs syncBuffer
	srv := startSecurityServer(t, &logs, args(ol.URL, t.TempDir())...)
	downSrv := startSecurityServer(t, &logs, args(olDown.URL, t.TempDir())...)

	cookieValue := openlibrary.SignSession("openlibrary", "2026-01-18T17:25:46", "7897f", []byte(olSecret))
	_, cookieHash, _ := strings.Cut(cookieValue, "$")
	maintainer := "session=" + url.QueryEscape(cookieValue)
	secrets := map[string]string{
		"GitHub token": ghToken, "Jenkins token": jenkinsToken, "webhook secret": hookSecret,
		"Open Library secret": olSecret, "bearer token": botToken, "mistyped bearer token": typoToken,
		"session cookie signature": cookieHash, "session cookie": url.QueryEscape(cookieValue),
	}

	var said []string // every error message and response body a caller received
	record := func(err error) {
		if err != nil {
			said = append(said, err.Error())
		}
	}
	stage := &testingv1.StagePRsRequest{Numbers: []int32{7}, Stage: testingv1.Stage_STAGE_DISABLE}
	for _, client := range srv.clients(t) {
		ctx := t.Context()
		_, err := client.GetStatus(ctx, securityRequest(&testingv1.GetStatusRequest{}, "Cookie", maintainer))
		if err != nil {
			t.Fatalf("a maintainer's GetStatus: %v", err)
		}
		_, err = client.GetStatus(ctx, securityRequest(&testingv1.GetStatusRequest{}, "Cookie", "session="+url.QueryEscape(cookieValue[:len(cookieValue)-1]+"0")))
		record(err)
		_, err = client.GetStatus(ctx, securityRequest(&testingv1.GetStatusRequest{}, "Cookie", "session="+url.QueryEscape(openlibrary.SignSession("reader", "t", "s", []byte(olSecret)))))
		record(err)
		_, err = client.GetStatus(ctx, securityRequest(&testingv1.GetStatusRequest{}, "Authorization", "Bearer "+typoToken))
		record(err)
		_, err = client.StagePRs(ctx, securityRequest(stage, "Cookie", maintainer, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"))
		record(err)
		_, err = client.AddPRs(ctx, securityRequest(&testingv1.AddPRsRequest{Refs: []string{"https://github.com/x/y/pull/1?token=" + botToken}}, "Authorization", "Bearer "+botToken))
		record(err)
		_, err = client.GetStatus(ctx, securityRequest(&testingv1.GetStatusRequest{}, "Authorization", "Bearer "+botToken))
		record(err)
	}
	for _, client := range downSrv.clients(t) {
		_, err := client.GetStatus(t.Context(), securityRequest(&testingv1.GetStatusRequest{}, "Cookie", maintainer))
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Errorf("GetStatus with Open Library down: %v; want UNAVAILABLE", err)
		}
		record(err)
	}

	client := srv.clients(t)["connect"]
	bot := func(req any) {
		switch r := req.(type) {
		case *testingv1.DeployRequest:
			_, err := client.Deploy(t.Context(), securityRequest(r, "Authorization", "Bearer "+botToken))
			record(err)
		case *testingv1.StagePRsRequest:
			_, err := client.StagePRs(t.Context(), securityRequest(r, "Authorization", "Bearer "+botToken))
			record(err)
		case *testingv1.EvictDriftRequest:
			_, err := client.EvictDrift(t.Context(), securityRequest(r, "Authorization", "Bearer "+botToken))
			record(err)
		}
	}
	// Jenkins refusing (500), then unreachable: each deploy fails and is restored.
	jk.SetTriggerStatus(http.StatusInternalServerError)
	bot(&testingv1.DeployRequest{})
	jk.Close()
	bot(&testingv1.DeployRequest{})
	if n := len(jk.Triggers()); n == 0 || !strings.Contains(jk.Triggers()[0].Query, jenkinsToken) {
		t.Errorf("Jenkins was not asked with the token (%d triggers): the test proves nothing", n)
	}
	// GitHub failing.
	gh.FailAll(http.StatusBadGateway)
	bot(&testingv1.EvictDriftRequest{})
	gh.FailAll(0)
	if reqs := gh.Requests(); len(reqs) == 0 || !strings.Contains(reqs[0].Authorization, ghToken) {
		t.Error("GitHub was not asked with the token: the test proves nothing")
	}
	// Webhooks: a forged one, a good one, a ping.
	gh.SetWebhook(srv.url+"/webhooks/github", []byte(hookSecret))
	for _, d := range []fakegithub.Delivery{
		gh.SendWebhook("ping", []byte(`{}`), fakegithub.SignedWith([]byte("not "+hookSecret))),
		gh.SendWebhook("pull_request", []byte("{not json")),
		gh.Ping(),
	} {
		said = append(said, string(d.Body), fmt.Sprint(d.Err))
	}
	gh.SetPull(fakegithub.PullSpec{Number: 7, Title: "Seven", Head: strings.Repeat("b", 40)})
	if _, err := gh.WaitDeliveries(4, 5*time.Second); err != nil {
		t.Error(err)
	}

	for _, path := range []string{"/metrics", "/healthz", "/"} {
		resp, err := http.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		said = append(said, string(body))
	}
	srv.stop()
	downSrv.stop()

	logged := logs.String()
	for _, want := range []string{"authentication unavailable", "deploy failed", "webhook refused: bad signature", "cross-origin write refused", "session cookie refused"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %q: the failure it stands for did not happen, so the test proves less", want)
		}
	}
	for name, secret := range secrets {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds the %s: %s", name, lineContaining(logged, secret))
		}
		for _, s := range said {
			if strings.Contains(s, secret) {
				t.Errorf("a caller was told the %s: %.300s", name, s)
			}
		}
	}
	t.Logf("%d log lines and %d answers checked for %d secrets", strings.Count(logged, "\n"), len(said), len(secrets))
}

// A request body testingd reads is bounded, so that nobody (not signed in, since
// authentication comes after the request is read and decoded) can make it buffer and
// decode any amount of memory: a plain body and a small gzip body that inflates.
func TestSecurityRPCRequestSizeLimit(t *testing.T) {
	t.Parallel()
	ol := fakeopenlibrary.New(t)
	gh := fakegithub.New(t)
	jk := fakejenkins.New(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "ol-secret")
	writeFile(t, secretFile, "s\n")
	srv := startSecurityServer(t, io.Discard, "--state-file", securityState(t, dir, strings.Repeat("c", 40)),
		"--build-status-file", filepath.Join(dir, "t.txt"), "--github-api-url", gh.URL,
		"--jenkins-runs-url", jk.RunsURL(), "--jenkins-trigger-url", jk.TriggerURL(),
		"--auth", "openlibrary", "--ol-url", ol.URL, "--ol-secret-key-file", secretFile, "--log-level", "info")
	endpoint := srv.url + "/" + testingv1connect.TestingServiceName + "/AddPRs"

	huge := 64 << 20
	plain, err := json.Marshal(&struct {
		Refs []string `json:"refs"`
	}{Refs: []string{strings.Repeat("1", huge)}})
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
	}{
		{fmt.Sprintf("plain %d MiB", len(plain)>>20), plain, ""},
		{fmt.Sprintf("gzip %d KiB inflating to %d MiB", zipped.Len()>>10, len(plain)>>20), zipped.Bytes(), "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may close the connection on a body it will not read: that is
				// a refusal too.
				t.Logf("refused during the upload: %v", err)
				return
			}
			var answer struct{ Code string }
			_ = json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			t.Logf("answer %q; the server allocated %d MiB meanwhile", answer.Code, (after.TotalAlloc-before.TotalAlloc)>>20)
			if answer.Code != "resource_exhausted" {
				t.Errorf("an unauthenticated request of %d decoded bytes was answered %q; want resource_exhausted before it is read whole", len(plain), answer.Code)
			}
		})
	}
}

// --auth dev on 127.0.0.1 is reachable by any page the developer's browser opens
// through DNS rebinding: a name of the attacker's (rebind.example) first resolves to
// their server, which serves the page, then to 127.0.0.1. The page's requests then go
// to testingd as same-origin requests for rebind.example:PORT (Sec-Fetch-Site:
// same-origin, Origin matching Host), so the cross-origin check passes, and dev auth
// makes them a maintainer's. The defence is to answer only Host names that are
// loopback (localhost, 127.0.0.1, [::1]) in dev mode.
func TestSecurityDevAuthRefusesDNSRebinding(t *testing.T) {
	t.Parallel()
	head, pin := strings.Repeat("a", 40), strings.Repeat("c", 40)
	gh := fakegithub.New(t, fakegithub.WithPulls(fakegithub.PullSpec{Number: 7, Title: "Seven", Head: head}))
	jk := fakejenkins.New(t)
	dir := t.TempDir()
	srv := startSecurityServer(t, io.Discard, "--state-file", securityState(t, dir, pin),
		"--build-status-file", filepath.Join(dir, "t.txt"), "--github-api-url", gh.URL,
		"--jenkins-runs-url", jk.RunsURL(), "--jenkins-trigger-url", jk.TriggerURL(), "--log-level", "info")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.url, "http://"))
	rebound := "rebind.example:" + port
	hostRewriter := func(base http.RoundTripper) *http.Client {
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Host = rebound
			return base.RoundTrip(r)
		})}
	}
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	clients := map[string]testingv1connect.TestingServiceClient{
		"connect": testingv1connect.NewTestingServiceClient(hostRewriter(&http.Transport{}), srv.url, connect.WithProtoJSON()),
		"grpc":    testingv1connect.NewTestingServiceClient(hostRewriter(&http.Transport{Protocols: &h2}), srv.url, connect.WithGRPC()),
	}
	for protocol, client := range clients {
		_, err := client.StagePRs(t.Context(), securityRequest(&testingv1.StagePRsRequest{Numbers: []int32{7}, Stage: testingv1.Stage_STAGE_DISABLE},
			"Sec-Fetch-Site", "same-origin", "Origin", "http://"+rebound))
		if err == nil {
			t.Errorf("%s: a write for Host %s was served as a maintainer's", protocol, rebound)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "_testing-prs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"pending_active": false`) {
		t.Error("the rebound page's write reached the state file")
	}
}
