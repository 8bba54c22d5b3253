package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

var protocols = []string{"connect", "grpc"}

func row(t *testing.T, st *testingv1.GetStatusResponse, n int32) *testingv1.PullRequest {
	t.Helper()
	for _, p := range st.Prs {
		if p.Number == n {
			return p
		}
	}
	return nil
}

func numbers(st *testingv1.GetStatusResponse) []int32 {
	var out []int32
	for _, p := range st.Prs {
		if p.InSet {
			out = append(out, p.Number)
		}
	}
	return out
}

func TestUsage(t *testing.T) {
	t.Parallel()
	// No server is needed to refuse a command line: these never connect (a closed
	// port would make them exit 4, not 2).
	noServer := []string{"TESTINGCTL_SERVER=http://127.0.0.1:1"}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{"help lists commands and exit codes", []string{"help"}, 0, "Exit codes:", ""},
		{"help of a command", []string{"help", "deploy"}, 0, "--dry-run", ""},
		{"-h of a command", []string{"events", "-h"}, 0, "-pr N", ""},
		{"--help alone", []string{"--help"}, 0, "TESTINGCTL_TOKEN", ""},
		{"no command", nil, 2, "", "Commands:"},
		{"unknown command", []string{"stats"}, 2, "", `did you mean "status"?`},
		{"unknown flag", []string{"status", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"missing argument", []string{"remove"}, 2, "", "missing argument N"},
		{"not a number", []string{"remove", "abc"}, 2, "", `"abc" is not a PR number`},
		{"extra argument", []string{"status", "now"}, 2, "", "takes no arguments"},
		{"bad protocol", []string{"--protocol", "http3", "status"}, 2, "", "use connect or grpc"},
		{"bad server", []string{"--server", "ftp://example.org", "status"}, 2, "", "scheme must be http or https"},
		{"token in the URL", []string{"--server", "http://me:secret@127.0.0.1:1/", "status"}, 2, "", "TESTINGCTL_TOKEN"},
		{"bad limit", []string{"events", "--limit", "501"}, 2, "", "want 1–500"},
		{"unknown shell", []string{"completion", "tcsh"}, 2, "", "use bash, zsh or fish"},
		{"deploy without a terminal", []string{"deploy"}, 2, "", "pass --yes"},
		{"version", []string{"version"}, 0, "testingctl ", ""},
		{"json usage error", []string{"--json", "remove", "x"}, 2, "", `"code":"usage"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, noServer, "", c.args...).must(t, c.code, strings.Join(c.args, " "))
			if !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Errorf("stdout %q does not contain %q, or stderr %q does not contain %q", r.stdout, c.stdout, r.stderr, c.stderr)
			}
		})
	}
	t.Run("help names every command", func(t *testing.T) {
		t.Parallel()
		r := runCtl(t, noServer, "", "help").must(t, 0, "help")
		for _, name := range []string{"status", "add", "remove", "restore", "enable", "disable", "pull-latest", "unstage", "deploy", "refresh", "events", "watch", "build-result", "info", "completion"} {
			if !strings.Contains(r.stdout, "\n  "+name) {
				t.Errorf("help does not list %s:\n%s", name, r.stdout)
			}
		}
		for _, code := range []string{"\n  0 ", "\n  2 ", "\n  3 ", "\n  4 ", "\n  5 "} {
			if !strings.Contains(r.stdout, code) {
				t.Errorf("help does not document exit code %q", strings.TrimSpace(code))
			}
		}
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var st testingv1.GetStatusResponse
			w.ctl(t, "--protocol", proto, "status", "--json").must(t, 0, "status --json").parse(t, &st)
			if got, want := numbers(&st), []int32{13238, 13240, 13269}; !slices.Equal(got, want) {
				t.Errorf("rows in the set = %v, want %v", got, want)
			}
			if p := row(t, &st, 13238); p == nil || p.Drift != 3 || p.HeadSha != head1 || p.Action != testingv1.ChangeKind_CHANGE_KIND_PIN {
				t.Errorf("row 13238 = %v; want drift 3 at %s, next PIN", p, head1)
			}
			var plan []string
			for _, c := range st.PendingChanges {
				plan = append(plan, c.Kind.String()+" "+c.Detail+c.Reason)
			}
			if want := []string{"CHANGE_KIND_ADD 1d23364", "CHANGE_KIND_PIN 9f8e7d6", "CHANGE_KIND_REMOVE dropped", "CHANGE_KIND_REMOVE merged"}; !slices.Equal(plan, want) {
				t.Errorf("plan = %q, want %q", plan, want)
			}
			if !st.Deploying || st.DeployRunId != "412" || !st.JenkinsConfigured || st.Version == "" {
				t.Errorf("deploying %v, run %q, jenkins configured %v, version %q", st.Deploying, st.DeployRunId, st.JenkinsConfigured, st.Version)
			}

			// Columns are aligned with spaces: compare with single spaces.
			human := squeeze(w.ctl(t, "--protocol", proto, "status").must(t, 0, "status").stdout)
			for _, want := range []string{
				"Testing set: 3 PR(s); 1 no longer in the set but still on the box until the next deploy",
				"PR ON PIN DRIFT NEXT FLAGS TITLE",
				"#13111 - - ? remove leaving Old PR since removed",
				"#13238 on 0e710e2→9f8e7d6 3 behind pin - Fix search facets fallback (@mekarpeles)",
				"#13240 on→off 5a0c7e1 - remove merged Unified icon system (@cdrini)",
				"#13269 on 1d23364 current add new Test PR (@author)",
				"deploying: run #412 IN_PROGRESS, stage components",
				"Next deploy: 4 change(s)",
				"add #13269 1d23364 Test PR",
				"remove #13240 merged Unified icon system",
				"The last build failed to merge #13370",
				"Apply it with: testingctl deploy",
			} {
				if !strings.Contains(human, want) {
					t.Errorf("status does not show %q:\n%s", want, human)
				}
			}
		})
	}
}

// TestJSONShape checks what scripts rely on: every field of the response present
// under its lowerCamelCase name, with enums by name, unset timestamps as null.
func TestJSONShape(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	var st map[string]any
	r := w.ctl(t, "status", "--json").must(t, 0, "status --json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"version", "lastDeployAt", "deployStartedAt", "deployFinishedAt", "deploying", "deployResult", "deployStage",
		"hasPending", "pendingChanges", "prs", "driftResolvedAt", "driftStale", "jenkinsConfigured", "driftError", "deployStateGuessed",
		"deployRunId", "githubRepo", "jenkinsUrl", "mergeConflicts", "github"} {
		if _, ok := st[key]; !ok {
			t.Errorf("status --json has no %q", key)
		}
	}
	prs := st["prs"].([]any)
	first := prs[0].(map[string]any)
	for _, key := range []string{"number", "commit", "active", "title", "addedAt", "headSha", "drift", "diverged", "merged", "closed", "mergeable", "isNew", "liveNow", "mergeConflict", "action", "inSet", "removed"} {
		if _, ok := first[key]; !ok {
			t.Errorf("a row of status --json has no %q: %v", key, first)
		}
	}
	if first["action"] != "CHANGE_KIND_REMOVE" || first["number"] != float64(13111) {
		t.Errorf("first row: number %v, action %v; want 13111, CHANGE_KIND_REMOVE", first["number"], first["action"])
	}
	// Stable: the same state prints the same bytes.
	if again := w.ctl(t, "status", "--json").must(t, 0, "status --json"); again.stdout != r.stdout {
		t.Errorf("status --json differs between two runs on the same state")
	}
}

func TestWrites(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{})
			ctl := func(args ...string) result { return w.ctl(t, append([]string{"--protocol", proto}, args...)...) }

			// add: one result per ref; exit 5 when some were not added.
			var added testingv1.AddPRsResponse
			ctl("add", "13300", "#13302", "abc", "--json").must(t, 5, "add").parse(t, &added)
			var outcomes []testingv1.AddOutcome
			for _, r := range added.Results {
				outcomes = append(outcomes, r.Outcome)
			}
			if want := []testingv1.AddOutcome{testingv1.AddOutcome_ADD_OUTCOME_ADDED, testingv1.AddOutcome_ADD_OUTCOME_NOT_OPEN, testingv1.AddOutcome_ADD_OUTCOME_INVALID_REF}; !slices.Equal(outcomes, want) {
				t.Errorf("add outcomes = %v, want %v", outcomes, want)
			}
			if row(t, added.Status, 13300) == nil {
				t.Errorf("the add's status has no row 13300")
			}
			r := ctl("add", "https://github.com/internetarchive/openlibrary/pull/13300/files").must(t, 0, "add again")
			if !strings.Contains(r.stdout, "already present") || !strings.Contains(r.stdout, "Next deploy: 5 change(s)") {
				t.Errorf("add again:\n%s", r.stdout)
			}

			// The four stages.
			var staged testingv1.StagePRsResponse
			ctl("disable", "13269", "--json").must(t, 0, "disable").parse(t, &staged)
			if p := row(t, staged.Status, 13269); staged.Results[0].Outcome != testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED || p.PendingActive == nil || *p.PendingActive {
				t.Errorf("disable: %v, row %v", staged.Results, p)
			}
			if r := ctl("unstage", "#13269").must(t, 0, "unstage"); !strings.Contains(squeeze(r.stdout), "#13269 applied") {
				t.Errorf("unstage:\n%s", r.stdout)
			}
			ctl("pull-latest", "https://github.com/internetarchive/openlibrary/pull/13238", "--json").must(t, 0, "pull-latest").parse(t, &staged)
			if p := row(t, staged.Status, 13238); p.PullLatestSha != head1 {
				t.Errorf("pull-latest: pull_latest_sha %q, want %s", p.PullLatestSha, head1)
			}
			if r := ctl("enable", "13269").must(t, 0, "enable an enabled row"); !strings.Contains(r.stdout, "unchanged") {
				t.Errorf("enable:\n%s", r.stdout)
			}

			// remove, then restore.
			var removed testingv1.RemovePRsResponse
			ctl("remove", "13300", "--json").must(t, 0, "remove").parse(t, &removed)
			if p := row(t, removed.Status, 13300); removed.Results[0].Outcome != testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED || (p != nil && p.InSet) {
				t.Errorf("remove: %v, row %v", removed.Results, p)
			}
			var restored testingv1.RestorePRsResponse
			ctl("restore", "13300", "--json").must(t, 0, "restore").parse(t, &restored)
			if p := row(t, restored.Status, 13300); restored.Results[0].Outcome != testingv1.ItemOutcome_ITEM_OUTCOME_APPLIED || p == nil || !p.InSet {
				t.Errorf("restore: %v, row %v", restored.Results, p)
			}
			if r := ctl("remove", "99999").must(t, 5, "remove a PR not in the set"); !strings.Contains(r.stdout, "not in set") || !strings.Contains(r.stderr, "1 of 1 not applied") {
				t.Errorf("remove 99999:\nstdout %s\nstderr %s", r.stdout, r.stderr)
			}
			ctl("restore", "99999").must(t, 5, "restore with nothing to restore")

			// refresh: all, or some.
			var evicted testingv1.EvictDriftResponse
			ctl("refresh", "--json").must(t, 0, "refresh").parse(t, &evicted)
			if p := row(t, evicted.Status, 13238); p.Drift != 3 {
				t.Errorf("refresh: drift of 13238 = %d, want 3", p.Drift)
			}
			if r := ctl("refresh", "13238").must(t, 0, "refresh 13238"); !strings.Contains(r.stdout, "3 behind") {
				t.Errorf("refresh 13238:\n%s", r.stdout)
			}
		})
	}
}

func TestNoStateFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{noState: true})
	r := w.ctl(t, "status").must(t, 1, "status without a state file")
	if !strings.Contains(r.stderr, "no testing state file") || !strings.Contains(r.stderr, "testingctl add REF creates it") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	w.ctl(t, "add", "13300").must(t, 0, "add creates the state file")
	var st testingv1.GetStatusResponse
	w.ctl(t, "status", "--json").must(t, 0, "status").parse(t, &st)
	if got := numbers(&st); !slices.Equal(got, []int32{13300}) {
		t.Errorf("rows = %v, want [13300]", got)
	}
}

func TestAddFromStdin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	var added testingv1.AddPRsResponse
	w.ctlEnv(t, nil, "13300\n\norigin pull/13269/head  # Test PR\n", "add", "-", "--json").must(t, 0, "add -").parse(t, &added)
	if len(added.Results) != 2 || added.Results[0].Outcome != testingv1.AddOutcome_ADD_OUTCOME_ADDED || added.Results[1].Outcome != testingv1.AddOutcome_ADD_OUTCOME_ALREADY_PRESENT {
		t.Errorf("add - results: %v", added.Results)
	}
	// The server's INVALID_ARGUMENT is a usage error too.
	refs := make([]string, 101)
	for i := range refs {
		refs[i] = strconv.Itoa(20000 + i)
	}
	r := w.ctlEnv(t, nil, strings.Join(refs, "\n"), "add", "-").must(t, 2, "add of 101 refs")
	if !strings.Contains(r.stderr, "100") || !strings.Contains(r.stderr, "testingctl help add") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestExpectedVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	var st testingv1.GetStatusResponse
	w.ctl(t, "status", "--json").must(t, 0, "status").parse(t, &st)
	w.ctl(t, "disable", "13269", "--expected-version", st.Version).must(t, 0, "a write at the current version")

	// st.Version is stale now: every write refuses it and changes nothing.
	for _, args := range [][]string{
		{"add", "13300"}, {"remove", "13269"}, {"restore", "13111"}, {"enable", "13269"}, {"unstage", "13269"},
		{"pull-latest", "13238"}, {"refresh"}, {"deploy", "--yes"}, {"deploy", "--dry-run"},
	} {
		r := w.ctl(t, append(args, "--expected-version", st.Version)...).must(t, 3, strings.Join(args, " ")+" at a stale version")
		if !strings.Contains(r.stderr, "changed") || !strings.Contains(r.stderr, "testingctl status") {
			t.Errorf("%s: stderr does not say what happened and what to do:\n%s", args, r.stderr)
		}
	}
	r := w.ctl(t, "remove", "13269", "--expected-version", st.Version, "--json").must(t, 3, "remove --json at a stale version")
	var e jsonError
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code != "aborted" || e.Error.ExitCode != 3 || r.stdout != "" {
		t.Errorf("--json error = %+v (%v), stdout %q; want code aborted, exit 3 on stderr", e, err, r.stdout)
	}
	var now testingv1.GetStatusResponse
	w.ctl(t, "status", "--json").must(t, 0, "status").parse(t, &now)
	if p := row(t, &now, 13269); p == nil || !p.InSet || row(t, &now, 13300) != nil {
		t.Errorf("refused writes changed the set: %v", numbers(&now))
	}
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{})
			ctl := func(args ...string) result { return w.ctl(t, append([]string{"--protocol", proto}, args...)...) }

			var dry testingv1.DeployResponse
			ctl("deploy", "--dry-run", "--json").must(t, 0, "deploy --dry-run").parse(t, &dry)
			if dry.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_DRY_RUN || len(dry.Applied) != 4 {
				t.Errorf("dry run: %v, %d changes; want DRY_RUN, 4", dry.Outcome, len(dry.Applied))
			}
			if r := ctl("deploy", "--dry-run").must(t, 0, "deploy --dry-run"); !strings.Contains(r.stdout, "Deploy would apply: 4 change(s)") {
				t.Errorf("deploy --dry-run:\n%s", r.stdout)
			}
			if n := len(w.jk.Triggers()); n != 0 {
				t.Fatalf("a dry run triggered Jenkins %d time(s)", n)
			}

			var res testingv1.DeployResponse
			ctl("deploy", "--yes", "--expected-version", dry.Status.Version, "--json").must(t, 0, "deploy --yes").parse(t, &res)
			if res.Outcome != testingv1.DeployOutcome_DEPLOY_OUTCOME_TRIGGERED || res.JenkinsQueueUrl == "" || len(res.Applied) != 4 || res.Status.HasPending {
				t.Errorf("deploy: outcome %v, queue %q, %d applied, pending %v", res.Outcome, res.JenkinsQueueUrl, len(res.Applied), res.Status.HasPending)
			}
			if n := len(w.jk.Triggers()); n != 1 {
				t.Errorf("Jenkins triggered %d time(s), want 1", n)
			}

			// Nothing left: refused (FAILED_PRECONDITION), with the server's words.
			r := ctl("deploy", "--yes").must(t, 3, "deploy with an empty plan")
			if !strings.Contains(r.stderr, "nothing to deploy") {
				t.Errorf("empty deploy:\n%s", r.stderr)
			}
		})
	}
}

func TestDeployHuman(t *testing.T) {
	t.Parallel()
	t.Run("triggered", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		r := w.ctl(t, "deploy", "--yes").must(t, 0, "deploy --yes")
		for _, want := range []string{"Deployed: 4 change(s)", "Jenkins queued the build: " + w.jk.URL, "testingctl watch"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("deploy does not say %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("unconfigured", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{noJenkins: true})
		r := w.ctl(t, "deploy", "--yes").must(t, 0, "deploy --yes")
		if !strings.Contains(r.stdout, "NOTHING was deployed") {
			t.Errorf("unconfigured deploy:\n%s", r.stdout)
		}
	})
	t.Run("Jenkins down", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		w.jk.SetTriggerStatus(503)
		r := w.ctl(t, "deploy", "--yes").must(t, 4, "deploy with Jenkins down")
		if !strings.Contains(r.stderr, "every staged change is kept") || !strings.Contains(r.stderr, "try again") {
			t.Errorf("deploy with Jenkins down:\n%s", r.stderr)
		}
	})
}

// TestDeployConfirm runs deploy on a terminal: it shows the plan, asks, and deploys
// exactly the plan it showed.
func TestDeployConfirm(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, w *world, args ...string) (*screen, *os.File, chan int, *exec.Cmd) {
		master, tty := openPTY(t)
		cmd := exec.Command(binary, args...)
		cmd.Env = env("TESTINGCTL_SERVER=" + w.url)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close() // the child has its own copies: the master reads EIO when it exits
		exited := make(chan int, 1)
		go func() {
			_ = cmd.Wait()
			exited <- cmd.ProcessState.ExitCode()
		}()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return watchScreen(master), master, exited, cmd
	}
	const prompt = "Deploy these 4 change(s) to the testing server? [y/N]"

	t.Run("yes", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		sc, master, exited, _ := start(t, w, "deploy")
		sc.waitFor(t, prompt, 1)
		for _, want := range []string{"add     #13269", "pin     #13238", "remove  #13240"} {
			if !strings.Contains(sc.String(), want) {
				t.Errorf("the plan shown lacks %q:\n%s", want, sc.String())
			}
		}
		if _, err := master.WriteString("y\n"); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, exited); code != 0 {
			t.Fatalf("exit %d:\n%s", code, sc.String())
		}
		sc.waitFor(t, "Jenkins queued the build", 1)
		if n := len(w.jk.Triggers()); n != 1 {
			t.Errorf("Jenkins triggered %d time(s), want 1", n)
		}
	})
	t.Run("no", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		sc, master, exited, _ := start(t, w, "deploy")
		sc.waitFor(t, prompt, 1)
		if _, err := master.WriteString("n\n"); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, exited); code != 1 {
			t.Fatalf("exit %d, want 1:\n%s", code, sc.String())
		}
		sc.waitFor(t, "not deployed", 1)
		if n := len(w.jk.Triggers()); n != 0 {
			t.Errorf("Jenkins triggered %d time(s) after no", n)
		}
	})
	t.Run("Ctrl-C at the prompt", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		sc, _, exited, cmd := start(t, w, "deploy")
		sc.waitFor(t, prompt, 1)
		// The prompt is up, so the signal handler is too: SIGINT is what Ctrl-C sends.
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, exited); code != 130 {
			t.Fatalf("exit %d, want 130:\n%s", code, sc.String())
		}
		if n := len(w.jk.Triggers()); n != 0 {
			t.Errorf("Jenkins triggered %d time(s) after Ctrl-C", n)
		}
	})
	t.Run("the set changed after the plan was shown", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		sc, master, exited, _ := start(t, w, "deploy")
		sc.waitFor(t, prompt, 1)
		w.ctl(t, "add", "13300").must(t, 0, "another maintainer's add")
		if _, err := master.WriteString("yes\n"); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, exited); code != 3 {
			t.Fatalf("exit %d, want 3:\n%s", code, sc.String())
		}
		sc.waitFor(t, "run testingctl deploy again to see the new plan", 1)
		if n := len(w.jk.Triggers()); n != 0 {
			t.Errorf("Jenkins triggered %d time(s) for a plan nobody saw", n)
		}
	})
}

func waitExit(t *testing.T, exited chan int) int {
	t.Helper()
	select {
	case code := <-exited:
		return code
	case <-time.After(deadline):
		t.Fatalf("testingctl did not exit within %s", deadline)
		return -1
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.ctl(t, "add", "13300").must(t, 0, "add")
	w.ctl(t, "disable", "13269").must(t, 0, "disable")
	w.ctl(t, "remove", "13300").must(t, 0, "remove")

	var page testingv1.ListEventsResponse
	w.ctl(t, "events", "--json").must(t, 0, "events").parse(t, &page)
	var kinds []testingv1.EventKind
	for _, e := range page.Events {
		kinds = append(kinds, e.Kind)
	}
	if want := []testingv1.EventKind{testingv1.EventKind_EVENT_KIND_REMOVE, testingv1.EventKind_EVENT_KIND_STAGE, testingv1.EventKind_EVENT_KIND_ADD}; !slices.Equal(kinds, want) {
		t.Errorf("events newest first = %v, want %v", kinds, want)
	}
	if page.Events[1].Stage != testingv1.Stage_STAGE_DISABLE || page.Events[0].Actor != "dev" {
		t.Errorf("events: %v", page.Events)
	}

	w.ctl(t, "events", "--pr", "13300", "--json").must(t, 0, "events --pr").parse(t, &page)
	if len(page.Events) != 2 {
		t.Errorf("events --pr 13300: %d events, want 2 (add, remove)", len(page.Events))
	}

	w.ctl(t, "events", "--limit", "1", "--json").must(t, 0, "events --limit 1").parse(t, &page)
	if len(page.Events) != 1 || page.NextPageToken == "" {
		t.Fatalf("events --limit 1: %d events, next %q", len(page.Events), page.NextPageToken)
	}
	r := w.ctl(t, "events", "--limit", "1").must(t, 0, "events --limit 1")
	if !strings.Contains(r.stdout, "testingctl events --limit 1 --page-token "+page.NextPageToken) || !strings.Contains(r.stdout, "remove") {
		t.Errorf("events --limit 1 does not say how to see more:\n%s", r.stdout)
	}
	var next testingv1.ListEventsResponse
	w.ctl(t, "events", "--limit", "1", "--page-token", page.NextPageToken, "--json").must(t, 0, "events --page-token").parse(t, &next)
	if len(next.Events) != 1 || next.Events[0].Kind != testingv1.EventKind_EVENT_KIND_STAGE {
		t.Errorf("second page: %v", next.Events)
	}
	var all testingv1.ListEventsResponse
	w.ctl(t, "events", "--limit", "1", "--all", "--json").must(t, 0, "events --all").parse(t, &all)
	if len(all.Events) != 3 || all.NextPageToken != "" {
		t.Errorf("events --all: %d events, next %q; want 3 and none", len(all.Events), all.NextPageToken)
	}
}

func TestBuildResultAndInfo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var br testingv1.GetBuildResultResponse
			w.ctl(t, "--protocol", proto, "build-result", "--json").must(t, 0, "build-result").parse(t, &br)
			if !br.Exists || len(br.Prs) != 2 || !br.Prs[1].MergeConflict || br.Prs[1].Number != 13370 {
				t.Errorf("build-result: exists %v, prs %v", br.Exists, br.Prs)
			}
			r := w.ctl(t, "--protocol", proto, "build-result", "--full").must(t, 0, "build-result --full")
			for _, want := range []string{"#13370  CONFLICT", "#13208  merged", "CONFLICT (content): Merge conflict", "Complete; dev-merged created"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("build-result --full does not show %q:\n%s", want, r.stdout)
				}
			}

			var info testingv1.GetServerInfoResponse
			w.ctl(t, "--protocol", proto, "info", "--json").must(t, 0, "info").parse(t, &info)
			if info.Viewer.GetUsername() != "dev" || !info.Viewer.GetMaintainer() || info.GoVersion == "" {
				t.Errorf("info: viewer %v, go %q", info.Viewer, info.GoVersion)
			}
			r = w.ctl(t, "--protocol", proto, "info").must(t, 0, "info")
			if !strings.Contains(r.stdout, "dev (maintainer); auth mode dev") || !strings.Contains(r.stdout, "("+proto+")") {
				t.Errorf("info:\n%s", r.stdout)
			}
		})
	}
}

func TestRefusedTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{tokens: true})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			run := func(token string, args ...string) result {
				var extra []string
				if token != "" {
					extra = []string{"TESTINGCTL_TOKEN=" + token}
				}
				return w.ctlEnv(t, extra, "", append([]string{"--protocol", proto}, args...)...)
			}
			r := run("", "status").must(t, 3, "status without a token")
			if !strings.Contains(r.stderr, "set TESTINGCTL_TOKEN") {
				t.Errorf("no token: stderr does not say what to do:\n%s", r.stderr)
			}
			r = run("wrong-token", "add", "13300").must(t, 3, "add with a bad token")
			if !strings.Contains(r.stderr, "does not accept the token") || strings.Contains(r.stderr, "wrong-token") {
				t.Errorf("bad token: stderr:\n%s", r.stderr)
			}
			r = run("wrong-token", "--json", "watch").must(t, 3, "watch with a bad token")
			var e jsonError
			if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code != "unauthenticated" || e.Error.ExitCode != 3 {
				t.Errorf("--json error = %+v (%v)", e, err)
			}
			r = run(readerToken, "remove", "13269").must(t, 3, "remove as a non-maintainer")
			if !strings.Contains(r.stderr, "maintainer") {
				t.Errorf("non-maintainer: stderr:\n%s", r.stderr)
			}
			// Public RPCs answer anyone; the viewer says who the token is.
			var info testingv1.GetServerInfoResponse
			run("wrong-token", "info", "--json").must(t, 0, "info with a bad token").parse(t, &info)
			if info.Viewer.GetSignedIn() {
				t.Errorf("a bad token is signed in: %v", info.Viewer)
			}
			run(botToken, "info", "--json").must(t, 0, "info with the bot token").parse(t, &info)
			if info.Viewer.GetUsername() != "bot" || !info.Viewer.GetMaintainer() {
				t.Errorf("bot token viewer: %v", info.Viewer)
			}
			run(botToken, "status").must(t, 0, "status with the bot token")
		})
	}
	t.Run("events record the token's name", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{tokens: true})
		bot := []string{"TESTINGCTL_TOKEN=" + botToken}
		w.ctlEnv(t, bot, "", "add", "13300").must(t, 0, "add as bot")
		var page testingv1.ListEventsResponse
		w.ctlEnv(t, bot, "", "events", "--json").must(t, 0, "events").parse(t, &page)
		if len(page.Events) != 1 || page.Events[0].Actor != "bot" {
			t.Errorf("events: %v", page.Events)
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	// A port that was just open and is now closed: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	for _, proto := range protocols {
		for _, args := range [][]string{{"status"}, {"add", "13300"}, {"deploy", "--yes"}, {"watch"}, {"info"}} {
			t.Run(proto+" "+args[0], func(t *testing.T) {
				t.Parallel()
				r := runCtl(t, []string{"TESTINGCTL_SERVER=" + closed}, "", append([]string{"--protocol", proto}, args...)...).must(t, 4, "against a closed port")
				if !strings.Contains(r.stderr, "cannot reach testingd at "+strings.TrimSuffix(closed, "/")) || !strings.Contains(r.stderr, "TESTINGCTL_SERVER") {
					t.Errorf("stderr does not say what happened and what to do:\n%s", r.stderr)
				}
			})
		}
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := runCtl(t, nil, "", "--server", closed, "status", "--json").must(t, 4, "against a closed port")
		var e jsonError
		if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || e.Error.Code != "unavailable" || e.Error.ExitCode != 4 || e.Error.Hint == "" || r.stdout != "" {
			t.Errorf("--json error = %+v (%v), stdout %q", e, err, r.stdout)
		}
	})
	t.Run("no answer within --timeout", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		w.gh.Hang() // adding asks GitHub, which never answers
		r := w.ctl(t, "--timeout", "300ms", "add", "13300").must(t, 4, "add with GitHub hanging")
		if !strings.Contains(r.stderr, "did not answer within 300ms") || !strings.Contains(r.stderr, "--timeout") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
	t.Run("GitHub down", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		w.gh.FailAll(502)
		var added testingv1.AddPRsResponse
		w.ctl(t, "add", "13300", "--json").must(t, 5, "add with GitHub down").parse(t, &added)
		if added.Results[0].Outcome != testingv1.AddOutcome_ADD_OUTCOME_GITHUB_UNAVAILABLE {
			t.Errorf("add with GitHub down: %v", added.Results)
		}
	})
}

func TestBasePath(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{basePath: "/status/v2/"})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			for _, server := range []string{w.url, strings.TrimSuffix(w.url, "/"), strings.TrimPrefix(w.url, "http://")} {
				w2 := *w
				w2.url = server
				var st testingv1.GetStatusResponse
				w2.ctl(t, "--protocol", proto, "status", "--json").must(t, 0, "status at "+server).parse(t, &st)
			}
			// Without the base path: not testingd there, and the hint says why.
			r := runCtl(t, []string{"TESTINGCTL_SERVER=" + w.srv.URL}, "", "--protocol", proto, "status").must(t, 1, "status without the base path")
			if !strings.Contains(r.stderr, "does not answer as testingd") || !strings.Contains(r.stderr, "base path") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	for _, proto := range protocols {
		t.Run(proto+" json", func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{})
			cmd, out, _ := w.start(t, "--protocol", proto, "watch", "--json")
			var first testingv1.GetStatusResponse
			line := out.next(t, "the first status", func(string) bool { return true })
			if err := protojson.Unmarshal([]byte(line), &first); err != nil || len(first.Prs) == 0 {
				t.Fatalf("first line is not a status: %v\n%s", err, line)
			}
			w.ctl(t, "add", "13300").must(t, 0, "add")
			out.next(t, "a status with 13300", func(line string) bool {
				var st testingv1.GetStatusResponse
				if err := protojson.Unmarshal([]byte(line), &st); err != nil {
					t.Fatalf("a line is not a status: %v\n%s", err, line)
				}
				return row(t, &st, 13300) != nil
			})
			interrupt(t, cmd, 0)
		})
	}
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		cmd, out, _ := w.start(t, "watch")
		out.next(t, "the first status's header", func(l string) bool { return strings.HasPrefix(l, "=== ") })
		w.ctl(t, "disable", "13269").must(t, 0, "disable")
		out.next(t, "the row staged off", func(l string) bool { return strings.HasPrefix(squeeze(l), "#13269 on→off") })
		interrupt(t, cmd, 0)
	})
	t.Run("reconnects", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, worldOptions{})
		cmd, out, errs := w.start(t, "watch", "--json")
		out.next(t, "the first status", func(string) bool { return true })
		w.srv.CloseClientConnections()
		errs.next(t, "the reconnect notice", func(l string) bool {
			return strings.Contains(l, "connection lost") && strings.Contains(l, "reconnecting")
		})
		out.next(t, "the status after reconnecting", func(string) bool { return true })
		interrupt(t, cmd, 0)
	})
}

func TestWatchTerminal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	master, tty := openPTY(t)
	cmd := exec.Command(binary, "watch")
	cmd.Env = env("TESTINGCTL_SERVER=" + w.url)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := watchScreen(master)
	sc.waitFor(t, "Ctrl-C to stop", 1)
	w.ctl(t, "add", "13300").must(t, 0, "add")
	sc.waitFor(t, "#13300", 1)
	if n := strings.Count(sc.String(), clearScreen); n < 2 {
		t.Errorf("the screen was cleared %d time(s), want a redraw per status", n)
	}
	interrupt(t, cmd, 0)
}

// start runs a long-lived testingctl against w and follows its output.
func (w *world) start(t *testing.T, args ...string) (*exec.Cmd, *lines, *lines) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env("TESTINGCTL_SERVER=" + w.url)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, follow(stdout), follow(stderr)
}

// interrupt sends Ctrl-C's SIGINT and checks the exit code.
func interrupt(t *testing.T, cmd *exec.Cmd, want int) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(deadline):
		t.Fatalf("testingctl did not exit within %s of SIGINT", deadline)
	}
	if got := cmd.ProcessState.ExitCode(); got != want {
		t.Errorf("exit %d after SIGINT, want %d", got, want)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			r := runCtl(t, nil, "", "completion", shell).must(t, 0, "completion "+shell)
			for _, want := range []string{"pull-latest", "build-result", "__complete prs", "expected-version", "dry-run"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the %s script lacks %q", shell, want)
				}
			}
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s to check the script's syntax with", shell)
			}
			check := exec.Command(shell, "-n")
			check.Stdin = strings.NewReader(r.stdout)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
	t.Run("fish completes commands and PR numbers", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("fish"); err != nil {
			t.Skip("no fish")
		}
		dir := t.TempDir()
		script := filepath.Join(dir, "testingctl.fish")
		if err := os.WriteFile(script, []byte(runCtl(t, nil, "", "completion", "fish").must(t, 0, "completion fish").stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		complete := func(line string) string {
			cmd := exec.Command("fish", "--no-config", "-c", "source "+script+"; complete -C "+quote(line))
			cmd.Env = env("TESTINGCTL_SERVER="+w.url, "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, out)
			}
			return string(out)
		}
		if got := complete("testingctl pull"); !strings.HasPrefix(got, "pull-latest\t") {
			t.Errorf("testingctl pull<TAB> = %q", got)
		}
		if got := complete("testingctl disable 1326"); got != "13269\tTest PR\n" {
			t.Errorf("testingctl disable 1326<TAB> = %q", got)
		}
	})
	t.Run("__complete prs", func(t *testing.T) {
		t.Parallel()
		r := w.ctl(t, "__complete", "prs").must(t, 0, "__complete prs")
		if !strings.Contains(r.stdout, "13269\tTest PR\n") || !strings.Contains(r.stdout, "13238\tFix search facets fallback\n") {
			t.Errorf("__complete prs:\n%s", r.stdout)
		}
	})
	t.Run("bash completes commands and PR numbers", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("bash"); err != nil {
			t.Skip("no bash")
		}
		script := runCtl(t, nil, "", "completion", "bash").must(t, 0, "completion bash").stdout
		complete := func(words ...string) string {
			// What bash does on TAB after these words: run the function, print COMPREPLY.
			line := `COMP_WORDS=(` + strings.Join(quoteAll(words), " ") + `); COMP_CWORD=` + strconv.Itoa(len(words)-1) + `; _testingctl; echo "${COMPREPLY[*]}"`
			cmd := exec.Command("bash", "-c", script+"\n"+line)
			cmd.Env = env("TESTINGCTL_SERVER="+w.url, "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			return strings.TrimSpace(string(out))
		}
		if got := complete("testingctl", "pull"); got != "pull-latest" {
			t.Errorf("testingctl pull<TAB> = %q", got)
		}
		if got := complete("testingctl", "remove", "13"); got != "13111 13238 13240 13269" {
			t.Errorf("testingctl remove 13<TAB> = %q", got)
		}
		if got := complete("testingctl", "restore", "132"); got != "13238 13240 13269" {
			t.Errorf("testingctl restore 132<TAB> = %q", got)
		}
		if got := complete("testingctl", "deploy", "--d"); got != "--dry-run" {
			t.Errorf("testingctl deploy --d<TAB> = %q", got)
		}
		if got := complete("testingctl", "--protocol", ""); got != "connect grpc" {
			t.Errorf("testingctl --protocol <TAB> = %q", got)
		}
	})
}

// squeeze collapses the spaces of each line (table columns) to one.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = quote(w)
	}
	return out
}
