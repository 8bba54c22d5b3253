package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

// jsonOptions is the --json shape: protojson with the proto's lowerCamelCase names,
// enums by name, timestamps as RFC 3339 strings, and every field present (zero
// values, [] and null included), so a script never has to tell "absent" from
// "false" or "0".
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// writeJSON prints m as indented JSON. protojson varies its whitespace on purpose;
// the output is re-indented so that it is stable.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// writeJSONLine prints m as one line of JSON (for watch's stream of statuses).
func writeJSONLine(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// enumWord turns CHANGE_KIND_PULL_LATEST-style names into "pull latest".
func enumWord(name, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, prefix)), "_", " ")
}

func changeWord(k testingv1.ChangeKind) string {
	if k == testingv1.ChangeKind_CHANGE_KIND_UNSPECIFIED {
		return "-"
	}
	return enumWord(k.String(), "CHANGE_KIND_")
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// when renders a timestamp as local time with how long ago it was; "never" when unset.
func when(ts *timestamppb.Timestamp, now time.Time) string {
	if ts == nil {
		return "never"
	}
	t := ts.AsTime().Local()
	return t.Format("2006-01-02 15:04 MST") + " (" + ago(t, now) + ")"
}

func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < -time.Minute:
		return "in " + roundDuration(-d)
	case d < 5*time.Second:
		return "just now"
	default:
		return roundDuration(d) + " ago"
	}
}

func roundDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
}

