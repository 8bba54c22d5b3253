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
// load generator's own CPU use lowers the figure.
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

	enc := load.Encoding{Codec: *codec, Gzip: *gzip}
	client, err := load.NewClient(load.NewHTTPClient(*c), *url, enc)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	call, err := load.RPC(client, *rpc)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
