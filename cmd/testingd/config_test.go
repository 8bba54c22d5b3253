package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// env returns a getenv over a fixed map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := parseConfig(nil, env(nil))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	want := config{
		Listen:            "127.0.0.1:8080",
		StateFile:         "_testing-prs.json",
		BuildStatusFile:   "_dev-merged_status.txt",
		GitHubAPIURL:      "https://api.github.com/",
		GitHubRepo:        "internetarchive/openlibrary",
		GitHubConcurrency: 100,
		ReconcileInterval: 5 * time.Minute,
		RateLimitReserve:  100,
		LegacyDriftCache:  true,
		JenkinsTriggerURL: "https://jenkins.openlibrary.org/job/testing-deploy/buildWithParameters",
		JenkinsRunsURL:    "https://jenkins.openlibrary.org/job/ol-dev1-deploy%20(internal)/wfapi/runs?fullStages=true",
		DriftTTL:          60 * time.Second,
		Auth:              "dev",
		OLURL:             "https://openlibrary.org",
		MaintainerGroups:  []string{"maintainers", "admin"},
		BasePath:          "/",
		GitRemote:         "origin",
		GitBase:           "master",
		GitFetchInterval:  10 * time.Minute,
		GitFetchTimeout:   2 * time.Minute,
		LogLevel:          slog.LevelInfo,
		LogFormat:         "auto",
		ShutdownTimeout:   10 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// TestParseConfigEnv sets each flag through its TESTINGD_* twin, and checks