// renderStatus prints the testing section as GetStatus returns it: the deploy state,
// the rows and the plan.
func renderStatus(w io.Writer, st *testingv1.GetStatusResponse, now time.Time) {
	inSet, leaving, removed := 0, 0, 0
	for _, p := range st.Prs {
		switch {
		case p.InSet:
			inSet++
		case p.Removed:
			removed++
		default:
			leaving++
		}
	}
	fmt.Fprintf(w, "Testing set: %d PR(s)", inSet)
	if removed > 0 {
		fmt.Fprintf(w, "; %d removed since the last deploy (testingctl restore N brings one back)", removed)
	}
	if leaving > 0 {
		fmt.Fprintf(w, "; %d no longer in the set but still on the box until the next deploy", leaving)
	}
	fmt.Fprintf(w, "  [version %s]\n", st.Version)

	tw := newTable(w)
	fmt.Fprintf(tw, "Last deploy:\t%s\n", when(st.LastDeployAt, now))
	fmt.Fprintf(tw, "Jenkins:\t%s\n", jenkinsLine(st, now))
	drift := "resolved " + when(st.DriftResolvedAt, now)
	if st.DriftResolvedAt == nil {
		drift = "not resolved yet"
	}
	if st.DriftStale {
		drift += "  STALE: " + cmpOr(st.DriftError, "older data shown")
	}
	fmt.Fprintf(tw, "Drift:\t%s\n", drift)
	if g := st.Github; g != nil && g.RateLimit > 0 {
		line := fmt.Sprintf("%d/%d requests left", g.RateRemaining, g.RateLimit)
		if g.RateReset != nil {
			line += ", resets " + g.RateReset.AsTime().Local().Format("15:04 MST")
		}
		if g.BudgetLow {
			line += " (LOW: no background refresh until then)"
		}
		if g.WebhooksEnabled {
			line += "; webhooks on"
			if g.LastWebhookAt != nil {
				line += ", last delivery " + ago(g.LastWebhookAt.AsTime(), now)
			}
		}
		fmt.Fprintf(tw, "GitHub:\t%s\n", line)
	}
	if line := mirrorLine(st.MergePrediction, now); line != "" {
		fmt.Fprintf(tw, "Git mirror:\t%s\n", line)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)

	if len(st.Prs) == 0 {
		fmt.Fprintln(w, "No PRs in the testing set. Add some with: testingctl add 13269 '#13270' https://github.com/…/pull/13271")
	} else {
		// MERGE (the predicted merge of the next deploy) only when the server
		// predicts: without --git-dir the table stays as it was.
		merge := predicted(st.Prs)
		tw = newTable(w)
		if merge {
			fmt.Fprintln(tw, "PR\tON\tPIN\tDRIFT\tNEXT\tMERGE\tFLAGS\tTITLE")
		} else {
			fmt.Fprintln(tw, "PR\tON\tPIN\tDRIFT\tNEXT\tFLAGS\tTITLE")
		}
		for _, p := range st.Prs {
			next := changeWord(p.Action)
			if merge {
				next += "\t" + mergeWord(p, st.MergePrediction)
			}
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Number, onWord(p), pinWord(p), driftWord(p), next, flagsWord(p), titleWord(p))
		}
		_ = tw.Flush()
	}
	if st.MergePrediction.GetState() != testingv1.MergePredictionState_MERGE_PREDICTION_STATE_UNSPECIFIED {
		fmt.Fprintln(w)
		renderPrediction(w, st.MergePrediction, st.Prs, false)
	}
	if len(st.MergeConflicts) > 0 {
		nums := make([]string, len(st.MergeConflicts))
		for i, n := range st.MergeConflicts {
			nums[i] = "#" + strconv.Itoa(int(n))
		}
		fmt.Fprintf(w, "\nThe last build failed to merge %s (testingctl build-result).\n", strings.Join(nums, ", "))
	}
	fmt.Fprintln(w)
	renderPlan(w, st.PendingChanges, "Next deploy")
	if st.HasPending {
		fmt.Fprintln(w, "Apply it with: testingctl deploy")
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func jenkinsLine(st *testingv1.GetStatusResponse, now time.Time) string {
	var parts []string
	if !st.JenkinsConfigured {
		parts = append(parts, "NOT CONFIGURED (deploy advances the state but deploys nothing)")
	}
	run := ""
	if st.DeployRunId != "" {
		run = "run #" + st.DeployRunId + " "
	}
	switch {
	case st.Deploying:
		s := "deploying: " + run + cmpOr(st.DeployResult, "queued")
		if st.DeployStage != "" {
			s += ", stage " + st.DeployStage
		}
		if st.DeployStartedAt != nil {
			s += ", started " + ago(st.DeployStartedAt.AsTime(), now)
		}
		parts = append(parts, s)
	case st.DeployResult != "":
		s := run + st.DeployResult
		if st.DeployFinishedAt != nil {
			s += ", finished " + when(st.DeployFinishedAt, now)
		}
		parts = append(parts, s)
	default:
		parts = append(parts, "no run known")
	}
	if st.DeployStateGuessed {
		parts = append(parts, "(Jenkins unreachable: guessed)")
	}
	if st.JenkinsUrl != "" {
		parts = append(parts, st.JenkinsUrl)
	}
	return strings.Join(parts, "; ")
}

func onWord(p *testingv1.PullRequest) string {
	if !p.InSet {
		return "-"
	}
	word := map[bool]string{true: "on", false: "off"}
	s := word[p.Active]
	if p.PendingActive != nil && *p.PendingActive != p.Active {
		s += "→" + word[*p.PendingActive]
	}
	return s
}

func pinWord(p *testingv1.PullRequest) string {
	s := cmpOr(short(p.Commit), "-")
	if p.PullLatestSha != "" {
		s += "→" + short(p.PullLatestSha)
	}
	return s
}

func driftWord(p *testingv1.PullRequest) string {
	switch {
	case p.Merged || p.Closed:
		return "-"
	case p.Drift < 0:
		return "?"
	case p.Diverged:
		return fmt.Sprintf("%d, diverged", p.Drift)
	case p.Drift == 0:
		return "current"
	default:
		return fmt.Sprintf("%d behind", p.Drift)
	}
}

func flagsWord(p *testingv1.PullRequest) string {
	var f []string
	if p.IsNew {
		f = append(f, "new")
	}
	if p.Merged {
		f = append(f, "merged")
	}
	if p.Closed {
		f = append(f, "closed")
	}
	switch {
	case p.Removed:
		f = append(f, "removed")
	case !p.InSet:
		f = append(f, "leaving")
	}
	if p.Mergeable == testingv1.Mergeable_MERGEABLE_CONFLICTING {
		f = append(f, "conflicts")
	}
	if p.MergeConflict {
		f = append(f, "merge-failed")
	}
	if len(f) == 0 {
		return "-"
	}
	return strings.Join(f, ",")
}

func titleWord(p *testingv1.PullRequest) string {
	s := clip(p.Title, 60)
	if p.Author != "" {
		s += " (@" + p.Author + ")"
	}
	return s
}

// renderPlan prints a plan (GetStatus's pending_changes or Deploy's applied).
func renderPlan(w io.Writer, plan []*testingv1.PendingChange, title string) {
	if len(plan) == 0 {
		fmt.Fprintf(w, "%s: nothing to change.\n", title)
		return
	}
	fmt.Fprintf(w, "%s: %d change(s)\n", title, len(plan))
	tw := newTable(w)
	for _, c := range plan {
		detail := cmpOr(c.Detail, c.Reason)
		fmt.Fprintf(tw, "  %s\t#%d\t%s\t%s\n", changeWord(c.Kind), c.Number, cmpOr(detail, "-"), clip(c.Title, 70))
	}
	_ = tw.Flush()
}

// planSummary is the one line a write prints after its results.
func planSummary(st *testingv1.GetStatusResponse) string {
	if st == nil {
		return ""
	}
	if !st.HasPending {
		return "Next deploy: nothing to change."
	}
	return fmt.Sprintf("Next deploy: %d change(s); see them with testingctl status, apply with testingctl deploy.", len(st.PendingChanges))
}

func renderAddResults(w io.Writer, res *testingv1.AddPRsResponse) {
	tw := newTable(w)
	for _, r := range res.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", clip(r.Ref, 50), enumWord(r.Outcome.String(), "ADD_OUTCOME_"), r.Message)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, planSummary(res.Status))
}

func renderItemResults(w io.Writer, results []*testingv1.ItemResult, st *testingv1.GetStatusResponse) {
	tw := newTable(w)
	for _, r := range results {
		fmt.Fprintf(tw, "#%d\t%s\t%s\n", r.Number, enumWord(r.Outcome.String(), "ITEM_OUTCOME_"), r.Message)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, planSummary(st))
}

func renderEvents(w io.Writer, res *testingv1.ListEventsResponse, nextCmd string) {
	if len(res.Events) == 0 {
		fmt.Fprintln(w, "No events.")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "TIME\tWHO\tWHAT\tPRS\tSUMMARY")
	for _, e := range res.Events {
		prs := make([]string, 0, len(e.Prs))
		for _, p := range e.Prs {
			prs = append(prs, "#"+strconv.Itoa(int(p.Number)))
		}
		what := enumWord(e.Kind.String(), "EVENT_KIND_")
		if e.Stage != testingv1.Stage_STAGE_UNSPECIFIED {
			what += " " + enumWord(e.Stage.String(), "STAGE_")
		}
		summary := e.Summary
		if e.Error != "" {
			summary += " (" + e.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.AsTime().Local().Format("2006-01-02 15:04:05"), e.Actor, what, clip(strings.Join(prs, " "), 40), summary)
	}
	_ = tw.Flush()
	if res.NextPageToken != "" {
		fmt.Fprintf(w, "Older events: %s --page-token %s\n", nextCmd, res.NextPageToken)
	}
}

func renderBuildResult(w io.Writer, res *testingv1.GetBuildResultResponse, full bool, now time.Time) {
	if !res.Exists {
		fmt.Fprintln(w, "No build transcript yet: nothing has been deployed on this server.")
		return
	}
	fmt.Fprintf(w, "Last build (transcript written %s)\n", when(res.ModifiedAt, now))
	if full && res.GitStatus != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(res.GitStatus, "\n"))
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "PR\tRESULT\tNAME\tSTATUS")
	for _, p := range res.Prs {
		result := "merged"
		switch {
		case p.MergeConflict:
			result = "CONFLICT"
		case p.Skipped:
			result = "skipped"
		}
		num := "?"
		if p.Number > 0 {
			num = "#" + strconv.Itoa(int(p.Number))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", num, result, clip(p.Name, 50), clip(p.Status, 70))
	}
	_ = tw.Flush()
	if full {
		for _, p := range res.Prs {
			fmt.Fprintf(w, "\n--- %s\n%s\n", p.PullLine, strings.TrimRight(p.Body, "\n"))
		}
	}
	if res.Footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(res.Footer, "\n"))
	}
	if res.Truncated {
		fmt.Fprintln(w, "(the transcript was too long; only its start was read)")
	}
	if res.GithubUrl != "" {
		fmt.Fprintf(w, "All these PRs on GitHub: %s\n", res.GithubUrl)
	}
}

