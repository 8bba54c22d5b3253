package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
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
	var auth service.Authenticator
	switch cfg.Auth {
	case authDev:
		auth = service.DevAuth{}
	default:
		// Session-cookie and token authentication is the next piece of work; refusing
		// to start is safer than serving maintainers' actions to anyone.
		return nil, nil, errors.New("--auth openlibrary is not available yet; run with --auth dev on a loopback address")
	}

	store := persistence.NewStore(cfg.StateFile, logger.With("component", "state"))
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

	var cache drift.Cache
	release := func() {}
	if len(cfg.Memcache) == 0 {
		cache = memcache.NewMemory(memcache.DefaultMaxEntries)
	} else {
		mc := memcache.NewMemcached(cfg.Memcache, memcache.Options{Logger: logger.With("component", "memcache")})
		cache, release = mc, func() { _ = mc.Close() }
	}
	resolver := drift.New(gh, cache, drift.Options{
		Repo:        cfg.GitHubRepo,
		TTL:         cfg.DriftTTL,
		Concurrency: cfg.GitHubConcurrency,
		Logger:      logger.With("component", "drift"),
	})

	svc := service.New(service.Options{
		Store:          store,
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
		Logger: logger.With("component", "service"),
	})
	return svc, release, nil
}

// jenkinsJobURL is the web page of the job whose wfapi runs URL is given
// (".../job/NAME/wfapi/runs?..." → ".../job/NAME/"); "" when it has no such shape.
func jenkinsJobURL(runsURL string) string {
	i := strings.Index(runsURL, "/wfapi/")
	if i < 0 {
		return ""
	}
	return runsURL[:i+1]
}
