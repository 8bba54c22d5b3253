// Package service implements the TestingService: Connect handlers that validate a
// request, call the domain (the state store, the drift resolver, Jenkins, the build
// transcript) and map errors to Connect codes. The rules of the plan, the rows and the
// deploy state live beside them as pure functions (rules.go).
package service

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service/drift"
)

// Drift resolves the live GitHub facts of a set of PRs (implemented by *drift.Resolver).
type Drift interface {
	Resolve(ctx context.Context, targets []drift.Target) drift.Result
	Refresh(ctx context.Context, targets []drift.Target) drift.Result
	Evict(ctx context.Context, numbers []int)
	Learn(ctx context.Context, pulls []github.Pull)
	// Apply takes a webhook's facts of one PR of the set.
	Apply(ctx context.Context, t drift.Target, p github.Pull) bool
	// Reconcile asks GitHub about every target again (conditional requests).
	Reconcile(ctx context.Context, targets []drift.Target, force bool) drift.ReconcileResult
	SetTTL(d time.Duration)
	TTL() time.Duration
	// LowBudget is the budget when it is down to the reserve, else nil.
	LowBudget() *drift.BudgetError
}

// GitHub looks up single pull requests (implemented by *github.Client); AddPRs and
// StagePRs use it to pin PRs to their current head.
type GitHub interface {
	GetPull(ctx context.Context, number int) (github.Pull, error)
}

// Jenkins reads the deploy job's runs (implemented by *jenkins.Client).
type Jenkins interface {
	Runs(ctx context.Context) ([]jenkins.Run, error)
	Configured() bool
	Trigger(ctx context.Context, lines []string) (queueURL string, err error)
}

// Viewer is the caller of an RPC.
type Viewer struct {
	Username   string
	SignedIn   bool
	Maintainer bool
	// Method is how the caller authenticated: "dev", "cookie" (an Open Library session)
	// or "token" (a bearer token); "" when not signed in. Cookie-authenticated writes
	// must come from the same origin (no CSRF).
	Method string
}

// Authenticator tells who sent a request from its headers (cookie or bearer token).
// It returns an error only when it cannot decide (e.g. Open Library is down); a caller
// who is simply not signed in is a zero Viewer.
type Authenticator interface {
	Authenticate(ctx context.Context, header http.Header) (Viewer, error)
	Mode() string
}

// Options are the parts a Server is built from.
type Options struct {
	Store          *persistence.Store
	Audit          *persistence.AuditLog
	GitHub         GitHub
	TranscriptPath string
	Drift          Drift
	Jenkins        Jenkins
	Auth           Authenticator
	Repo           string // GitHub owner/name
	JenkinsJobURL  string // the monitored job's web page ("View Jenkins")
	Info           InfoOptions
	Logger         *slog.Logger
	Now            func() time.Time
	// WatchPollInterval is how often, while anyone watches, the status is recomputed
	// to catch what other processes change (the state file, the build transcript);
	// default 250ms.
	WatchPollInterval time.Duration
	// HeartbeatInterval is how long a WatchStatus stream stays silent before a
	// heartbeat; default 15s.
	HeartbeatInterval time.Duration

	// GitHubBudget reports the GitHub client's rate-limit budget and last contact
	// (implemented by (*github.Client).Budget); nil = unknown.
	GitHubBudget func() github.Budget
	// WebhookSecret turns on the webhook receiver (WebhookHandler); empty = off.
	WebhookSecret []byte
	// ReconcileInterval is how often Run asks GitHub about every PR of the set
	// (default 5m; negative = never). While webhooks arrive it is also how long facts
	// stay fresh.
	ReconcileInterval time.Duration
	// DriftTTL is the freshness of facts when webhooks do not arrive (the resolver's
	// own TTL, restored when they stop); 0 = leave the resolver's TTL alone.
	DriftTTL time.Duration
	// Legacy keeps the legacy page's drift cache filled (legacy.go); nil = off.
	Legacy LegacyCache
	// OnDeploy, when set, is told how every Deploy by a writer ended (one of
	// DeployOutcomes), for metrics. It runs on the request's goroutine and must be quick.
	OnDeploy func(outcome string)
	// Predictor predicts the next deploy's merges (predict.go); nil = off. Run runs it;
	// its OnUpdate should call Notify.
	Predictor MergePredictor
}

// Server implements testingv1connect.TestingServiceHandler.
type Server struct {
	testingv1connect.UnimplementedTestingServiceHandler

	store       *persistence.Store
	audit       *persistence.AuditLog
	github      GitHub
	deploying   chan struct{} // holds one token while a Deploy runs
	memo        statusMemo    // the last status built (status.go)
	memoGen     atomic.Uint64 // bumped by Notify: the memo is out of date
	drift       Drift
	jenkins     Jenkins
	runs        *refresher[[]jenkins.Run]
	transcript  *transcriptCache
	auth        Authenticator
	repo        string
	jenkinsURL  string
	info        InfoOptions
	started     time.Time
	logger      *slog.Logger
	now         func() time.Time
	watch       *hub                   // WatchStatus streams (watch.go)
	webhooks    *webhooks              // the webhook receiver (webhook.go); nil = off
	gh          githubSync             // standing with GitHub (github.go)
	legacy      LegacyCache            // the legacy page's drift cache (legacy.go); nil = off
	legacyQueue chan legacyPublication // the value runLegacy writes next
	onDeploy    func(outcome string)   // Options.OnDeploy; nil = nobody
	predictor   MergePredictor         // Options.Predictor; nil = off
}

