package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// envPrefix is prepended to a flag's upper-cased name (with '-' → '_') to
// form the environment variable that can also set it.
const envPrefix = "TESTINGD_"

// config is everything testingd reads from its command line and environment.
// The flags are the contract of API.md ("The server's command line"); the
// acceptance checks and deployments start the server with them.
type config struct {
	Listen          string
	StateFile       string
	BuildStatusFile string

	GitHubAPIURL        string // always ends with "/"
	GitHubRepo          string // owner/name
	GitHubToken         string // secret
	GitHubWebhookSecret string // secret
	GitHubConcurrency   int
	// ReconcileInterval: how often every PR of the set is re-checked on GitHub with
	// conditional requests (the safety net under webhooks); 0 = never.
	ReconcileInterval time.Duration
	// RateLimitReserve: requests of the GitHub budget kept for people (see drift.Options.Reserve).
	RateLimitReserve int
	// LegacyDriftCache: keep memcached's status.github_pr_drift in the legacy format
	// (only with --memcache).
	LegacyDriftCache bool

	JenkinsTriggerURL string
	JenkinsRunsURL    string
	JenkinsToken      string // secret

	Memcache []string // host:port or socket paths; empty = in-process cache
	DriftTTL time.Duration

	Auth             string // authDev or authOpenLibrary
	OLURL            string
	OLSecretKeyFile  string
	MaintainerGroups []string
	TokensFile       string
	OLConfig         string
	OLCheckout       string

	BasePath string // starts and ends with "/"

	// GitDir is a bare clone of the repository for the deploy prediction; "" = off.
	GitDir           string
	GitRemote        string // the remote of GitDir PRs are fetched from
	GitBase          string // the branch the deploy starts from
	GitFetchInterval time.Duration
	GitFetchTimeout  time.Duration

	LogLevel        slog.Level
	LogFormat       string // logFormatAuto, logFormatText or logFormatJSON
	ShutdownTimeout time.Duration
}

const (
	authDev         = "dev"
	authOpenLibrary = "openlibrary"

	logFormatAuto = "auto"
	logFormatText = "text"
	logFormatJSON = "json"
)

// rawFlags holds flag values as typed by the person, before validation turns
// them into a config.
type rawFlags struct {
	listen, stateFile, buildStatusFile                         string
	githubAPIURL, githubRepo, githubToken, githubWebhookSecret string
	reconcileInterval                                          time.Duration
	rateLimitReserve                                           int
	legacyDriftCache                                           bool
	githubConcurrency                                          int
	jenkinsTriggerURL, jenkinsRunsURL, jenkinsToken            string
	memcache                                                   string
	driftTTL                                                   time.Duration
	auth, olURL, olSecretKeyFile, maintainerGroups, tokensFile string
	olConfig, olCheckout, basePath, logLevel, logFormat        string
	shutdownTimeout                                            time.Duration
	gitDir, gitRemote, gitBase                                 string
	gitFetchInterval, gitFetchTimeout                          time.Duration
}

