package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/gitmirror"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/integrations/openlibrary"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

// Set with -ldflags "-X main.version=… -X main.revision=…" by release builds; the
// module's build info is used otherwise.
var version, revision string

// buildService assembles the TestingService from the config: the state file,
// the outside systems and the service layer. The returned func releases what
// it holds (call it after the server has stopped).
func buildService(ctx context.Context, cfg config, logger *slog.Logger) (testingv1connect.TestingServiceHandler, func(), error) {
	// Bearer tokens work in every auth mode. tokens stays a nil interface (not a nil
	// *Tokens) when there is no file.
	var tokens service.TokenLookup
	if cfg.TokensFile != "" {
		t, err := openlibrary.OpenTokens(cfg.TokensFile, logger.With("component", "tokens"))
		if err != nil {
			return nil, nil, fmt.Errorf("--tokens-file: %w", err)
		}
		tokens = t
	}
	var auth service.Authenticator
	switch cfg.Auth {
	case authDev:
		auth = service.WithTokens(service.DevAuth{}, tokens)
	case authOpenLibrary:
		secret, err := os.ReadFile(cfg.OLSecretKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ol-secret-key-file: %w", err)
		}
		secret = bytes.TrimRight(secret, "\r\n")
		if len(secret) == 0 {
			return nil, nil, fmt.Errorf("--ol-secret-key-file %s is empty: it must hold Open Library's session secret", cfg.OLSecretKeyFile)
		}
		groups, err := openlibrary.NewGroups(cfg.OLURL, &http.Client{Timeout: 10 * time.Second}, openlibrary.DefaultGroupsTTL, logger.With("component", "usergroups"))
		if err != nil {
			return nil, nil, fmt.Errorf("--ol-url: %w", err)
		}
		auth, err = service.NewOpenLibraryAuth(service.OpenLibraryAuthOptions{
			Secret:           secret,
			Groups:           groups,
			MaintainerGroups: cfg.MaintainerGroups,
			Tokens:           tokens,
			Logger:           logger.With("component", "auth"),
		})
		if err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("--auth %q is not a mode", cfg.Auth)
	}

	// Metrics fed by the parts' hooks; newHandler registers them.
	metrics := newPartMetrics()
	store := persistence.NewStore(cfg.StateFile, logger.With("component", "state"))
	store.ObserveWrites(metrics.observeStateWrite)
	// A previous testingd killed in the middle of a deploy left its uncommitted
	// change (and a journal): put the file back before anyone reads it.
	// (Every writer does it too; failing here only delays it.)
	if err := store.Recover(ctx); err != nil {
		logger.Warn("could not check the state file for an interrupted write", "err", err)
	}
	if cfg.Auth == authDev {
		// As legacy does in local development, so a newcomer's first run just works.
		if _, created, err := store.Create(ctx); err != nil {
			return nil, nil, fmt.Errorf("create state file: %w", err)
		} else if created {
			logger.Info("created an empty state file", "path", cfg.StateFile)
		}
	}

	// One transport for GitHub, sized so that every concurrent request keeps its
	// connection alive between refreshes.
	ghTransport := http.DefaultTransport.(*http.Transport).Clone()
	ghTransport.MaxIdleConnsPerHost = cfg.GitHubConcurrency
	gh, err := github.New(github.Options{
		BaseURL:    cfg.GitHubAPIURL,
		Repo:       cfg.GitHubRepo,
		Token:      cfg.GitHubToken,
		HTTPClient: &http.Client{Transport: ghTransport},
		Logger:     logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("github: %w", err)
	}
	gh.ObserveResponses(metrics.observeGitHub)
	jk, err := jenkins.New(jenkins.Options{
		RunsURL:    cfg.JenkinsRunsURL,
		TriggerURL: cfg.JenkinsTriggerURL,
		Token:      cfg.JenkinsToken,
		Timeout:    10 * time.Second,
		Logger:     logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("jenkins: %w", err)
	}

	var (
		cache drift.Cache
		mc    *memcache.Memcached
	)
	release := func() {}
	if len(cfg.Memcache) == 0 {
		cache = memcache.NewMemory(memcache.DefaultMaxEntries)
	} else {
		mc = memcache.NewMemcached(cfg.Memcache, memcache.Options{Logger: logger.With("component", "memcache")})
		cache, release = mc, func() { _ = mc.Close() }
	}
	reserve := cfg.RateLimitReserve
	if reserve == 0 {
		reserve = -1 // none
	}
	reconcile := cfg.ReconcileInterval
	if reconcile == 0 {
		reconcile = -1 // never
	}
	// The resolver tells the service about new drift, but is built first: svc is bound
	// just below, before anything can resolve drift (only the service asks the
	// resolver, once it serves requests), so OnUpdate always sees it set.
	var svc *service.Server
	resolver := drift.New(gh, cache, drift.Options{
		Repo:         cfg.GitHubRepo,
		TTL:          cfg.DriftTTL,
		Concurrency:  cfg.GitHubConcurrency,
		Logger:       logger.With("component", "drift"),
		OnUpdate:     func() { svc.Notify() }, // watchers get the new drift
		Budget:       gh.Budget,
		Reserve:      reserve,
		Mergeability: true,
	})
	metrics.readCaches(resolver.Stats, gh.Stats)

	// The legacy page's drift cache lives in the shared memcached; with the
	// in-process cache there is nobody to share it with.
	var legacy service.LegacyCache
	var mirror *olcompress.Mirror
	if cfg.LegacyDriftCache && mc != nil {
		mirror = olcompress.NewMirror(mc, olcompress.Default(), olcompress.MirrorOptions{
			Logger: logger.With("component", "legacy-cache"),
			// Refreshing takes GitHub round trips: not on the checking goroutine.
			OnEvicted:        func() { go svc.LegacyEvicted(ctx) },
			OnForeign:        func(_ []int, entries map[int]olcompress.DriftEntry) { go svc.LegacyForeign(ctx, entries) },
			OnNeedsRepublish: func() { svc.LegacyRepublish(ctx) },
		})
		legacy = mirror
	}

	predictor := openPredictor(ctx, cfg, logger, func() { svc.Notify() })

	svc = service.New(service.Options{
		Store:          store,
		Audit:          persistence.OpenAuditLog(persistence.AuditPath(cfg.StateFile), logger.With("component", "audit")),
		GitHub:         gh,
		TranscriptPath: cfg.BuildStatusFile,
		Drift:          resolver,
		Jenkins:        jk,
		Auth:           auth,
		Repo:           cfg.GitHubRepo,
		JenkinsJobURL:  jenkinsJobURL(cfg.JenkinsRunsURL),
		Info: service.InfoOptions{
			Version:    version,
			Revision:   revision,
			OLConfig:   cfg.OLConfig,
			OLCheckout: cfg.OLCheckout,
		},
		Logger:            logger.With("component", "service"),
		GitHubBudget:      gh.Budget,
		WebhookSecret:     []byte(cfg.GitHubWebhookSecret),
		ReconcileInterval: reconcile,
		DriftTTL:          cfg.DriftTTL,
		Legacy:            legacy,
		OnDeploy:          metrics.observeDeploy,
		Predictor:         predictor,
	})
	// Webhooks, the reconcile loop and the legacy cache, until the server stops.
	go svc.Run(ctx)
	if mirror != nil {
		go mirror.Run(ctx, 0)
	}
	return instrumented{svc, metrics}, release, nil
}

// openPredictor opens the repository mirror of --git-dir for the deploy prediction. Without
// --git-dir the prediction is off; when the mirror cannot be used (git missing or too
// old, not a repository) that is logged and the prediction is off with the reason,
// never fatal.
func openPredictor(ctx context.Context, cfg config, logger *slog.Logger, onUpdate func()) service.MergePredictor {
	if cfg.GitDir == "" {
		return nil // a nil interface: off
	}
	log := logger.With("component", "gitmirror")
	fetchInterval := cfg.GitFetchInterval
	if fetchInterval == 0 {
		fetchInterval = -1 // only when nudged
	}
	m, err := gitmirror.Open(ctx, cfg.GitDir, gitmirror.Options{
		Remote:       cfg.GitRemote,
		Base:         cfg.GitBase,
		FetchTimeout: cfg.GitFetchTimeout,
		Logger:       log,
	})
	if err != nil {
		log.Error("deploy prediction off: the --git-dir mirror cannot be used", "git_dir", cfg.GitDir, "err", err)
		return gitmirror.Disabled(fmt.Errorf("--git-dir %s: %w", cfg.GitDir, err))
	}
	return gitmirror.NewPredictor(m, gitmirror.PredictorOptions{
		Logger:        log,
		OnUpdate:      onUpdate,
		FetchInterval: fetchInterval,
	})
}

// instrumented is the service as buildService returns it: the *service.Server (all its
// methods, so newHandler finds its webhook handler and GitHub standing) and the
// metrics its parts feed.
type instrumented struct {
	*service.Server
	metrics *partMetrics
}

func (i instrumented) partMetrics() *partMetrics { return i.metrics }

// jenkinsJobURL is the web page of the job whose wfapi runs URL is given
// (".../job/NAME/wfapi/runs?..." → ".../job/NAME/"); "" when it has no such shape.
func jenkinsJobURL(runsURL string) string {
	i := strings.Index(runsURL, "/wfapi/")
	if i < 0 {
		return ""
	}
	return runsURL[:i+1]
}
