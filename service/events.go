package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/persistence"
)

const maxPageSize = 500

var eventKinds = map[string]testingv1.EventKind{
	"add":           testingv1.EventKind_EVENT_KIND_ADD,
	"remove":        testingv1.EventKind_EVENT_KIND_REMOVE,
	"restore":       testingv1.EventKind_EVENT_KIND_RESTORE,
	"stage":         testingv1.EventKind_EVENT_KIND_STAGE,
	"deploy":        testingv1.EventKind_EVENT_KIND_DEPLOY,
	"deploy_failed": testingv1.EventKind_EVENT_KIND_DEPLOY_FAILED,
	"evict_drift":   testingv1.EventKind_EVENT_KIND_EVICT_DRIFT,
}

var eventStages = map[string]testingv1.Stage{}

func init() {
	for stage, name := range stageNames {
		eventStages[name] = stage
	}
}

// ListEvents pages through the audit trail, newest first.
func (s *Server) ListEvents(ctx context.Context, req *connect.Request[testingv1.ListEventsRequest]) (*connect.Response[testingv1.ListEventsResponse], error) {
	if _, err := s.requireMaintainer(ctx, req.Header()); err != nil {
		return nil, err
	}
	m := req.Msg
	switch {
	case m.PageSize < 0 || m.PageSize > maxPageSize:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("page_size must be between 0 (default 50) and %d", maxPageSize))
	case m.Number < 0:
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("number must be a PR number, or 0 for all"))
	}
	events, next, err := s.audit.List(ctx, int(m.PageSize), m.PageToken, int(m.Number))
	if errors.Is(err, persistence.ErrBadPageToken) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("page_token is not one this server gave out; start again without it"))
	}
	if err != nil {
		return nil, s.connectError(ctx, err)
	}
	out := &testingv1.ListEventsResponse{NextPageToken: next}
	for _, ev := range events {
		out.Events = append(out.Events, eventProto(ev))
	}
	return connect.NewResponse(out), nil
}

// eventProto converts one audit-trail line.
func eventProto(ev persistence.Event) *testingv1.Event {
	p := &testingv1.Event{
		Id:              ev.ID,
		Time:            timestamp(ev.Time, true),
		Actor:           ev.Actor,
		Kind:            eventKinds[ev.Kind],
		Stage:           eventStages[ev.Stage],
		JenkinsQueueUrl: ev.JenkinsQueueURL,
		Error:           ev.Error,
	}
	switch ev.Outcome {
	case "triggered":
		p.DeployOutcome = testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED
	case "unconfigured":
		p.DeployOutcome = testingv1.DeployOutcome_DEPLOY_OUTCOME_UNCONFIGURED
	}
	var touched []string
	for _, pr := range ev.PRs {
		e := &testingv1.EventPullRequest{Number: int32(pr.Number), Title: pr.Title}
		switch {
		case pr.After != nil:
			e.Commit, e.Active = pr.After.Commit, pr.After.Active
			if pr.After.PullLatestSHA != "" && ev.Kind == "stage" {
				e.Commit = pr.After.PullLatestSHA
			}
		case pr.Before != nil:
			e.Commit, e.Active = pr.Before.Commit, pr.Before.Active
		}
		p.Prs = append(p.Prs, e)
		if pr.Result == "" || pr.Result == "added" || pr.Result == "removed" || pr.Result == "restored" || pr.Result == "applied" || pr.Result == "deployed" {
			touched = append(touched, fmt.Sprintf("#%d", pr.Number))
		}
	}
	p.Summary = summary(ev, touched)
	return p
}

// summary is a line a person reads: "dev deployed #1, #2 (triggered)".
func summary(ev persistence.Event, touched []string) string {
	verb := map[string]string{
		"add": "added", "remove": "removed", "restore": "restored", "stage": "staged " + strings.ReplaceAll(ev.Stage, "_", " ") + " on",
		"deploy": "deployed", "deploy_failed": "tried to deploy", "evict_drift": "refreshed drift of",
	}[ev.Kind]
	if verb == "" {
		verb = ev.Kind
	}
	what := strings.Join(touched, ", ")
	switch {
	case what == "" && ev.Kind == "evict_drift":
		what = "every PR"
	case what == "" && ev.Kind == "deploy":
		what = "an empty set"
	case what == "":
		what = "nothing (no change applied)"
	}
	line := fmt.Sprintf("%s %s %s", ev.Actor, verb, what)
	switch {
	case ev.Kind == "deploy" && ev.Outcome == "unconfigured":
		line += " (Jenkins unconfigured: nothing was deployed)"
	case ev.Error != "":
		line += ": " + ev.Error
	}
	return line
}
