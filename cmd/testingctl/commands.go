package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

// options are the command-specific flags (each command registers the ones it takes).
type options struct {
	expectedVersion string
	dryRun, yes     bool
	pr              int
	limit           int
	pageToken       string
	all             bool
	full            bool
}

type command struct {
	name    string
	args    string // synopsis of the positional arguments
	summary string
	detail  string
	rpc     string
	minArgs int
	maxArgs int // -1 = any number
	flags   func(fs *flag.FlagSet, o *options)
	run     func(ctx context.Context, a *app, o *options, args []string) error
	local   bool // needs no server
	quiet   bool // no warnings on stderr (completion helpers)
	hidden  bool
	numbers bool // the arguments are PR numbers of the set (shell completion offers them)
}

// commands, in the order help lists them.
var commands []*command

func init() {
	commands = []*command{
		{name: "status", summary: "show the testing set: rows, drift, plan and deploy state", rpc: "GetStatus", maxArgs: 0, run: runStatus},
		{name: "add", args: "REF...", summary: "add PRs (13269, #13269, a PR URL, or a deploy line; - reads refs from stdin, one per line)",
			rpc: "AddPRs", minArgs: 1, maxArgs: -1, flags: versionFlag, run: runAdd,
			detail: "Each PR is pinned to its current head. The result of each ref is printed; exit code 5 when some\nwere not added (not found, not open, invalid, GitHub unavailable). At most 100 refs per call."},
		{name: "remove", args: "N...", summary: "remove PRs from the set (undo with restore until the next deploy)", rpc: "RemovePRs", minArgs: 1, maxArgs: -1, flags: versionFlag, run: runRemove, numbers: true},
		{name: "restore", args: "N...", summary: "undo removals made since the last deploy", rpc: "RestorePRs", minArgs: 1, maxArgs: -1, flags: versionFlag, run: runRestore, numbers: true},
		stageCommand("enable", testingv1.Stage_STAGE_ENABLE, "switch PRs on at the next deploy"),
		stageCommand("disable", testingv1.Stage_STAGE_DISABLE, "switch PRs off at the next deploy (they stay in the set)"),
		stageCommand("pull-latest", testingv1.Stage_STAGE_PULL_LATEST, "pin PRs to their current GitHub head at the next deploy"),
		stageCommand("unstage", testingv1.Stage_STAGE_UNSTAGE, "drop whatever is staged on PRs"),
		{name: "deploy", summary: "apply the plan and trigger Jenkins (asks first; --yes to skip, --dry-run to only show it)", rpc: "Deploy", maxArgs: 0, run: runDeploy,
			flags: func(fs *flag.FlagSet, o *options) {
				versionFlag(fs, o)
				fs.BoolVar(&o.dryRun, "dry-run", false, "show the plan; change nothing")
				fs.BoolVar(&o.yes, "yes", false, "deploy without asking (required when stdin is not a terminal)")
			},
			detail: `Without --yes, deploy shows the plan and asks for confirmation on the terminal, then
deploys exactly that plan: the deploy carries the version the plan was computed at,
and is refused (exit 3, nothing deployed) if anyone changed the set meanwhile.
Without a terminal, deploy refuses (exit 2) unless --yes is given.`},
		{name: "refresh", args: "[N...]", summary: "forget cached drift (of all PRs, or of N...) and resolve it again", rpc: "EvictDrift", maxArgs: -1, flags: versionFlag, run: runRefresh, numbers: true},
		{name: "events", summary: "the audit trail, newest first", rpc: "ListEvents", maxArgs: 0, run: runEvents,
			flags: func(fs *flag.FlagSet, o *options) {
				fs.IntVar(&o.pr, "pr", 0, "only events that touched PR `N`")
				fs.IntVar(&o.limit, "limit", 0, "events per page, 1–500 (default the server's, 50)")
				fs.StringVar(&o.pageToken, "page-token", "", "continue from a previous page's `token`")
				fs.BoolVar(&o.all, "all", false, "fetch every page")
			}},
		{name: "watch", summary: "show the status live, redrawn on every change (Ctrl-C to stop)", rpc: "WatchStatus", maxArgs: 0, run: runWatch,
			detail: `On a terminal the screen is redrawn on every change; otherwise each status is
printed in turn, separated by a line. With --json, one GetStatusResponse per line
(heartbeats are not printed). When the connection drops after the first status,
watch reconnects by itself. Ctrl-C exits with status 0.`},
		{name: "build-result", summary: "the last deploy's build transcript: which PRs merged, which conflicted", rpc: "GetBuildResult", maxArgs: 0, run: runBuildResult,
			flags: func(fs *flag.FlagSet, o *options) {
				fs.BoolVar(&o.full, "full", false, "also print git's status and each PR's merge output")
			}},
		{name: "conflicts", summary: "which PRs of the next deploy conflict with each other (needs testingd --git-dir)", rpc: "GetConflictMatrix", maxArgs: 0, run: runConflicts,
			detail: `Merges every two PRs active after the next deploy onto the base branch, with git in
testingd's mirror of the repository, and prints each pair that conflicts with the
paths ("#103 × #104: b.txt"), then the PRs left out: those that conflict with the
base branch on their own, and those whose pinned commit is not fetched yet. status
shows what the deploy itself will do (it merges in order, skipping a conflict).
Exit 3 when the server runs without --git-dir; exit 4 when git fails or the matrix is
still being computed (ask again).`},
		{name: "info", summary: "server version, feature flags, and who you are to it", rpc: "GetServerInfo", maxArgs: 0, run: runInfo},
		{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script (see testingctl help completion)", minArgs: 1, maxArgs: 1, local: true, run: runCompletion,
			detail: completionHelp},
		{name: "version", summary: "print testingctl's version", maxArgs: 0, local: true, run: runVersion},
		{name: "help", args: "[COMMAND]", summary: "show help (and the exit codes)", maxArgs: 1, local: true, run: runHelp},
		{name: "__complete", args: "prs", maxArgs: 1, quiet: true, hidden: true, run: runComplete},
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func versionFlag(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.expectedVersion, "expected-version", "", "refuse (exit 3, nothing changed) unless the state is at `VERSION` (from status --json .version)")
}

func stageCommand(name string, stage testingv1.Stage, summary string) *command {
	return &command{
		name: name, args: "N...", summary: summary, rpc: "StagePRs (" + stage.String() + ")",
		minArgs: 1, maxArgs: -1, flags: versionFlag, numbers: true,
		run: func(ctx context.Context, a *app, o *options, args []string) error {
			nums, err := parseNumbers(args)
			if err != nil {
				return err
			}
			ctx, cancel := a.unary(ctx)
			defer cancel()
			res, err := a.client.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: nums, Stage: stage, ExpectedVersion: o.expectedVersion}))
			if err != nil {
				return err
			}
			return a.itemResults(res.Msg, res.Msg.Results, res.Msg.Status)
		},
	}
}

