package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

func (a *app) deploy(ctx context.Context, dryRun bool, version string) (*testingv1.DeployResponse, error) {
	ctx, cancel := a.unary(ctx)
	defer cancel()
	res, err := a.client.Deploy(ctx, connect.NewRequest(&testingv1.DeployRequest{DryRun: dryRun, ExpectedVersion: version}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

func runDeploy(ctx context.Context, a *app, o *options, _ []string) error {
	if o.dryRun {
		res, err := a.deploy(ctx, true, o.expectedVersion)
		if err != nil {
			return err
		}
		if a.json {
			return writeJSON(a.out, res)
		}
		renderPlan(a.out, res.Applied, "Deploy would apply")
		renderPrediction(a.out, res.Status.GetMergePrediction(), res.Status.GetPrs(), true)
		if len(res.Applied) > 0 {
			fmt.Fprintln(a.out, "Deploy it with: testingctl deploy")
		}
		return nil
	}

	version := o.expectedVersion
	if !o.yes {
		if !terminal(a.in) {
			return usageErrorf("deploy asks for confirmation, and stdin is not a terminal: pass --yes to deploy without asking (see the plan first with --dry-run)")
		}
		plan, err := a.deploy(ctx, true, o.expectedVersion)
		if err != nil {
			return err
		}
		if len(plan.Applied) == 0 {
			return &cliError{exit: exitRefused, code: connect.CodeFailedPrecondition.String(), message: "nothing to deploy: the testing server already matches the set"}
		}
		w := a.out
		if a.json {
			w = a.err // stdout is for the JSON of the deploy
		}
		renderPlan(w, plan.Applied, "Deploy")
		// What the merges will do, before the question: a PR that will not land is a
		// reason to fix the set first.
		renderPrediction(w, plan.Status.GetMergePrediction(), plan.Status.GetPrs(), true)
		if plan.Status != nil && !plan.Status.JenkinsConfigured {
			fmt.Fprintln(w, "Jenkins is not configured on this server: the state will advance, but NOTHING will be deployed.")
		}
		ok, err := a.confirm(ctx, fmt.Sprintf("Deploy these %d change(s) to the testing server? [y/N] ", len(plan.Applied)))
		if err != nil {
			return err
		}
		if !ok {
			return &cliError{exit: exitError, code: "declined", message: "not deployed"}
		}
		// Deploy exactly what was shown: refused if anyone changed the set since.
		version = plan.Status.GetVersion()
	}
	res, err := a.deploy(ctx, false, version)
	if err != nil {
		if connect.CodeOf(err) == connect.CodeAborted && !o.yes && o.expectedVersion == "" {
			return &cliError{exit: exitRefused, code: connect.CodeAborted.String(),
				message: "the testing set changed after the plan was shown; nothing was deployed",
				hint:    "run testingctl deploy again to see the new plan"}
		}
		return err
	}
	if a.json {
		return writeJSON(a.out, res)
	}
	switch res.Outcome {
	case testingv1.DeployOutcome_DEPLOY_OUTCOME_UNCONFIGURED:
		renderPlan(a.out, res.Applied, "Applied")
		fmt.Fprintln(a.out, "The state advanced, but NOTHING was deployed: this testingd has no Jenkins token (--jenkins-token).")
	default:
		renderPlan(a.out, res.Applied, "Deployed")
		if res.JenkinsQueueUrl != "" {
			fmt.Fprintf(a.out, "Jenkins queued the build: %s\n", res.JenkinsQueueUrl)
		} else {
			fmt.Fprintln(a.out, "Jenkins accepted the build.")
		}
		fmt.Fprintln(a.out, "Follow it with: testingctl watch")
	}
	return nil
}

// confirm asks a yes/no question on the terminal; anything but y or yes is no.
// Ctrl-C while it waits interrupts the command.
func (a *app) confirm(ctx context.Context, question string) (bool, error) {
	fmt.Fprint(a.err, question)
	answer := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(a.in).ReadString('\n')
		if err != nil && line == "" {
			close(answer)
			return
		}
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(a.err)
		return false, context.Cause(ctx)
	case line, ok := <-answer:
		if !ok {
			fmt.Fprintln(a.err)
			return false, nil
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
}
