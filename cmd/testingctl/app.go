package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// stdio are the process's standard streams; *os.File ones can be terminals.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// app is one invocation of testingctl.
type app struct {
	stdio
	getenv func(string) string

	// Global options.
	server   string
	protocol string
	json     bool
	timeout  time.Duration
	token    string // TESTINGCTL_TOKEN only: never a flag, so it stays out of shell history

	cmd    string // the command's name
	conn   conn
	client testingv1connect.TestingServiceClient
}

const defaultTimeout = 30 * time.Second

// run runs testingctl with args (without the program name) and returns its exit code.
func run(ctx context.Context, args []string, std stdio, getenv func(string) string) int {
	a := &app{stdio: std, getenv: getenv}
	code, err := a.main(ctx, args)
	if err != nil {
		e := a.classify(ctx, err)
		a.report(a.err, e)
		return e.exit
	}
	return code
}

// globalFlags registers the options every command takes, before or after its name.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.server, "server", a.server, "testingd's `URL`, with its base path (env TESTINGCTL_SERVER)")
	fs.StringVar(&a.protocol, "protocol", a.protocol, "`connect` or grpc (env TESTINGCTL_PROTOCOL)")
	fs.BoolVar(&a.json, "json", a.json, "print the response as JSON (protojson, every field present)")
	fs.DurationVar(&a.timeout, "timeout", a.timeout, "how long to wait for an answer (not for watch)")
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by printHelp
	fs.Usage = func() {}
	return fs
}

func (a *app) main(ctx context.Context, args []string) (int, error) {
	a.server = cmp.Or(a.getenv("TESTINGCTL_SERVER"), defaultServer)
	a.protocol = cmp.Or(a.getenv("TESTINGCTL_PROTOCOL"), protocolConnect)
	a.token = strings.TrimSpace(a.getenv("TESTINGCTL_TOKEN"))
	a.timeout = defaultTimeout

	top := newFlagSet("testingctl")
	a.globalFlags(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printUsage(a.out)
			return exitOK, nil
		}
		return 0, usageErrorf("%v (see testingctl help)", err)
	}
	if top.NArg() == 0 {
		a.printUsage(a.err)
		return exitUsage, nil
	}
	name, rest := top.Arg(0), top.Args()[1:]
	c := lookup(name)
	if c == nil {
		msg := fmt.Sprintf("unknown command %q", name)
		if s := suggest(name); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return 0, usageErrorf("%s (see testingctl help)", msg)
	}
	a.cmd = c.name

	var o options
	fs := newFlagSet(c.name)
	a.globalFlags(fs)
	if c.flags != nil {
		c.flags(fs, &o)
	}
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printHelp(a.out, c)
			return exitOK, nil
		}
		return 0, usageErrorf("%s: %v (see testingctl help %s)", c.name, err, c.name)
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		return 0, usageErrorf("%s: %s (usage: testingctl %s)", c.name, argCountProblem(c, len(pos)), strings.TrimSpace(c.name+" "+c.args))
	}
	if a.protocol != protocolConnect && a.protocol != protocolGRPC {
		return 0, usageErrorf("--protocol %q: use connect or grpc", a.protocol)
	}
	if a.timeout <= 0 {
		return 0, usageErrorf("--timeout must be positive")
	}
	if !c.local {
		base, err := normalizeServer(a.server)
		if err != nil {
			return 0, err
		}
		a.conn = conn{baseURL: base, protocol: a.protocol, token: a.token}
		if w := a.conn.insecureTokenWarning(); w != "" && !c.quiet {
			fmt.Fprintln(a.err, w)
		}
		a.client = a.conn.client()
	}
	err = c.run(ctx, a, &o, pos)
	return exitOK, err
}

func argCountProblem(c *command, n int) string {
	switch {
	case n < c.minArgs && c.minArgs == 1:
		return "missing argument " + strings.Trim(c.args, "[]. ")
	case n < c.minArgs:
		return fmt.Sprintf("want at least %d arguments", c.minArgs)
	case c.maxArgs == 0:
		return "takes no arguments"
	default:
		return fmt.Sprintf("takes at most %d argument(s)", c.maxArgs)
	}
}

// parseInterspersed parses flags anywhere among the positional arguments
// ("add 1 2 --json" as well as "add --json 1 2"); after "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// unary bounds one request by --timeout.
func (a *app) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

// terminal reports whether w or r is a terminal.
func terminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && isTerminal(f)
}

func (a *app) printUsage(w io.Writer) {
	fmt.Fprint(w, `testingctl is the command line of testingd, which runs Open Library's testing
deployments.

Usage:
  testingctl [global flags] COMMAND [flags] [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		if c.hidden {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, `
Global flags (before or after the command):
  --server URL         testingd's URL with its base path (default %s,
                       e.g. https://HOST/status/v2/); env TESTINGCTL_SERVER
  --protocol P         connect (default) or grpc; env TESTINGCTL_PROTOCOL
  --json               print the response as JSON: the RPC's response message in
                       protojson (lowerCamelCase names, every field present); errors
                       as {"error": {...}} on stderr
  --timeout D          how long to wait for an answer (default %s; not for watch)

Environment:
  TESTINGCTL_SERVER    the server, when --server is not given
  TESTINGCTL_TOKEN     a bearer token from the server's --tokens-file, sent as
                       "Authorization: Bearer TOKEN"; there is no flag for it, so
                       it stays out of shell history. Not needed with --auth dev.
  TESTINGCTL_PROTOCOL  the protocol, when --protocol is not given

`, defaultServer, defaultTimeout)
	fmt.Fprint(w, exitCodesHelp)
	fmt.Fprint(w, `
Run "testingctl help COMMAND" for a command's flags; docs/CLI.md has the details.
`)
}

func (a *app) printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: testingctl %s\n\n%s\n", strings.TrimSpace(c.name+" [flags] "+c.args), c.summary)
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	if c.rpc != "" {
		fmt.Fprintf(w, "\nRPC: %s\n", c.rpc)
	}
	fs := newFlagSet(c.name)
	var o options
	if c.flags != nil {
		c.flags(fs, &o)
	}
	var own []string
	fs.VisitAll(func(f *flag.Flag) { own = append(own, f.Name) })
	if len(own) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, "\nGlobal flags: --server URL, --protocol connect|grpc, --json, --timeout D (testingctl help)\n")
}

// suggest returns the command closest to a mistyped name, or "".
func suggest(name string) string {
	best, bestDist := "", 3
	for _, c := range commands {
		if c.hidden {
			continue
		}
		if d := editDistance(name, c.name); d < bestDist || (strings.HasPrefix(c.name, name) && bestDist > 1) {
			best, bestDist = c.name, min(d, 1)
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(b)]
}
