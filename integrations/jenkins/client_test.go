package jenkins_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/internal/fakejenkins"
)

const token = "jenkins-S3CRET+token/with&chars"

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newClient returns a client of fake whose log is checked for the token at the end.
func newClient(t *testing.T, fake *fakejenkins.Server, mod func(*jenkins.Options)) *jenkins.Client {
	t.Helper()
	logs := &syncBuffer{}
	opts := jenkins.Options{
		RunsURL:    fake.RunsURL(),
		TriggerURL: fake.TriggerURL(),
		Token:      token,
		Timeout:    30 * time.Second, // generous: CI machines are busy; timeout tests set their own
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := jenkins.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if leaks(logs.String()) {
			t.Errorf("the token appears in the log:\n%s", logs.String())
		}
	})
	return c
}

// leaks reports whether s holds the token, raw or URL-encoded.
func leaks(s string) bool {
	return strings.Contains(s, token) || strings.Contains(s, "S3CRET")
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    jenkins.Options
		wantErr bool
	}{
		{"nothing", jenkins.Options{}, false},
		{"both URLs", jenkins.Options{RunsURL: "https://jenkins.openlibrary.org/job/ol-dev1-deploy%20(internal)/wfapi/runs?fullStages=true", TriggerURL: "https://jenkins.openlibrary.org/job/testing-deploy/buildWithParameters"}, false},
		{"relative runs URL", jenkins.Options{RunsURL: "/job/x/wfapi/runs"}, true},
		{"bad trigger URL", jenkins.Options{TriggerURL: "http://%zz"}, true},
		{"token in trigger URL", jenkins.Options{TriggerURL: "https://j/job/x/buildWithParameters?token=abc"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := jenkins.New(tt.opts); (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts jenkins.Options
		want bool
	}{
		{"token and URL", jenkins.Options{Token: "t", TriggerURL: "http://j/b"}, true},
		{"no token", jenkins.Options{TriggerURL: "http://j/b"}, false},
		{"no trigger URL", jenkins.Options{Token: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := jenkins.New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Configured(); got != tt.want {
				t.Errorf("Configured() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuns(t *testing.T) {
	t.Parallel()
	t.Run("fixture by default", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		runs, err := newClient(t, fake, nil).Runs(t.Context())
		if err != nil {
			t.Fatalf("Runs: %v", err)
		}
		if len(runs) != 2 || runs[0].ID != "412" || runs[0].CurrentStage() != "components" || runs[1].Status != "SUCCESS" {
			t.Errorf("Runs = %+v, want the fixture", runs)
		}
		reqs := fake.Requests()
		if len(reqs) != 1 || reqs[0].Path != fakejenkins.RunsPath || reqs[0].Query != "fullStages=true" {
			t.Errorf("requests = %+v, want one GET of the runs path with fullStages=true", reqs)
		}
	})
	t.Run("runs set on the fake", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		want := []jenkins.Run{
			{ID: "9", Name: "#9", Status: "IN_PROGRESS", Start: time.UnixMilli(1700000000000), Stages: []jenkins.Stage{{"Checkout", "SUCCESS"}, {"deploy", "IN_PROGRESS"}}},
			{ID: "8", Name: "#8", Status: "FAILURE", Start: time.UnixMilli(1690000000000), End: time.UnixMilli(1690000100000), Stages: []jenkins.Stage{{"Checkout", "FAILED"}}},
		}
		fake.SetRuns(want)
		got, err := newClient(t, fake, nil).Runs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestRunsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(*fakejenkins.Server)
		opts    func(*jenkins.Options)
		want    error
		wantMsg string
	}{
		{name: "down", setup: func(f *fakejenkins.Server) { f.Close() }, want: jenkins.ErrUnavailable, wantMsg: "unreachable"},
		{name: "500", setup: func(f *fakejenkins.Server) { f.FailAll(500) }, want: jenkins.ErrUnavailable, wantMsg: "status 500"},
		{name: "503", setup: func(f *fakejenkins.Server) { f.FailAll(503) }, want: jenkins.ErrUnavailable, wantMsg: "status 503"},
		{name: "403", setup: func(f *fakejenkins.Server) { f.FailAll(403) }, want: jenkins.ErrUnavailable, wantMsg: "status 403"},
		{name: "garbage", setup: func(f *fakejenkins.Server) { f.Garbage(true) }, want: jenkins.ErrUnavailable, wantMsg: "garbage"},
		{name: "not a list", setup: func(f *fakejenkins.Server) { f.SetRuns(`{"runs": []}`) }, want: jenkins.ErrUnavailable, wantMsg: "garbage"},
		{
			name: "hang", setup: func(f *fakejenkins.Server) { f.Hang() },
			opts: func(o *jenkins.Options) { o.Timeout = 100 * time.Millisecond }, want: jenkins.ErrUnavailable, wantMsg: "timed out",
		},
		{name: "no runs URL", opts: func(o *jenkins.Options) { o.RunsURL = "" }, want: jenkins.ErrUnconfigured},
		{
			name: "wrong path", opts: func(o *jenkins.Options) { o.RunsURL = strings.Replace(o.RunsURL, "%20(internal)", "", 1) },
			want: jenkins.ErrUnavailable, wantMsg: "status 404",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakejenkins.New(t)
			if tt.setup != nil {
				tt.setup(fake)
			}
			c := newClient(t, fake, tt.opts)
			start := time.Now()
			runs, err := c.Runs(t.Context())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Runs = %v, %v; want %v", runs, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v, want a quick failure", d)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	lines := []string{jenkins.DeployLine(13269, "Test PR"), jenkins.DeployLine(13270, "Fix a&b = c # 100% + more")}
	tests := []struct {
		name      string
		status    int // what the fake answers; 0 = leave the default (201)
		setup     func(*fakejenkins.Server)
		opts      func(*jenkins.Options)
		want      error
		wantMsg   string
		wantQueue string // path of the queue URL
		wantSent  bool   // whether a request reached the fake
	}{
		{name: "201 queued", status: 201, wantQueue: "/queue/item/1001/", wantSent: true},
		{name: "303 already queued", status: 303, wantQueue: "/queue/item/1000/", wantSent: true},
		{name: "403 refused", status: 403, want: jenkins.ErrRefused, wantMsg: "status 403", wantSent: true},
		{name: "404 refused", status: 404, want: jenkins.ErrRefused, wantMsg: "status 404", wantSent: true},
		{name: "302 to a login page", status: 302, want: jenkins.ErrRefused, wantMsg: "status 302", wantSent: true},
		{name: "wrong token", setup: func(f *fakejenkins.Server) { f.SetToken("another") }, want: jenkins.ErrRefused, wantMsg: "status 403", wantSent: true},
		{name: "500", status: 500, want: jenkins.ErrUnavailable, wantMsg: "status 500", wantSent: true},
		{name: "502", setup: func(f *fakejenkins.Server) { f.FailAll(502) }, want: jenkins.ErrUnavailable, wantMsg: "status 502", wantSent: true},
		{name: "unreachable", setup: func(f *fakejenkins.Server) { f.Close() }, want: jenkins.ErrUnavailable, wantMsg: "unreachable"},
		{
			name: "hang", setup: func(f *fakejenkins.Server) { f.Hang() }, opts: func(o *jenkins.Options) { o.Timeout = 100 * time.Millisecond },
			want: jenkins.ErrUnavailable, wantMsg: "timed out",
		},
		{name: "no token", opts: func(o *jenkins.Options) { o.Token = "" }, want: jenkins.ErrUnconfigured},
		{name: "no trigger URL", opts: func(o *jenkins.Options) { o.TriggerURL = "" }, want: jenkins.ErrUnconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakejenkins.New(t)
			if tt.status != 0 {
				fake.SetTriggerStatus(tt.status)
			}
			if tt.setup != nil {
				tt.setup(fake)
			}
			c := newClient(t, fake, tt.opts)
			queue, err := c.Trigger(t.Context(), lines)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Trigger = %q, %v; want %v", queue, err, tt.want)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not say %q", err, tt.wantMsg)
				}
				if leaks(err.Error()) {
					t.Errorf("error %q leaks the token", err)
				}
				for _, other := range []error{jenkins.ErrRefused, jenkins.ErrUnavailable, jenkins.ErrUnconfigured} {
					if other != tt.want && errors.Is(err, other) {
						t.Errorf("error %v also matches %v", err, other)
					}
				}
			} else {
				if err != nil {
					t.Fatalf("Trigger: %v", err)
				}
				if want := fake.URL + tt.wantQueue; queue != want {
					t.Errorf("queue URL = %q, want %q", queue, want)
				}
			}
			triggers := fake.Triggers()
			if sent := len(triggers) > 0; sent != tt.wantSent {
				t.Fatalf("request sent = %v, want %v", sent, tt.wantSent)
			}
			if tt.wantSent {
				if got := triggers[0]; got.Token != token || got.Lines != strings.Join(lines, "\n") || got.Method != http.MethodGet {
					t.Errorf("Jenkins got %+v, want GET with the token and the lines", got)
				}
			}
		})
	}
}

// The query is exactly what legacy sends: the token, then the lines joined by "\n",
// form-encoded.
func TestTriggerQueryEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		triggerQS string // a query already on the trigger URL
		lines     []string
		want      string
	}{
		{
			name:  "two lines",
			lines: []string{"origin pull/1/head  # Fix a&b", "origin pull/2/head  # 100% + more"},
			want:  "token=jenkins-S3CRET%2Btoken%2Fwith%26chars&GH_REPO_AND_BRANCH=origin+pull%2F1%2Fhead++%23+Fix+a%26b%0Aorigin+pull%2F2%2Fhead++%23+100%25+%2B+more",
		},
		{
			name:  "unicode and equals",
			lines: []string{"origin pull/3/head  # Ünïcode = ok?"},
			want:  "token=jenkins-S3CRET%2Btoken%2Fwith%26chars&GH_REPO_AND_BRANCH=origin+pull%2F3%2Fhead++%23+%C3%9Cn%C3%AFcode+%3D+ok%3F",
		},
		{
			name:  "nothing to deploy",
			lines: nil,
			want:  "token=jenkins-S3CRET%2Btoken%2Fwith%26chars&GH_REPO_AND_BRANCH=",
		},
		{
			name:      "existing query kept",
			triggerQS: "?delay=0sec",
			lines:     []string{"origin pull/4/head  # x"},
			want:      "delay=0sec&token=jenkins-S3CRET%2Btoken%2Fwith%26chars&GH_REPO_AND_BRANCH=origin+pull%2F4%2Fhead++%23+x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakejenkins.New(t)
			c := newClient(t, fake, func(o *jenkins.Options) { o.TriggerURL += tt.triggerQS })
			if _, err := c.Trigger(t.Context(), tt.lines); err != nil {
				t.Fatal(err)
			}
			got := fake.Triggers()
			if len(got) != 1 {
				t.Fatalf("%d triggers, want 1", len(got))
			}
			if got[0].Query != tt.want {
				t.Errorf("query\n got %s\nwant %s", got[0].Query, tt.want)
			}
			if got[0].Lines != strings.Join(tt.lines, "\n") {
				t.Errorf("GH_REPO_AND_BRANCH decoded = %q", got[0].Lines)
			}
		})
	}
}