// newFlagSet declares every flag. It is shared by parseConfig and usage so
// that -h always lists exactly what is parsed.
func newFlagSet(r *rawFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("testingd", flag.ContinueOnError)
	// parseConfig returns errors instead of printing them; main decides
	// where they go.
	fs.SetOutput(io.Discard)

	fs.StringVar(&r.listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&r.stateFile, "state-file", "_testing-prs.json", "the shared state file")
	fs.StringVar(&r.buildStatusFile, "build-status-file", "_dev-merged_status.txt", "the deploy's build transcript")
	fs.StringVar(&r.githubAPIURL, "github-api-url", "https://api.github.com/", "GitHub REST base URL")
	fs.StringVar(&r.githubRepo, "github-repo", "internetarchive/openlibrary", "GitHub repository, as owner/name")
	fs.StringVar(&r.githubToken, "github-token", "", "GitHub API `token` (env GITHUB_TOKEN too); empty = anonymous")
	fs.StringVar(&r.githubWebhookSecret, "github-webhook-secret", "", "`secret` of GitHub webhooks; enables POST BASE/webhooks/github")
	fs.IntVar(&r.githubConcurrency, "github-concurrency", 100, "maximum concurrent GitHub requests (1..100)")
	fs.DurationVar(&r.reconcileInterval, "github-reconcile-interval", 5*time.Minute, "how often every PR of the set is re-checked on GitHub with conditional requests, catching lost webhooks; 0 = never")
	fs.IntVar(&r.rateLimitReserve, "github-rate-limit-reserve", 100, "GitHub requests kept for people: at or below this many left (or a fifth of the limit), nothing is asked in the background and cached data is shown")
	fs.BoolVar(&r.legacyDriftCache, "legacy-drift-cache", true, "with --memcache, keep the legacy page's drift cache (status.github_pr_drift) up to date and refresh when it evicts it")
	fs.StringVar(&r.jenkinsTriggerURL, "jenkins-trigger-url", "https://jenkins.openlibrary.org/job/testing-deploy/buildWithParameters", "Jenkins URL that triggers a testing deploy")
	fs.StringVar(&r.jenkinsRunsURL, "jenkins-runs-url", "https://jenkins.openlibrary.org/job/ol-dev1-deploy%20(internal)/wfapi/runs?fullStages=true", "Jenkins URL listing the deploy job's runs")
	fs.StringVar(&r.jenkinsToken, "jenkins-token", "", "Jenkins `token`; empty = deploy unconfigured")
	fs.StringVar(&r.memcache, "memcache", "", "comma-separated memcached `servers`; empty = in-process cache")
	fs.DurationVar(&r.driftTTL, "drift-ttl", 60*time.Second, "how long resolved drift is fresh")
	fs.StringVar(&r.auth, "auth", authDev, "`mode`: dev (every caller is a maintainer; loopback addresses only) or openlibrary")
	fs.StringVar(&r.olURL, "ol-url", "https://openlibrary.org", "Open Library URL usergroups are read from (/usergroup/NAME.json)")
	fs.StringVar(&r.olSecretKeyFile, "ol-secret-key-file", "", "`file` holding Open Library's session secret (for --auth openlibrary)")
	fs.StringVar(&r.maintainerGroups, "maintainer-groups", "maintainers,admin", "comma-separated usergroups whose members are maintainers")
	fs.StringVar(&r.tokensFile, "tokens-file", "", "`file` of bearer tokens for bots and the CLI: one 'NAME SHA256HEX' per line")
	fs.StringVar(&r.olConfig, "ol-config", "", "Open Library's openlibrary.yml `file`, for the feature-flag table")
	fs.StringVar(&r.olCheckout, "ol-checkout", "", "`directory` of an Open Library checkout, for its revision in GetServerInfo")
	fs.StringVar(&r.basePath, "base-path", "/", "serve everything under this `prefix` (e.g. /status/v2/)")
	fs.StringVar(&r.gitDir, "git-dir", "", "a bare clone of the repository (`git clone --bare`) in which the next deploy's merges are predicted with git; empty = no prediction")
	fs.StringVar(&r.gitRemote, "git-remote", "origin", "the `remote` of --git-dir that PRs and the base branch are fetched from")
	fs.StringVar(&r.gitBase, "git-base-branch", "master", "the `branch` the deploy merges the PRs onto")
	fs.DurationVar(&r.gitFetchInterval, "git-fetch-interval", 10*time.Minute, "how often --git-dir fetches the set's PRs and the base branch (also after webhooks and new pins); 0 = only then")
	fs.DurationVar(&r.gitFetchTimeout, "git-fetch-timeout", 2*time.Minute, "bound of one git fetch into --git-dir")
	fs.StringVar(&r.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&r.logFormat, "log-format", logFormatAuto, "log `format`: auto (text on a terminal, JSON otherwise), text or json")
	fs.DurationVar(&r.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may finish after SIGTERM")
	return fs
}

// envName is the environment variable that can also set the named flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usage writes the help text, naming each flag's environment twin.
func usage(w io.Writer) {
	fs := newFlagSet(&rawFlags{})
	fmt.Fprintf(w, `Usage: testingd [flags]

testingd serves Open Library's testing deployments over Connect, gRPC and
gRPC-Web, with its web UI, on one port.

Every flag can also be set by an environment variable (shown in brackets);
a flag given on the command line wins over its variable.

`)
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s  [%s]\n    \t%s", line, envName(f.Name), help)
		if f.DefValue != "" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseConfig reads the flags in args (without the program name), falling back
// to TESTINGD_* variables from getenv, and validates the result. It returns
// flag.ErrHelp for -h/--help. Every other error is a usage error whose message
// says what to change.
func parseConfig(args []string, getenv func(string) string) (config, error) {
	var r rawFlags
	fs := newFlagSet(&r)

	// Environment first, so that flags parsed afterwards override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			// Only numbers and durations can fail to parse, so echoing
			// the value never shows a secret.
			envErr = errors.Join(envErr, fmt.Errorf("environment variable %s=%q: invalid value for --%s: %w", envName(f.Name), v, f.Name, err))
		}
	})
	if envErr != nil {
		return config{}, envErr
	}
	if r.githubToken == "" {
		r.githubToken = getenv("GITHUB_TOKEN")
	}

	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q: testingd takes only flags", fs.Arg(0))
	}
	return r.validate()
}

