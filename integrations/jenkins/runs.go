package jenkins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Stage is one stage of a pipeline run.
type Stage struct {
	Name   string
	Status string // Jenkins' word: SUCCESS, IN_PROGRESS, NOT_EXECUTED, FAILED, …
}

// Run is one run of the monitored deploy job, as the pipeline REST API (wfapi) reports it.
type Run struct {
	ID     string
	Name   string // e.g. "#412"
	Status string // IN_PROGRESS, SUCCESS, FAILURE, ABORTED, UNSTABLE, NOT_EXECUTED, …
	Start  time.Time
	End    time.Time // zero while the run is in progress
	Stages []Stage
}

// CurrentStage returns the name of the first stage in progress, "" when none is.
func (r Run) CurrentStage() string {
	for _, s := range r.Stages {
		if s.Status == "IN_PROGRESS" {
			return s.Name
		}
	}
	return ""
}

// wfRun and wfStage are the wire shapes. Fields that Jenkins has been seen to send as
// either strings or numbers (id) or as null (times) use tolerant types.
type wfRun struct {
	ID              flexString `json:"id"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	StartTimeMillis *int64     `json:"startTimeMillis"`
	EndTimeMillis   *int64     `json:"endTimeMillis"`
	Stages          []wfStage  `json:"stages"`
}

type wfStage struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// flexString accepts a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("field \"id\": got %s, want a string or a number", jsonKind(data))
	}
	*f = flexString(n.String())
	return nil
}

// ParseRuns decodes the wfapi runs list (newest first, as Jenkins sends it). It
// reports what is wrong with data that is not such a list, and never panics.
func ParseRuns(data []byte) ([]Run, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("parse runs: empty body")
	}
	if data[0] != '[' {
		return nil, fmt.Errorf("parse runs: want a JSON list of runs, got %s", jsonKind(data))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse runs: malformed JSON: %v", err)
	}
	runs := make([]Run, 0, len(raw))
	for i, item := range raw {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			return nil, fmt.Errorf("parse runs: run %d: want an object, got %s", i, jsonKind(item))
		}
		var w wfRun
		if err := json.Unmarshal(item, &w); err != nil {
			return nil, fmt.Errorf("parse runs: run %d: %s", i, describe(err))
		}
		run := Run{
			ID:     string(w.ID),
			Name:   w.Name,
			Status: w.Status,
			Start:  millis(w.StartTimeMillis),
			End:    millis(w.EndTimeMillis),
		}
		if len(w.Stages) > 0 {
			run.Stages = make([]Stage, len(w.Stages))
			for j, s := range w.Stages {
				run.Stages[j] = Stage(s)
			}
		}
		runs = append(runs, run)
	}
	return runs, nil
}

func millis(ms *int64) time.Time {
	if ms == nil || *ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(*ms)
}

// describe rewords encoding/json's type errors, which name Go types, in JSON's terms.
func describe(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Type != nil {
		field := typeErr.Field
		if field == "" {
			field = "value"
		}
		return fmt.Sprintf("field %q: got a JSON %s, want %s", field, typeErr.Value, jsonType(typeErr.Type.Kind().String()))
	}
	return err.Error()
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int64", "int":
		return "an integer"
	case "float64":
		return "a number"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return goKind
}

// jsonKind names the kind of JSON value data starts with.
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch c := data[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c == '<':
		return "HTML, not JSON"
	}
	return "something that is not JSON"
}