// parseNumber reads a PR number: 13269, #13269 or a PR URL (…/pull/13269…).
func parseNumber(s string) (int32, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if i := strings.Index(t, "/pull/"); i >= 0 {
		t = t[i+len("/pull/"):]
		if j := strings.IndexAny(t, "/?#"); j >= 0 {
			t = t[:j]
		}
	}
	n, err := strconv.ParseInt(t, 10, 32)
	if err != nil || n <= 0 {
		return 0, usageErrorf("%q is not a PR number (want e.g. 13269, #13269 or a PR URL)", s)
	}
	return int32(n), nil
}

func parseNumbers(args []string) ([]int32, error) {
	nums := make([]int32, 0, len(args))
	for _, s := range args {
		n, err := parseNumber(s)
		if err != nil {
			return nil, err
		}
		nums = append(nums, n)
	}
	return nums, nil
}

func runStatus(ctx context.Context, a *app, _ *options, _ []string) error {
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.out, res.Msg)
	}
	renderStatus(a.out, res.Msg, time.Now())
	return nil
}

// readRefs reads refs from r, one per line (blank lines skipped): "add -" for
// `gh pr list …| testingctl add -`.
func readRefs(r io.Reader) ([]string, error) {
	var refs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			refs = append(refs, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read refs from stdin: %w", err)
	}
	if len(refs) == 0 {
		return nil, usageErrorf("add -: no refs on stdin")
	}
	return refs, nil
}

func runAdd(ctx context.Context, a *app, o *options, args []string) error {
	refs := args
	if len(args) == 1 && args[0] == "-" {
		var err error
		if refs, err = readRefs(a.in); err != nil {
			return err
		}
	}
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.AddPRs(ctx, connect.NewRequest(&testingv1.AddPRsRequest{Refs: refs, ExpectedVersion: o.expectedVersion}))
	if err != nil {
		return err
	}
	if a.json {
		if err := writeJSON(a.out, res.Msg); err != nil {
			return err
		}
	} else {
		renderAddResults(a.out, res.Msg)
	}
	failed := 0
	for _, r := range res.Msg.Results {
		if r.Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED && r.Outcome != testingv1.AddOutcome_ADD_OUTCOME_ALREADY_PRESENT {
			failed++
		}
	}
	return incomplete(failed, len(res.Msg.Results), "added")
}

// incomplete is the exit-5 error of a batch of which failed items (of n) were not done.
func incomplete(failed, n int, done string) error {
	if failed == 0 {
		return nil
	}
	return &cliError{exit: exitIncomplete, code: "incomplete", message: fmt.Sprintf("%d of %d not %s (see each line above)", failed, n, done)}
}