// validate turns raw flag values into a config, or explains what is wrong
// with all of them at once.
func (r rawFlags) validate() (config, error) {
	cfg := config{
		Listen:              r.listen,
		StateFile:           r.stateFile,
		BuildStatusFile:     r.buildStatusFile,
		GitHubToken:         r.githubToken,
		GitHubWebhookSecret: r.githubWebhookSecret,
		GitHubConcurrency:   r.githubConcurrency,
		ReconcileInterval:   r.reconcileInterval,
		RateLimitReserve:    r.rateLimitReserve,
		LegacyDriftCache:    r.legacyDriftCache,
		JenkinsToken:        r.jenkinsToken,
		Memcache:            splitList(r.memcache),
		DriftTTL:            r.driftTTL,
		Auth:                r.auth,
		OLSecretKeyFile:     r.olSecretKeyFile,
		MaintainerGroups:    splitList(r.maintainerGroups),
		TokensFile:          r.tokensFile,
		OLConfig:            r.olConfig,
		OLCheckout:          r.olCheckout,
		ShutdownTimeout:     r.shutdownTimeout,
		GitDir:              r.gitDir,
		GitRemote:           r.gitRemote,
		GitBase:             r.gitBase,
		GitFetchInterval:    r.gitFetchInterval,
		GitFetchTimeout:     r.gitFetchTimeout,
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	if r.stateFile == "" {
		check(errors.New("--state-file must not be empty"))
	}
	if r.buildStatusFile == "" {
		check(errors.New("--build-status-file must not be empty"))
	}

	host, err := listenHost(r.listen)
	check(err)
	switch r.auth {
	case authDev:
		if err == nil && !isLoopback(host) {
			check(fmt.Errorf("--auth dev makes every caller a maintainer, so it only serves on a loopback address, and --listen %q is not one: "+
				"listen on 127.0.0.1:PORT (or [::1]:PORT, localhost:PORT), or use --auth openlibrary", r.listen))
		}
	case authOpenLibrary:
		if r.olSecretKeyFile == "" {
			check(errors.New("--auth openlibrary needs --ol-secret-key-file: the file holding Open Library's session secret, used to verify session cookies"))
		}
		if len(cfg.MaintainerGroups) == 0 {
			check(errors.New("--auth openlibrary needs at least one --maintainer-groups usergroup (e.g. maintainers,admin)"))
		}
	default:
		check(fmt.Errorf("--auth %q is not a mode: use dev (local development) or openlibrary", r.auth))
	}

	cfg.GitHubAPIURL, err = httpURL("--github-api-url", r.githubAPIURL, false)
	check(err)
	if err == nil && !strings.HasSuffix(cfg.GitHubAPIURL, "/") {
		// Relative API paths are resolved against it, which drops the last
		// path segment unless it ends with a slash.
		cfg.GitHubAPIURL += "/"
	}
	cfg.GitHubRepo, err = githubRepo(r.githubRepo)
	check(err)
	if r.reconcileInterval < 0 || (r.reconcileInterval > 0 && r.reconcileInterval < 10*time.Second) {
		check(fmt.Errorf("--github-reconcile-interval %s: use 0 (never) or at least 10s", r.reconcileInterval))
	}
	if r.rateLimitReserve < 0 {
		check(fmt.Errorf("--github-rate-limit-reserve %d must not be negative", r.rateLimitReserve))
	}
	if r.githubConcurrency < 1 || r.githubConcurrency > 100 {
		check(fmt.Errorf("--github-concurrency %d is out of range: use 1 to 100", r.githubConcurrency))
	}
	cfg.JenkinsTriggerURL, err = httpURL("--jenkins-trigger-url", r.jenkinsTriggerURL, true)
	check(err)
	cfg.JenkinsRunsURL, err = httpURL("--jenkins-runs-url", r.jenkinsRunsURL, true)
	check(err)
	cfg.OLURL, err = httpURL("--ol-url", r.olURL, false)
	check(err)

	for _, server := range cfg.Memcache {
		if strings.HasPrefix(server, "/") {
			continue // a unix socket
		}
		if _, _, err := net.SplitHostPort(server); err != nil {
			check(fmt.Errorf("--memcache server %q is not HOST:PORT (or an absolute socket path)", server))
		}
	}

	if r.gitDir != "" {
		if r.gitRemote == "" {
			check(errors.New("--git-remote must not be empty with --git-dir"))
		}
		if r.gitBase == "" || strings.HasPrefix(r.gitBase, "-") || strings.ContainsAny(r.gitBase, " \t\n:~^?*[\\") {
			check(fmt.Errorf("--git-base-branch %q is not a branch name", r.gitBase))
		}
	}
	if r.gitFetchInterval < 0 {
		check(fmt.Errorf("--git-fetch-interval %s must not be negative (0 = only after webhooks and new pins)", r.gitFetchInterval))
	}
	check(positive("--git-fetch-timeout", r.gitFetchTimeout))
	check(positive("--drift-ttl", r.driftTTL))
	check(positive("--shutdown-timeout", r.shutdownTimeout))

	cfg.BasePath, err = normalizeBasePath(r.basePath)
	check(err)

	switch strings.ToLower(r.logLevel) {
	case "debug":
		cfg.LogLevel = slog.LevelDebug
	case "info":
		cfg.LogLevel = slog.LevelInfo
	case "warn", "warning":
		cfg.LogLevel = slog.LevelWarn
	case "error":
		cfg.LogLevel = slog.LevelError
	default:
		check(fmt.Errorf("--log-level %q is not a level: use debug, info, warn or error", r.logLevel))
	}
	switch cfg.LogFormat = strings.ToLower(r.logFormat); cfg.LogFormat {
	case logFormatAuto, logFormatText, logFormatJSON:
	default:
		check(fmt.Errorf("--log-format %q is not a format: use auto, text or json", r.logFormat))
	}

	if len(errs) > 0 {
		return config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// listenHost returns the host part of a listen address.
func listenHost(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "", fmt.Errorf("--listen %q is not HOST:PORT (e.g. 127.0.0.1:8080)", listen)
	}
	return host, nil
}

// isLoopback reports whether host only ever reaches this machine. An empty
// host or an unspecified address (0.0.0.0, ::) listens on every interface, so
// it is not loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return addr.Unmap().IsLoopback()
}

// httpURL checks that s is an absolute http(s) URL. Empty is allowed only
// when optional.
func httpURL(flagName, s string, optional bool) (string, error) {
	if s == "" {
		if optional {
			return "", nil
		}
		return "", fmt.Errorf("%s must not be empty", flagName)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s %q is not an absolute http:// or https:// URL", flagName, redactURL(s))
	}
	return s, nil
}

// repoPart is what GitHub allows in an owner or repository name.
var repoPart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func githubRepo(s string) (string, error) {
	owner, name, ok := strings.Cut(s, "/")
	if !ok || !repoPart.MatchString(owner) || !repoPart.MatchString(name) || name == "." || name == ".." {
		return "", fmt.Errorf("--github-repo %q is not OWNER/NAME (e.g. internetarchive/openlibrary)", s)
	}
	return s, nil
}

func positive(flagName string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s %s must be greater than zero (e.g. 30s, 2m)", flagName, d)
	}
	return nil
}

