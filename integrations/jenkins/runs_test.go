package jenkins_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/internetarchive/testingd/integrations/jenkins"
)

func TestParseRuns(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("testdata/wfapi-runs.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        string
		want      []jenkins.Run
		wantStage []string // CurrentStage of each run
	}{
		{
			name: "fixture",
			in:   string(fixture),
			want: []jenkins.Run{
				{
					ID: "412", Name: "#412", Status: "IN_PROGRESS", Start: time.UnixMilli(1787085957516),
					Stages: []jenkins.Stage{
						{Name: "Checkout", Status: "SUCCESS"},
						{Name: "js", Status: "SUCCESS"},
						{Name: "components", Status: "IN_PROGRESS"},
						{Name: "deploy", Status: "NOT_EXECUTED"},
					},
				},
				{
					ID: "411", Name: "#411", Status: "SUCCESS", Start: time.UnixMilli(1787080000000), End: time.UnixMilli(1787080069982),
					Stages: []jenkins.Stage{{Name: "Checkout", Status: "SUCCESS"}},
				},
			},
			wantStage: []string{"components", ""},
		},
		{name: "no runs yet", in: "[]", want: []jenkins.Run{}},
		{name: "surrounding whitespace", in: " \n[]\n", want: []jenkins.Run{}},
		{
			name:      "numeric id, null times, no stages",
			in:        `[{"id": 7, "name": "#7", "status": "NOT_EXECUTED", "startTimeMillis": null, "endTimeMillis": null}]`,
			want:      []jenkins.Run{{ID: "7", Name: "#7", Status: "NOT_EXECUTED"}},
			wantStage: []string{""},
		},
		{
			name:      "unknown fields ignored",
			in:        `[{"id": "1", "status": "FAILURE", "_links": {"self": {"href": "/x"}}, "queueDurationMillis": 5, "stages": [{"name": "a", "status": "FAILED", "error": {"message": "boom"}}]}]`,
			want:      []jenkins.Run{{ID: "1", Status: "FAILURE", Stages: []jenkins.Stage{{Name: "a", Status: "FAILED"}}}},
			wantStage: []string{""},
		},
		{
			name:      "negative times are no times",
			in:        `[{"id": "1", "status": "IN_PROGRESS", "startTimeMillis": -5, "endTimeMillis": 0, "stages": [{"name": "a", "status": "IN_PROGRESS"}, {"name": "b", "status": "IN_PROGRESS"}]}]`,
			want:      []jenkins.Run{{ID: "1", Status: "IN_PROGRESS", Stages: []jenkins.Stage{{Name: "a", Status: "IN_PROGRESS"}, {Name: "b", Status: "IN_PROGRESS"}}}},
			wantStage: []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := jenkins.ParseRuns([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseRuns: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			for i, want := range tt.wantStage {
				if got := got[i].CurrentStage(); got != want {
					t.Errorf("run %d: CurrentStage() = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestParseRunsGarbage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantMsg string // a part of the error that tells what is wrong
	}{
		{"empty", "", "empty"},
		{"blank", "  \n", "empty"},
		{"object", `{"runs": []}`, "got an object"},
		{"null", "null", "got null"},
		{"number", "42", "got a number"},
		{"string", `"runs"`, "got a string"},
		{"HTML", "<html><body>Jenkins is starting</body></html>", "HTML"},
		{"truncated", `[{"id": "412", "status": "IN_PR`, "malformed JSON"},
		{"trailing garbage", `[] []`, "malformed JSON"},
		{"list of numbers", `[1, 2]`, "run 0: want an object, got a number"},
		{"null run", `[{"id": "1"}, null]`, "run 1: want an object, got null"},
		{"status a number", `[{"status": 5}]`, `"status"`},
		{"id an object", `[{"id": {}}]`, `"id"`},
		{"time a string", `[{"startTimeMillis": "yesterday"}]`, `"startTimeMillis"`},
		{"time a float", `[{"startTimeMillis": 1.5}]`, `"startTimeMillis"`},
		{"stages an object", `[{"stages": {"name": "x"}}]`, `"stages"`},
		{"stage a string", `[{"stages": ["x"]}]`, `stages`},
		{"stage name a list", `[{"stages": [{"name": []}]}]`, `name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runs, err := jenkins.ParseRuns([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseRuns(%q) = %+v, want an error", tt.in, runs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseRuns(%q) error = %q, want it to mention %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

func TestCurrentStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stages []jenkins.Stage
		want   string
	}{
		{"no stages", nil, ""},
		{"all done", []jenkins.Stage{{"a", "SUCCESS"}, {"b", "SUCCESS"}}, ""},
		{"first in progress wins", []jenkins.Stage{{"a", "SUCCESS"}, {"b", "IN_PROGRESS"}, {"c", "IN_PROGRESS"}}, "b"},
		{"paused is not in progress", []jenkins.Stage{{"a", "PAUSED_PENDING_INPUT"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (jenkins.Run{Stages: tt.stages}).CurrentStage(); got != tt.want {
				t.Errorf("CurrentStage() = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseRuns(f *testing.F) {
	if data, err := os.ReadFile("testdata/wfapi-runs.json"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{"", "[]", "null", "{}", `[{"id": 1}]`, `[{"stages": [{"name": "a", "status": "IN_PROGRESS"}]}]`, `[{"startTimeMillis": 9223372036854775807}]`, `[[[[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runs, err := jenkins.ParseRuns(data)
		if err != nil {
			if runs != nil {
				t.Fatalf("runs %+v along with error %v", runs, err)
			}
			return
		}
		for _, r := range runs {
			if st := r.CurrentStage(); st != "" {
				found := false
				for _, s := range r.Stages {
					found = found || (s.Name == st && s.Status == "IN_PROGRESS")
				}
				if !found {
					t.Fatalf("CurrentStage %q is not a stage in progress", st)
				}
			}
		}
	})
}