// that the same value given as a flag wins over a different one in the
// environment.
func TestParseConfigEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag     string
		envValue string
		flagVal  string
		get      func(config) any
		wantEnv  any
		wantFlag any
	}{
		{"listen", "127.0.0.1:9000", "127.0.0.1:9001", func(c config) any { return c.Listen }, "127.0.0.1:9000", "127.0.0.1:9001"},
		{"state-file", "/srv/a.json", "/srv/b.json", func(c config) any { return c.StateFile }, "/srv/a.json", "/srv/b.json"},
		{"build-status-file", "a.txt", "b.txt", func(c config) any { return c.BuildStatusFile }, "a.txt", "b.txt"},
		{"github-api-url", "http://gh.test/api/", "http://gh2.test/api", func(c config) any { return c.GitHubAPIURL }, "http://gh.test/api/", "http://gh2.test/api/"},
		{"github-repo", "a/b", "c/d", func(c config) any { return c.GitHubRepo }, "a/b", "c/d"},
		{"github-token", "envtok", "flagtok", func(c config) any { return c.GitHubToken }, "envtok", "flagtok"},
		{"github-webhook-secret", "s1", "s2", func(c config) any { return c.GitHubWebhookSecret }, "s1", "s2"},
		{"github-concurrency", "7", "8", func(c config) any { return c.GitHubConcurrency }, 7, 8},
		{"github-reconcile-interval", "10m", "0", func(c config) any { return c.ReconcileInterval }, 10 * time.Minute, time.Duration(0)},
		{"github-rate-limit-reserve", "50", "0", func(c config) any { return c.RateLimitReserve }, 50, 0},
		{"legacy-drift-cache", "false", "true", func(c config) any { return c.LegacyDriftCache }, false, true},
		{"jenkins-trigger-url", "http://j.test/t", "http://j.test/u", func(c config) any { return c.JenkinsTriggerURL }, "http://j.test/t", "http://j.test/u"},
		{"jenkins-runs-url", "http://j.test/r", "http://j.test/s", func(c config) any { return c.JenkinsRunsURL }, "http://j.test/r", "http://j.test/s"},
		{"jenkins-token", "j1", "j2", func(c config) any { return c.JenkinsToken }, "j1", "j2"},
		{"memcache", "a:1, b:2", "c:3", func(c config) any { return c.Memcache }, []string{"a:1", "b:2"}, []string{"c:3"}},
		{"drift-ttl", "5m", "30s", func(c config) any { return c.DriftTTL }, 5 * time.Minute, 30 * time.Second},
		{"auth", "openlibrary", "dev", func(c config) any { return c.Auth }, "openlibrary", "dev"},
		{"ol-url", "http://ol.test", "http://ol2.test", func(c config) any { return c.OLURL }, "http://ol.test", "http://ol2.test"},
		{"ol-secret-key-file", "/k1", "/k2", func(c config) any { return c.OLSecretKeyFile }, "/k1", "/k2"},
		{"maintainer-groups", "a,b", "c", func(c config) any { return c.MaintainerGroups }, []string{"a", "b"}, []string{"c"}},
		{"tokens-file", "/t1", "/t2", func(c config) any { return c.TokensFile }, "/t1", "/t2"},
		{"ol-config", "/c1.yml", "/c2.yml", func(c config) any { return c.OLConfig }, "/c1.yml", "/c2.yml"},
		{"ol-checkout", "/ol1", "/ol2", func(c config) any { return c.OLCheckout }, "/ol1", "/ol2"},
		{"base-path", "/a/", "/b", func(c config) any { return c.BasePath }, "/a/", "/b/"},
		{"git-dir", "/g1", "/g2", func(c config) any { return c.GitDir }, "/g1", "/g2"},
		{"git-remote", "upstream", "origin", func(c config) any { return c.GitRemote }, "upstream", "origin"},
		{"git-base-branch", "main", "master", func(c config) any { return c.GitBase }, "main", "master"},
		{"git-fetch-interval", "1h", "0", func(c config) any { return c.GitFetchInterval }, time.Hour, time.Duration(0)},
		{"git-fetch-timeout", "30s", "1m", func(c config) any { return c.GitFetchTimeout }, 30 * time.Second, time.Minute},
		{"log-level", "debug", "error", func(c config) any { return c.LogLevel }, slog.LevelDebug, slog.LevelError},
		{"log-format", "json", "text", func(c config) any { return c.LogFormat }, "json", "text"},
		{"shutdown-timeout", "3s", "4s", func(c config) any { return c.ShutdownTimeout }, 3 * time.Second, 4 * time.Second},
	}
	// Every flag must have a case here.
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.flag] = true
	}
	newFlagSet(&rawFlags{}).VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			t.Errorf("flag --%s has no env test", f.Name)
		}
	})

	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{envName(tt.flag): tt.envValue}
			// --auth openlibrary needs a key file whichever way it is set.
			if tt.flag == "auth" || tt.flag == "ol-secret-key-file" {
				e["TESTINGD_AUTH"] = "openlibrary"
				e["TESTINGD_OL_SECRET_KEY_FILE"] = "/k1"
				e[envName(tt.flag)] = tt.envValue
			}
			got, err := parseConfig(nil, env(e))
			if err != nil {
				t.Fatalf("env %s=%s: %v", envName(tt.flag), tt.envValue, err)
			}
			if diff := cmp.Diff(tt.wantEnv, tt.get(got)); diff != "" {
				t.Errorf("from env (-want +got):\n%s", diff)
			}

			got, err = parseConfig([]string{"--" + tt.flag + "=" + tt.flagVal}, env(e))
			if err != nil {
				t.Fatalf("flag --%s %s: %v", tt.flag, tt.flagVal, err)
			}
			if diff := cmp.Diff(tt.wantFlag, tt.get(got)); diff != "" {
				t.Errorf("flag over env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigGitHubToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"none", nil, nil, ""},
		{"GITHUB_TOKEN", nil, map[string]string{"GITHUB_TOKEN": "plain"}, "plain"},
		{"TESTINGD_GITHUB_TOKEN beats GITHUB_TOKEN", nil, map[string]string{"GITHUB_TOKEN": "plain", "TESTINGD_GITHUB_TOKEN": "prefixed"}, "prefixed"},
		{"flag beats both", []string{"--github-token", "flag"}, map[string]string{"GITHUB_TOKEN": "plain", "TESTINGD_GITHUB_TOKEN": "prefixed"}, "flag"},
		{"flag beats GITHUB_TOKEN", []string{"--github-token=flag"}, map[string]string{"GITHUB_TOKEN": "plain"}, "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseConfig(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GitHubToken != tt.want {
				t.Errorf("GitHubToken = %q, want %q", cfg.GitHubToken, tt.want)
			}
		})
	}
}

func TestParseConfigListenAndAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; empty = valid
	}{
		{"dev on 127.0.0.1", []string{"--listen", "127.0.0.1:8080"}, ""},
		{"dev on 127.1.2.3", []string{"--listen", "127.1.2.3:8080"}, ""},
		{"dev on [::1]", []string{"--listen", "[::1]:8080"}, ""},
		{"dev on localhost", []string{"--listen", "localhost:0"}, ""},
		{"dev on 0.0.0.0", []string{"--listen", "0.0.0.0:8080"}, "loopback"},
		{"dev on empty host", []string{"--listen", ":8080"}, "loopback"},
		{"dev on [::]", []string{"--listen", "[::]:8080"}, "loopback"},
		{"dev on a LAN address", []string{"--listen", "10.1.2.3:80"}, "loopback"},
		{"dev on a host name", []string{"--listen", "example.org:80"}, "loopback"},
		{"dev advice", []string{"--listen", "0.0.0.0:8080"}, "--auth openlibrary"},
		{"listen without port", []string{"--listen", "127.0.0.1"}, "HOST:PORT"},
		{"openlibrary on 0.0.0.0", []string{"--auth", "openlibrary", "--ol-secret-key-file", "/k", "--listen", "0.0.0.0:8080"}, ""},
		{"openlibrary on :8080", []string{"--auth", "openlibrary", "--ol-secret-key-file", "/k", "--listen", ":8080"}, ""},
		{"openlibrary without key file", []string{"--auth", "openlibrary", "--listen", ":8080"}, "--ol-secret-key-file"},
		{"openlibrary without groups", []string{"--auth", "openlibrary", "--ol-secret-key-file", "/k", "--maintainer-groups", " , "}, "--maintainer-groups"},
		{"unknown auth", []string{"--auth", "none"}, "use dev (local development) or openlibrary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tt.args, env(nil))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestParseConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"zero drift ttl", []string{"--drift-ttl", "0s"}, nil, "--drift-ttl 0s must be greater than zero"},
		{"negative drift ttl", []string{"--drift-ttl", "-1m"}, nil, "--drift-ttl -1m0s must be greater than zero"},
		{"bad drift ttl", []string{"--drift-ttl", "soon"}, nil, "drift-ttl"},
		{"bad drift ttl in env", nil, map[string]string{"TESTINGD_DRIFT_TTL": "soon"}, "TESTINGD_DRIFT_TTL"},
		{"zero shutdown timeout", []string{"--shutdown-timeout", "0s"}, nil, "--shutdown-timeout"},
		{"repo without slash", []string{"--github-repo", "openlibrary"}, nil, "OWNER/NAME"},
		{"repo with two slashes", []string{"--github-repo", "a/b/c"}, nil, "OWNER/NAME"},
		{"repo with empty owner", []string{"--github-repo", "/b"}, nil, "OWNER/NAME"},
		{"repo with space", []string{"--github-repo", "a b/c"}, nil, "OWNER/NAME"},
		{"concurrency 0", []string{"--github-concurrency", "0"}, nil, "use 1 to 100"},
		{"concurrency 101", []string{"--github-concurrency", "101"}, nil, "use 1 to 100"},
		{"reconcile too often", []string{"--github-reconcile-interval", "1s"}, nil, "at least 10s"},
		{"reconcile negative", []string{"--github-reconcile-interval", "-1m"}, nil, "--github-reconcile-interval"},
		{"reconcile never", []string{"--github-reconcile-interval", "0"}, nil, ""},
		{"negative reserve", []string{"--github-rate-limit-reserve", "-5"}, nil, "must not be negative"},
		{"legacy cache not a bool", nil, map[string]string{"TESTINGD_LEGACY_DRIFT_CACHE": "sometimes"}, "TESTINGD_LEGACY_DRIFT_CACHE"},
		{"concurrency in env", nil, map[string]string{"TESTINGD_GITHUB_CONCURRENCY": "many"}, "TESTINGD_GITHUB_CONCURRENCY"},
		{"github api url not http", []string{"--github-api-url", "ftp://x/"}, nil, "--github-api-url"},
		{"github api url relative", []string{"--github-api-url", "api.github.com"}, nil, "--github-api-url"},
		{"ol url empty", []string{"--ol-url", ""}, nil, "--ol-url must not be empty"},
		{"jenkins url bad", []string{"--jenkins-trigger-url", "jenkins"}, nil, "--jenkins-trigger-url"},
		{"jenkins url empty is fine", []string{"--jenkins-trigger-url", ""}, nil, ""},
		{"memcache bad server", []string{"--memcache", "a:1,nohost"}, nil, `"nohost" is not HOST:PORT`},
		{"memcache socket", []string{"--memcache", "/run/memcached.sock"}, nil, ""},
		{"base path dotdot", []string{"--base-path", "/a/../b/"}, nil, "'..'"},
		{"base path space", []string{"--base-path", "/a b/"}, nil, "no spaces"},
		{"base path query", []string{"--base-path", "/a?b"}, nil, "'?'"},
		{"base path fragment", []string{"--base-path", "/a#b"}, nil, "'#'"},
		{"log level", []string{"--log-level", "verbose"}, nil, "use debug, info, warn or error"},
		{"log format", []string{"--log-format", "xml"}, nil, "use auto, text or json"},
		{"empty state file", []string{"--state-file", ""}, nil, "--state-file must not be empty"},
		{"git base branch an option", []string{"--git-dir", "/g", "--git-base-branch", "--upload-pack=x"}, nil, "is not a branch name"},
		{"git base branch with space", []string{"--git-dir", "/g", "--git-base-branch", "a b"}, nil, "is not a branch name"},
		{"git remote empty", []string{"--git-dir", "/g", "--git-remote", ""}, nil, "--git-remote must not be empty"},
		{"git fetch interval negative", []string{"--git-fetch-interval", "-1m"}, nil, "must not be negative"},
		{"git fetch timeout zero", []string{"--git-fetch-timeout", "0"}, nil, "--git-fetch-timeout"},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"positional argument", []string{"serve"}, nil, "takes only flags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tt.args, env(tt.env))
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestParseConfigReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := parseConfig([]string{"--drift-ttl", "0s", "--github-repo", "x", "--listen", ":1"}, env(nil))
	for _, want := range []string{"--drift-ttl", "--github-repo", "loopback"} {
		checkErr(t, err, want)
	}
}

func TestParseConfigHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		if _, err := parseConfig([]string{arg}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("parseConfig(%s) = %v, want flag.ErrHelp", arg, err)
		}
	}
	var buf bytes.Buffer
	usage(&buf)
	for _, want := range []string{"--listen", "TESTINGD_LISTEN", "TESTINGD_GITHUB_TOKEN", "GITHUB_TOKEN", "--base-path", "TESTINGD_BASE_PATH", `(default "127.0.0.1:8080")`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage does not mention %q:\n%s", want, buf.String())
		}
	}
}

func TestNormalizeBasePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"//", "/"},
		{"status", "/status/"},
		{"/status/v2", "/status/v2/"},
		{"/status/v2/", "/status/v2/"},
		{"status/v2/", "/status/v2/"},
		{"/status//v2/", "/status/v2/"},
		{"/./status/", "/status/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := normalizeBasePath(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("normalizeBasePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestConfigLogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig([]string{
		"--github-token", "ghp_secret1",
		"--github-webhook-secret", "hook_secret2",
		"--jenkins-token", "jenkins_secret3",
		"--jenkins-trigger-url", "https://user:pass_secret4@jenkins.test/job",
	}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, nil)
			if format == "json" {
				h = slog.NewJSONHandler(&buf, nil)
			}
			slog.New(h).Info("starting", "config", cfg)
			out := buf.String()
			for _, secret := range []string{"ghp_secret1", "hook_secret2", "jenkins_secret3", "pass_secret4"} {
				if strings.Contains(out, secret) {
					t.Errorf("log line leaks %q: %s", secret, out)
				}
			}
			for _, want := range []string{"REDACTED", "127.0.0.1:8080", "internetarchive/openlibrary", "jenkins.test"} {
				if !strings.Contains(out, want) {
					t.Errorf("log line lacks %q: %s", want, out)
				}
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %q does not contain %q", err, want)
	}
}