// Redirects other than the 303 answer are not followed either: the token must not travel.
func TestTriggerDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	fake := fakejenkins.New(t)
	fake.SetTriggerStatus(303)
	c := newClient(t, fake, func(o *jenkins.Options) {
		o.HTTPClient = &http.Client{} // default CheckRedirect would follow
	})
	if _, err := c.Trigger(t.Context(), []string{"origin pull/1/head  # x"}); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests reached Jenkins, want 1 (the 303 not followed)", n)
	}
}

func TestTriggerCallerCancels(t *testing.T) {
	t.Parallel()
	fake := fakejenkins.New(t)
	fake.Hang()
	c := newClient(t, fake, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Trigger(ctx, nil)
	if !errors.Is(err, jenkins.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrUnavailable and context.Canceled", err)
	}
	if leaks(err.Error()) {
		t.Errorf("error %q leaks the token", err)
	}
}

func TestDeployLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		number int
		title  string
		want   string
	}{
		{"plain", 13269, "Test PR", "origin pull/13269/head  # Test PR"},
		{"empty title", 1, "", "origin pull/1/head  # "},
		{"newline", 2, "first\nsecond", "origin pull/2/head  # first second"},
		{"CRLF", 3, "first\r\nsecond\rthird", "origin pull/3/head  # first second third"},
		{"hash in title", 4, "Fix #123", "origin pull/4/head  # Fix #123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := jenkins.DeployLine(tt.number, tt.title); got != tt.want {
				t.Errorf("DeployLine(%d, %q) = %q, want %q", tt.number, tt.title, got, tt.want)
			}
		})
	}
}
