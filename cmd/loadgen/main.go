// Command loadgen puts a running testingd under load: -c workers call one read-only
// RPC back to back with the generated Connect client, first for a warm-up whose calls
// are discarded, then for -d, and it prints the requests made, the errors, the
// requests per second and the client-side latency (p50, p90, p99, max).
//
//	loadgen -url http://127.0.0.1:8080 -c 32 -d 10s -rpc GetStatus
//
// It works against any testingd: -url is the server's base URL including any
// --base-path (http://host/status/v2). Requests are Connect-protocol POSTs over
// HTTP/1.1 keep-alive connections (one idle connection kept per worker), with JSON
// bodies by default, as the web UI sends them, or binary protobuf with -codec proto.
// Like a browser (and connect-go's default client) it accepts gzip-compressed
// responses, so the server compresses them; -gzip=false asks for them uncompressed.
// GetStatus is for maintainers only: run testingd with --auth dev (loadgen sends no
// credentials).
//
// A 2-core machine running both loadgen and testingd measures them together: the
// load generator's own CPU use lowers the figure. -raw reads each answer's bytes and
// checks its status and type without decompressing or decoding it, as wrk does: the
// decoding (25 KB of JSON per GetStatus at 50 PRs) is a browser's work on its own
// machine, and is then not taken from the server's cores.
//
// With -soak it holds the everyday mix instead, for -d: -readers workers calling
// GetStatus back to back, -writers workers each changing a row of its own one write
// every -write-every (stage a change, drop it, remove the row, restore it: the row
// ends as it began; every write carries expected_version and is retried on ABORTED),
// and -watchers WatchStatus streams open the whole time. Every -sample it prints the
// interval's throughput and latency (p50, p90, p99) and the server's RSS, heap in use
// and goroutines from BASE/metrics (-pid reads the RSS from /proc instead), then a
// verdict on growth: the last third of the run against the first. The writes change
// the state file: run it against a test server only.
//
//	loadgen -soak -url http://127.0.0.1:8080 -d 3m -readers 4 -writers 2 -watchers 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "testingd base `URL` (with any base path)")
	c := fs.Int("c", 32, "concurrent workers")
	d := fs.Duration("d", 10*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", 2*time.Second, "how long to call before measuring (discarded)")
	rpc := fs.String("rpc", "GetStatus", "RPC to call: "+strings.Join(load.RPCs, ", "))
	codec := fs.String("codec", load.CodecJSON, "request bodies: json or proto")
	gzip := fs.Bool("gzip", true, "accept gzip-compressed responses, as browsers do")
	raw := fs.Bool("raw", false, "read each answer's bytes without decoding them, as wrk does (decoding is the browser's CPU, not the server's)")
	soak := fs.Bool("soak", false, "soak: readers, writers and watch streams together for -d (writes change the state!)")
	readers := fs.Int("readers", 4, "soak: GetStatus workers")
	writers := fs.Int("writers", 2, "soak: writers, each changing a row of its own")
	watchers := fs.Int("watchers", 200, "soak: WatchStatus streams kept open")
	writeEvery := fs.Duration("write-every", time.Second, "soak: each writer's period (0 = back to back)")
	sample := fs.Duration("sample", 5*time.Second, "soak: sampling period")
	pid := fs.Int("pid", 0, "soak: the server's process id, to read its RSS from /proc (0 = from /metrics)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *c < 1 || *d <= 0 || *warmup < 0 {
		fmt.Fprintln(stderr, "loadgen: want -c ≥ 1, -d > 0, -warmup ≥ 0 and no arguments")
		return 2
	}

	enc := load.Encoding{Codec: *codec, Gzip: *gzip, Raw: *raw}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *soak {
		if *readers < 0 || *writers < 0 || *watchers < 0 || *sample <= 0 {
			fmt.Fprintln(stderr, "loadgen: want -readers, -writers, -watchers ≥ 0 and -sample > 0")
			return 2
		}
		return runSoak(ctx, stdout, stderr, *url, enc, load.SoakOptions{
			Readers: *readers, Writers: *writers, Watchers: *watchers,
			Duration: *d, Warmup: *warmup, Interval: *sample, WriteEvery: *writeEvery,
		}, *pid)
	}
	var (
		call load.Call
		err  error
	)
	if *raw {
		call, err = load.NewRawCall(load.NewHTTPClient(*c), *url, enc, *rpc)
	} else {
		var client testingv1connect.TestingServiceClient
		if client, err = load.NewClient(load.NewHTTPClient(*c), *url, enc); err == nil {
			call, err = load.RPC(client, *rpc)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	// One call first, so a wrong URL or a refused caller is said plainly.
	if err := call(ctx); err != nil {
		fmt.Fprintf(stderr, "loadgen: first %s call to %s failed: %v\n", *rpc, *url, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %s (Connect, %s), %d workers, %s after %s warm-up\n", *rpc, *url, enc, *c, *d, *warmup)
	res := load.Run(ctx, load.Options{Concurrency: *c, Duration: *d, Warmup: *warmup}, call)
	fmt.Fprint(stdout, res)
	if res.Errors > 0 {
		return 1
	}
	return 0
}

func runSoak(ctx context.Context, stdout, stderr io.Writer, url string, enc load.Encoding, opts load.SoakOptions, pid int) int {
	hc := load.NewHTTPClient(opts.Readers + opts.Writers + 1)
	client, err := load.NewClient(hc, url, enc)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	watch, err := load.NewClient(load.NewStreamClient(opts.Watchers), url, enc)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	st, err := client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: first GetStatus call to %s failed: %v\n", url, err)
		return 1
	}
	if opts.Numbers, err = load.WritableRows(st.Msg, opts.Writers); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	opts.Sample = load.MetricsSampler(hc, strings.TrimSuffix(url, "/")+"/metrics", pid)
	fmt.Fprintf(stdout, "soak %s (Connect, %s): %d readers, %d writers (rows %v, one write every %s each), %d watch streams, %s after %s warm-up\n",
		url, enc, opts.Readers, opts.Writers, opts.Numbers, opts.WriteEvery, opts.Watchers, opts.Duration, opts.Warmup)
	res, err := load.Soak(ctx, client, watch, opts)
	if err != nil && res.Elapsed == 0 {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, res)
	if res.ReadErrors+res.WriteErrors > 0 || res.StreamFails > 0 {
		return 1
	}
	return 0
}