// itemResults prints a batch write's results and decides the exit code. Outcomes
// that leave the row as asked (applied, unchanged, already present, head unchanged)
// count as done.
func (a *app) itemResults(msg proto.Message, results []*testingv1.ItemResult, st *testingv1.GetStatusResponse) error {
	if a.json {
		if err := writeJSON(a.out, msg); err != nil {
			return err
		}
	} else {
		renderItemResults(a.out, results, st)
	}
	failed := 0
	for _, r := range results {
		switch r.Outcome {
		case testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED, testingv1.ItemOutcome_ITEM_OUTCOME_UNCHANGED,
			testingv1.ItemOutcome_ITEM_OUTCOME_ALREADY_PRESENT, testingv1.ItemOutcome_ITEM_OUTCOME_HEAD_UNCHANGED:
		default:
			failed++
		}
	}
	return incomplete(failed, len(results), "applied")
}

func runRemove(ctx context.Context, a *app, o *options, args []string) error {
	nums, err := parseNumbers(args)
	if err != nil {
		return err
	}
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.RemovePRs(ctx, connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: nums, ExpectedVersion: o.expectedVersion}))
	if err != nil {
		return err
	}
	return a.itemResults(res.Msg, res.Msg.Results, res.Msg.Status)
}

func runRestore(ctx context.Context, a *app, o *options, args []string) error {
	nums, err := parseNumbers(args)
	if err != nil {
		return err
	}
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.RestorePRs(ctx, connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: nums, ExpectedVersion: o.expectedVersion}))
	if err != nil {
		return err
	}
	return a.itemResults(res.Msg, res.Msg.Results, res.Msg.Status)
}

func runRefresh(ctx context.Context, a *app, o *options, args []string) error {
	nums, err := parseNumbers(args)
	if err != nil {
		return err
	}
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.EvictDrift(ctx, connect.NewRequest(&testingv1.EvictDriftRequest{Numbers: nums, ExpectedVersion: o.expectedVersion}))
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.out, res.Msg)
	}
	renderStatus(a.out, res.Msg.Status, time.Now())
	return nil
}

func runEvents(ctx context.Context, a *app, o *options, _ []string) error {
	if o.pr < 0 || o.pr > math.MaxInt32 {
		return usageErrorf("--pr %d is not a PR number", o.pr)
	}
	if o.limit < 0 || o.limit > 500 {
		return usageErrorf("--limit %d: want 1–500", o.limit)
	}
	req := &testingv1.ListEventsRequest{PageSize: int32(o.limit), PageToken: o.pageToken, Number: int32(o.pr)}
	all := &testingv1.ListEventsResponse{}
	for {
		cctx, cancel := a.unary(ctx)
		res, err := a.client.ListEvents(cctx, connect.NewRequest(req))
		cancel()
		if err != nil {
			return err
		}
		all.Events = append(all.Events, res.Msg.Events...)
		all.NextPageToken = res.Msg.NextPageToken
		if !o.all || res.Msg.NextPageToken == "" {
			break
		}
		req.PageToken = res.Msg.NextPageToken
	}
	if a.json {
		return writeJSON(a.out, all)
	}
	next := "testingctl events"
	if o.pr != 0 {
		next += " --pr " + strconv.Itoa(o.pr)
	}
	if o.limit != 0 {
		next += " --limit " + strconv.Itoa(o.limit)
	}
	renderEvents(a.out, all, next)
	return nil
}

func runBuildResult(ctx context.Context, a *app, o *options, _ []string) error {
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.GetBuildResult(ctx, connect.NewRequest(&testingv1.GetBuildResultRequest{}))
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.out, res.Msg)
	}
	renderBuildResult(a.out, res.Msg, o.full, time.Now())
	return nil
}

func runInfo(ctx context.Context, a *app, _ *options, _ []string) error {
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.GetServerInfo(ctx, connect.NewRequest(&testingv1.GetServerInfoRequest{}))
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(a.out, res.Msg)
	}
	renderInfo(a.out, res.Msg, a.conn.baseURL+" ("+a.conn.protocol+")", time.Now())
	return nil
}

func runVersion(_ context.Context, a *app, _ *options, _ []string) error {
	version, revision := "devel", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if revision != "" {
		version += " (" + short(revision) + ")"
	}
	fmt.Fprintf(a.out, "testingctl %s\n", version)
	return nil
}

func runHelp(_ context.Context, a *app, _ *options, args []string) error {
	if len(args) == 0 {
		a.printUsage(a.out)
		return nil
	}
	c := lookup(args[0])
	if c == nil || c.hidden {
		return usageErrorf("help: unknown command %q (see testingctl help)", args[0])
	}
	a.printHelp(a.out, c)
	return nil
}