// normalizeBasePath makes p start and end with "/" ("" and "/" mean the root).
// It refuses what would make the prefix ambiguous once it is in a URL.
func normalizeBasePath(p string) (string, error) {
	if strings.ContainsAny(p, "?#") || strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("--base-path %q must be a plain URL path: no spaces, '?' or '#' (e.g. /status/v2/)", p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("--base-path %q must not contain '..' (e.g. /status/v2/)", p)
		}
	}
	p = path.Clean("/" + p)
	if p != "/" {
		p += "/"
	}
	return p, nil
}

// splitList splits a comma-separated flag value, trimming spaces and dropping
// empty entries.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// redactURL hides a password in a URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// redacted stands in for a secret in logs, saying only whether it is set.
func redacted(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}

// LogValue implements slog.LogValuer, so the config can be logged whole at
// startup without leaking tokens or secrets.
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen),
		slog.String("base_path", c.BasePath),
		slog.String("auth", c.Auth),
		slog.String("state_file", c.StateFile),
		slog.String("build_status_file", c.BuildStatusFile),
		slog.String("github_api_url", redactURL(c.GitHubAPIURL)),
		slog.String("github_repo", c.GitHubRepo),
		slog.String("github_token", redacted(c.GitHubToken)),
		slog.String("github_webhook_secret", redacted(c.GitHubWebhookSecret)),
		slog.Int("github_concurrency", c.GitHubConcurrency),
		slog.String("jenkins_trigger_url", redactURL(c.JenkinsTriggerURL)),
		slog.String("jenkins_runs_url", redactURL(c.JenkinsRunsURL)),
		slog.String("jenkins_token", redacted(c.JenkinsToken)),
		slog.String("memcache", strings.Join(c.Memcache, ",")),
		slog.String("drift_ttl", c.DriftTTL.String()),
		slog.String("ol_url", redactURL(c.OLURL)),
		slog.String("ol_secret_key_file", c.OLSecretKeyFile),
		slog.String("maintainer_groups", strings.Join(c.MaintainerGroups, ",")),
		slog.String("tokens_file", c.TokensFile),
		slog.String("ol_config", c.OLConfig),
		slog.String("ol_checkout", c.OLCheckout),
		slog.String("git_dir", c.GitDir),
		slog.String("git_remote", c.GitRemote),
		slog.String("git_base_branch", c.GitBase),
		slog.String("git_fetch_interval", c.GitFetchInterval.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
	)
}