var _ testingv1connect.TestingServiceHandler = (*Server)(nil)

// Jenkins run status is polled at most this often; older data is served while a
// background fetch runs, and a failed fetch is not retried for failedRunsTTL.
const (
	runsTTL       = 5 * time.Second
	failedRunsTTL = 15 * time.Second
	runsWait      = 3 * time.Second  // how long a cold GetStatus waits for Jenkins
	runsTimeout   = 15 * time.Second // bound of one Jenkins fetch
	transcriptMax = 8 << 20
)

// New builds a Server.
func New(opts Options) *Server {
	logger := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		store:       opts.Store,
		audit:       opts.Audit,
		github:      opts.GitHub,
		deploying:   make(chan struct{}, 1),
		drift:       opts.Drift,
		jenkins:     opts.Jenkins,
		transcript:  newTranscriptCache(opts.TranscriptPath, transcriptMax),
		auth:        opts.Auth,
		repo:        opts.Repo,
		jenkinsURL:  opts.JenkinsJobURL,
		info:        opts.Info,
		legacy:      opts.Legacy,
		legacyQueue: make(chan legacyPublication, 1),
		onDeploy:    opts.OnDeploy,
		predictor:   opts.Predictor,
		started:     now(),
		logger:      logger,
		now:         now,
	}
	if len(opts.WebhookSecret) > 0 {
		s.webhooks = &webhooks{secret: opts.WebhookSecret, queue: make(chan github.Webhook, webhookQueue)}
	}
	s.gh = githubSync{budget: opts.GitHubBudget, interval: cmp.Or(opts.ReconcileInterval, defaultReconcileInterval), driftTTL: opts.DriftTTL}
	// Twice the interval: each reconcile renews every fact, so while it runs nothing
	// reaches this TTL and the resolver never lists open PRs on its own.
	s.gh.liveTTL = max(s.gh.driftTTL, 2*s.gh.interval)
	s.runs = newRefresher(runsTTL, failedRunsTTL, runsTimeout, now, logger.With("component", "jenkins"), opts.Jenkins.Runs)
	s.runs.onChange = s.Notify // a new Jenkins run status reaches watchers
	s.watch = newHub(s.status, opts.WatchPollInterval, opts.HeartbeatInterval, logger.With("component", "watch"))
	return s
}

// viewer authenticates the caller of a request.
func (s *Server) viewer(ctx context.Context, h http.Header) (Viewer, error) {
	v, err := s.auth.Authenticate(ctx, h)
	if err != nil {
		s.logger.WarnContext(ctx, "authentication unavailable", "err", err)
		return Viewer{}, connect.NewError(connect.CodeUnavailable, errAuthUnavailable)
	}
	return v, nil
}

// requireMaintainer admits maintainers only (API.md Rule 4).
func (s *Server) requireMaintainer(ctx context.Context, h http.Header) (Viewer, error) {
	v, err := s.viewer(ctx, h)
	switch {
	case err != nil:
		return v, err
	case !v.SignedIn:
		return v, connect.NewError(connect.CodeUnauthenticated, errNotSignedIn)
	case !v.Maintainer:
		return v, connect.NewError(connect.CodePermissionDenied, errNotMaintainer)
	}
	return v, nil
}

// GetStatus returns the whole testing section.
func (s *Server) GetStatus(ctx context.Context, req *connect.Request[testingv1.GetStatusRequest]) (*connect.Response[testingv1.GetStatusResponse], error) {
	if _, err := s.requireMaintainer(ctx, req.Header()); err != nil {
		return nil, err
	}
	st, err := s.status(ctx)
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	return connect.NewResponse(st), nil
}

// GetBuildResult returns the parsed build transcript.
func (s *Server) GetBuildResult(ctx context.Context, _ *connect.Request[testingv1.GetBuildResultRequest]) (*connect.Response[testingv1.GetBuildResultResponse], error) {
	t, err := s.transcript.get()
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	return connect.NewResponse(buildResult(t, s.repo)), nil
}

// GetServerInfo returns system information, feature flags and the caller.
func (s *Server) GetServerInfo(ctx context.Context, req *connect.Request[testingv1.GetServerInfoRequest]) (*connect.Response[testingv1.GetServerInfoResponse], error) {
	// Public: when who the caller is cannot be checked (Open Library down), answer
	// anyway, as for an anonymous caller; s.viewer has logged why.
	v, _ := s.viewer(ctx, req.Header())
	return connect.NewResponse(s.serverInfo(v)), nil
}
