package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

const (
	fixtures = "../../testdata/fixtures/"
	repo     = "internetarchive/openlibrary"

	// Pins of the fixture state file (testing-prs.json) and the heads fake GitHub gives.
	pin13238 = "0e710e2b7cd80fa8dcb05d1ccb941ab9d83e23a5"
	pin13240 = "5a0c7e1f2d3b4a5968778695a4b3c2d1e0f9a8b7"
	pin13269 = "1d23364b8c652d6107e2dc685f918551fda5d327"
	head1    = "abc1234f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
	head2    = "4f2a9c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b"

	jenkinsToken = "cli-test-jenkins-token"
	botToken     = "cli-test-bot-token"    // listed in the tokens file as "bot"
	readerToken  = "cli-test-reader-token" // a signed-in caller who is not a maintainer
)

// world is a real testingd service over real HTTP (HTTP/1.1 and cleartext HTTP/2, so
// both Connect and gRPC work), on the fixture state file and build transcript, with
// GitHub and Jenkins faked at the wire (internal/fakegithub, internal/fakejenkins)
// and the in-process drift cache testingd uses without --memcache.
type world struct {
	url       string // what --server is given: the base URL, with the base path
	gh        *fakegithub.Server
	jk        *fakejenkins.Server
	srv       *httptest.Server
	statePath string
}

type worldOptions struct {
	// tokens: bearer tokens are required (no dev auth): botToken is a maintainer's,
	// readerToken a non-maintainer's, anything else is refused.
	tokens bool
	// basePath serves everything under this prefix (e.g. "/status/v2/"); "" = "/".
	basePath string
	// noJenkins leaves deploy unconfigured (no Jenkins token).
	noJenkins bool
	// noState starts without a state file.
	noState bool
	// state, when set, is written as the state file instead of the fixture.
	state []byte
	// predictor, when set, is the service's merge predictor (as with --git-dir); it
	// gets the function that tells the service a prediction changed.
	predictor func(notify func()) service.MergePredictor
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{statePath: filepath.Join(dir, "_testing-prs.json")}
	transcript := filepath.Join(dir, "_dev-merged_status.txt")
	switch {
	case o.state != nil:
		if err := os.WriteFile(w.statePath, o.state, 0o644); err != nil {
			t.Fatal(err)
		}
	case !o.noState:
		copyFile(t, fixtures+"testing-prs.json", w.statePath)
	}
	copyFile(t, fixtures+"dev-merged-status.txt", transcript)

	w.gh = fakegithub.New(t)
	// 13238 open, 3 commits ahead of its pin; 13240 merged; 13269 open at its pin;
	// 13300 open and 13302 merged, not in the set.
	w.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head1, Author: "mekarpeles"})
	w.gh.SetCompare(pin13238, head1, "ahead", 3, 0)
	w.gh.SetPull(fakegithub.PullSpec{Number: 13240, Title: "Unified icon system", Head: head2, Author: "cdrini", Assignee: "RayBB", Merged: true})
	w.gh.SetCompare(pin13240, head2, "diverged", 2, 1)
	w.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269, Author: "author", Assignee: "assignee"})
	w.gh.SetPull(fakegithub.PullSpec{Number: 13300, Title: "Cover upload: accept HEIC files", Author: "RayBB"})
	w.gh.SetPull(fakegithub.PullSpec{Number: 13302, Title: "Drop the legacy borrow button", Author: "cdrini", Merged: true})

	w.jk = fakejenkins.New(t)
	token := jenkinsToken
	if o.noJenkins {
		token = ""
	}
	w.jk.SetToken(jenkinsToken)
	gh, err := github.New(github.Options{BaseURL: w.gh.URL, Repo: repo, Token: "gh-token", HTTPClient: w.gh.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	jk, err := jenkins.New(jenkins.Options{RunsURL: w.jk.RunsURL(), TriggerURL: w.jk.TriggerURL(), Token: token, HTTPClient: w.jk.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	var auth service.Authenticator = service.DevAuth{}
	if o.tokens {
		tokensFile := filepath.Join(dir, "tokens")
		if err := os.WriteFile(tokensFile, []byte("bot "+openlibrary.HashToken(botToken)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tokens, err := openlibrary.OpenTokens(tokensFile, nil)
		if err != nil {
			t.Fatal(err)
		}
		auth = readerAuth{next: service.WithTokens(nobody{}, tokens)}
	}

	var svc *service.Server
	var predictor service.MergePredictor
	if o.predictor != nil {
		predictor = o.predictor(func() { svc.Notify() })
	}
	resolver := drift.New(gh, memcache.NewMemory(memcache.DefaultMaxEntries), drift.Options{
		Repo: repo, TTL: time.Minute, Concurrency: 8, OnUpdate: func() { svc.Notify() }, Budget: gh.Budget, Reserve: -1,
	})
	svc = service.New(service.Options{
		Store: persistence.NewStore(w.statePath, nil), Audit: persistence.OpenAuditLog(persistence.AuditPath(w.statePath), nil),
		GitHub: gh, TranscriptPath: transcript, Drift: resolver, Jenkins: jk, Auth: auth,
		Repo: repo, JenkinsJobURL: "https://jenkins.example/job/deploy/", GitHubBudget: gh.Budget,
		ReconcileInterval: -1, DriftTTL: time.Minute, Predictor: predictor,
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	base := o.basePath
	if base == "" {
		base = "/"
	}
	path, handler := testingv1connect.NewTestingServiceHandler(svc, service.Codecs()...)
	mux := http.NewServeMux()
	mux.Handle(base+strings.TrimPrefix(path, "/"), http.StripPrefix(strings.TrimSuffix(base, "/"), service.OriginMiddleware(handler)))
	w.srv = httptest.NewUnstartedServer(mux)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	w.srv.Config.Protocols = &protocols
	w.srv.Start()
	t.Cleanup(func() {
		// Watch streams stay open until their client goes: cut them, then close.
		w.srv.CloseClientConnections()
		w.srv.Close()
	})
	w.url = w.srv.URL + base
	return w
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nobody is the base authenticator of the token world: without a bearer token,
// nobody is signed in (as with --auth openlibrary and no session cookie).
type nobody struct{}

func (nobody) Authenticate(context.Context, http.Header) (service.Viewer, error) {
	return service.Viewer{}, nil
}
func (nobody) Mode() string { return "openlibrary" }

// readerAuth admits readerToken as a signed-in non-maintainer, and leaves every other
// request to next.
type readerAuth struct{ next service.Authenticator }

func (a readerAuth) Authenticate(ctx context.Context, h http.Header) (service.Viewer, error) {
	if h.Get("Authorization") == "Bearer "+readerToken {
		return service.Viewer{Username: "reader", SignedIn: true, Method: service.MethodToken}, nil
	}
	return a.next.Authenticate(ctx, h)
}
func (a readerAuth) Mode() string { return a.next.Mode() }