func renderInfo(w io.Writer, res *testingv1.GetServerInfoResponse, server string, now time.Time) {
	tw := newTable(w)
	rev := res.VcsRevision
	if rev != "" && res.VcsModified {
		rev += " (modified)"
	}
	fmt.Fprintf(tw, "Server:\t%s\n", server)
	fmt.Fprintf(tw, "Version:\ttestingd %s\n", cmpOr(res.ServiceVersion, "unknown"))
	if rev != "" {
		fmt.Fprintf(tw, "Revision:\t%s\n", rev)
	}
	fmt.Fprintf(tw, "Go:\t%s\n", res.GoVersion)
	fmt.Fprintf(tw, "Host:\t%s\n", res.Host)
	fmt.Fprintf(tw, "Started:\t%s\n", when(res.StartTime, now))
	if res.OlRevision != "" {
		fmt.Fprintf(tw, "Open Library:\t%s\n", res.OlRevision)
	}
	if v := res.Viewer; v != nil {
		who := "not signed in"
		if v.SignedIn {
			role := "not a maintainer"
			if v.Maintainer {
				role = "maintainer"
			}
			who = v.Username + " (" + role + ")"
		}
		fmt.Fprintf(tw, "You:\t%s; auth mode %s\n", who, v.AuthMode)
	}
	if res.ConfigError != "" {
		fmt.Fprintf(tw, "Config:\t%s\n", res.ConfigError)
	}
	_ = tw.Flush()
	if len(res.Features) > 0 {
		fmt.Fprintln(w, "\nFeature flags:")
		tw = newTable(w)
		for _, f := range res.Features {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Value)
		}
		_ = tw.Flush()
	}
}
