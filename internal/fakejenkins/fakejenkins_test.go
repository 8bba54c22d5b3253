package fakejenkins_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/internal/fakejenkins"
)

func get(t *testing.T, fake *fakejenkins.Server, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestDefaultRunsAreTheFixture(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("../../integrations/jenkins/testdata/wfapi-runs.json")
	if err != nil {
		t.Skip("fixture copy not found:", err)
	}
	if !bytes.Equal(fixture, fakejenkins.DefaultRuns) {
		t.Error("DefaultRuns differ from the fixture")
	}
}

func TestRunsPathEscapings(t *testing.T) {
	t.Parallel()
	fake := fakejenkins.New(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
	}{
		{"as configured", "/job/ol-dev1-deploy%20(internal)/wfapi/runs?fullStages=true", 200},
		{"parentheses escaped too", "/job/ol-dev1-deploy%20%28internal%29/wfapi/runs", 200},
		{"another job", "/job/ol-dev1-deploy/wfapi/runs", 404},
		{"plus is not a space in a path", "/job/ol-dev1-deploy+(internal)/wfapi/runs", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, fake, fake.URL+tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 200 && !bytes.Equal(body, fakejenkins.DefaultRuns) {
				t.Errorf("body is not the default runs: %s", body)
			}
		})
	}
	if got := fake.RunsCount(); got != 2 {
		t.Errorf("RunsCount() = %d, want 2", got)
	}
}

func TestSetRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"string", `[{"id": "1"}]`, `[{"id": "1"}]`},
		{"bytes", []byte("not json"), "not json"},
		{"runs", []jenkins.Run{{ID: "5", Name: "#5", Status: "SUCCESS", Start: time.UnixMilli(1000), End: time.UnixMilli(3000), Stages: []jenkins.Stage{{Name: "a", Status: "SUCCESS"}}}},
			`[{"id":"5","name":"#5","status":"SUCCESS","startTimeMillis":1000,"endTimeMillis":3000,"durationMillis":2000,"stages":[{"id":"1","name":"a","status":"SUCCESS","startTimeMillis":0,"durationMillis":0}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := fakejenkins.New(t)
			fake.SetRuns(tt.v)
			if _, body := get(t, fake, fake.RunsURL()); string(body) != tt.want {
				t.Errorf("body %s, want %s", body, tt.want)
			}
		})
	}
}

func TestTriggers(t *testing.T) {
	t.Parallel()
	fake := fakejenkins.New(t)
	url := fake.TriggerURL() + "?token=tok&GH_REPO_AND_BRANCH=origin+pull%2F1%2Fhead++%23+x%0Aorigin+pull%2F2%2Fhead++%23+y"
	steps := []struct {
		status       int // 0 = default
		wantStatus   int
		wantLocation string
	}{
		{0, 201, "/queue/item/1001/"},
		{201, 201, "/queue/item/1002/"},
		{303, 303, "/queue/item/1002/"},
		{403, 403, ""},
		{500, 500, ""},
	}
	for _, s := range steps {
		if s.status != 0 {
			fake.SetTriggerStatus(s.status)
		}
		resp, _ := get(t, fake, url)
		if resp.StatusCode != s.wantStatus {
			t.Errorf("status %d, want %d", resp.StatusCode, s.wantStatus)
		}
		want := ""
		if s.wantLocation != "" {
			want = fake.URL + s.wantLocation
		}
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("Location %q, want %q", got, want)
		}
	}
	triggers := fake.Triggers()
	if len(triggers) != len(steps) {
		t.Fatalf("%d triggers recorded, want %d", len(triggers), len(steps))
	}
	if tr := triggers[0]; tr.Token != "tok" || tr.Lines != "origin pull/1/head  # x\norigin pull/2/head  # y" || tr.Status != 201 {
		t.Errorf("trigger recorded as %+v", tr)
	}

	fake.SetTriggerStatus(201)
	fake.SetToken("right")
	if resp, _ := get(t, fake, url); resp.StatusCode != 403 {
		t.Errorf("wrong token: %d, want 403", resp.StatusCode)
	}
}

func TestKnobs(t *testing.T) {
	t.Parallel()
	t.Run("FailAll", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		fake.FailAll(503)
		for _, u := range []string{fake.RunsURL(), fake.TriggerURL() + "?token=t"} {
			if resp, _ := get(t, fake, u); resp.StatusCode != 503 {
				t.Errorf("%s: %d, want 503", u, resp.StatusCode)
			}
		}
		fake.Heal()
		if resp, _ := get(t, fake, fake.RunsURL()); resp.StatusCode != 200 {
			t.Errorf("after Heal: %d", resp.StatusCode)
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		fake.Garbage(true)
		if _, body := get(t, fake, fake.RunsURL()); bytes.HasPrefix(body, []byte("[")) {
			t.Errorf("garbage looks like a list: %s", body)
		}
	})
	t.Run("SetLatency", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		fake.SetLatency(100 * time.Millisecond)
		start := time.Now()
		get(t, fake, fake.RunsURL())
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
	})
	t.Run("Hang", func(t *testing.T) {
		t.Parallel()
		fake := fakejenkins.New(t)
		fake.Hang()
		client := fake.Client()
		client.Timeout = 100 * time.Millisecond
		if _, err := client.Get(fake.RunsURL()); err == nil {
			t.Fatal("a hanging request got an answer")
		}
	})
}
