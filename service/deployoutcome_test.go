package service_test

import (
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

// outcomeLog records what OnDeploy is told.
type outcomeLog struct {
	mu  sync.Mutex
	got []string
}

func (l *outcomeLog) add(outcome string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, outcome)
}

func (l *outcomeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// deployServer is a Server on the fixture state file with fake GitHub and Jenkins (a
// token unless unconfigured) and an in-process cache, its deploys told to log.
func deployServer(t *testing.T, auth service.Authenticator, configured bool, log *outcomeLog) (*service.Server, *fakejenkins.Server) {
	t.Helper()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "_testing-prs.json")
	copyFile(t, fixtures+"testing-prs.json", statePath)
	gh := fakegithub.New(t)
	gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head1})
	gh.SetCompare(pin13238, head1, "ahead", 3, 0)
	gh.SetPull(fakegithub.PullSpec{Number: 13240, Title: "Unified icon system", Head: head2, Merged: true})
	gh.SetCompare(pin13240, head2, "diverged", 2, 1)
	gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: pin13269})
	ghClient, err := github.New(github.Options{BaseURL: gh.URL, Repo: repo, HTTPClient: gh.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	jk := fakejenkins.New(t)
	token := ""
	if configured {
		token = "jenkins-secret"
	}
	jkClient, err := jenkins.New(jenkins.Options{RunsURL: jk.RunsURL(), TriggerURL: jk.TriggerURL(), Token: token, HTTPClient: jk.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resolver := drift.New(ghClient, memcache.NewMemory(100), drift.Options{Repo: repo, TTL: time.Hour})
	svc := service.New(service.Options{
		Store: persistence.NewStore(statePath, nil), Audit: persistence.OpenAuditLog(persistence.AuditPath(statePath), nil),
		GitHub: ghClient, TranscriptPath: filepath.Join(dir, "t.txt"), Drift: resolver, Jenkins: jkClient, Auth: auth,
		Repo: repo, ReconcileInterval: -1, OnDeploy: log.add,
	})
	return svc, jk
}

// OnDeploy is told how each Deploy by a writer ended, once, with one of DeployOutcomes.
func TestOnDeployOutcomes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	deploy := func(svc *service.Server, msg *testingv1.DeployRequest) error {
		_, err := svc.Deploy(ctx, connect.NewRequest(msg))
		return err
	}
	check := func(log *outcomeLog, step string, err error, wantCode connect.Code, want ...string) {
		t.Helper()
		if err != nil && connect.CodeOf(err) != wantCode || err == nil && wantCode != 0 {
			t.Errorf("%s: %v; want code %v", step, err, wantCode)
		}
		got := log.take()
		if !slices.Equal(got, want) {
			t.Errorf("%s: OnDeploy told %q; want %q", step, got, want)
		}
		for _, o := range got {
			if !slices.Contains(service.DeployOutcomes, o) {
				t.Errorf("%s: outcome %q is not in DeployOutcomes", step, o)
			}
		}
	}

	var log outcomeLog
	svc, jk := deployServer(t, service.DevAuth{}, true, &log)
	check(&log, "dry run", deploy(svc, &testingv1.DeployRequest{DryRun: true}), 0, service.DeployDryRun)
	check(&log, "stale dry run", deploy(svc, &testingv1.DeployRequest{DryRun: true, ExpectedVersion: "stale"}), connect.CodeAborted, service.DeployAborted)
	check(&log, "stale deploy", deploy(svc, &testingv1.DeployRequest{ExpectedVersion: "stale"}), connect.CodeAborted, service.DeployAborted)
	jk.SetTriggerStatus(http.StatusInternalServerError)
	check(&log, "Jenkins failing", deploy(svc, &testingv1.DeployRequest{}), connect.CodeUnavailable, service.DeployFailed)
	jk.SetTriggerStatus(http.StatusCreated)
	check(&log, "deploy", deploy(svc, &testingv1.DeployRequest{}), 0, service.DeployTriggered)
	check(&log, "empty plan", deploy(svc, &testingv1.DeployRequest{}), connect.CodeFailedPrecondition, service.DeployNothing)

	var unconfiguredLog outcomeLog
	unconfigured, _ := deployServer(t, service.DevAuth{}, false, &unconfiguredLog)
	check(&unconfiguredLog, "unconfigured", deploy(unconfigured, &testingv1.DeployRequest{}), 0, service.DeployUnconfigured)

	// A caller refused before deploying deployed nothing: not told.
	var refusedLog outcomeLog
	refused, _ := deployServer(t, fixedAuth(service.Viewer{Username: "reader", SignedIn: true}), true, &refusedLog)
	check(&refusedLog, "not a maintainer", deploy(refused, &testingv1.DeployRequest{}), connect.CodePermissionDenied)
}
