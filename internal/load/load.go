// Package load is the load-generating logic shared by cmd/loadgen (against any running
// testingd) and cmd/benchreport (against the service it builds in process): a number of
// workers call one RPC back to back for a while, after a warm-up, and the client-side
// latency of every call is summarised.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// Call sends one request and reports its failure.
type Call func(ctx context.Context) error

// Options say how hard and how long to push.
type Options struct {
	Concurrency int           // workers, each with at most one request in flight (default 1)
	Duration    time.Duration // how long to measure; 0 = until Requests are done
	Warmup      time.Duration // calls made and discarded before measuring
	// Requests, when > 0, ends the measurement after that many calls (all workers
	// together), or at Duration if that comes first.
	Requests int
}

// Result is what one measured run saw.
type Result struct {
	Concurrency int
	Requests    int           // calls completed in the measured window, failed ones included
	Errors      int           // of which failed
	Elapsed     time.Duration // the measured window
	Latency     Percentiles   // of the calls that succeeded
	FirstError  error         // an example failure, nil when none
}

// RPS is the measured throughput: completed calls (failed ones included) per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// String is the summary cmd/loadgen prints.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "concurrency %d, %s\n", r.Concurrency, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "requests    %d\n", r.Requests)
	fmt.Fprintf(&b, "errors      %d\n", r.Errors)
	fmt.Fprintf(&b, "req/s       %.0f\n", r.RPS())
	fmt.Fprintf(&b, "latency     p50 %s  p90 %s  p99 %s  max %s\n",
		FormatDuration(r.Latency.P50), FormatDuration(r.Latency.P90), FormatDuration(r.Latency.P99), FormatDuration(r.Latency.Max))
	if r.FirstError != nil {
		fmt.Fprintf(&b, "first error %v\n", r.FirstError)
	}
	return b.String()
}

// Percentiles summarise a set of durations (nearest rank).
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize returns the percentiles of d, sorting it in place.
func Summarize(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	return Percentiles{
		N:   len(d),
		P50: Quantile(d, 0.50),
		P90: Quantile(d, 0.90),
		P99: Quantile(d, 0.99),
		Max: d[len(d)-1],
	}
}

// Quantile is the nearest-rank q-quantile of sorted (0 < q ≤ 1).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// FormatDuration prints a latency with about three significant digits, in µs or ms.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// Run calls call from opts.Concurrency workers: first for opts.Warmup (discarded), then
// for opts.Duration or opts.Requests calls, and summarises the measured calls. A call
// still in flight when the time is up is let finish but not counted. Run returns early
// when ctx ends.
func Run(ctx context.Context, opts Options, call Call) Result {
	c := max(opts.Concurrency, 1)
	if opts.Warmup > 0 {
		phase(ctx, c, opts.Warmup, 0, call)
	}
	res := phase(ctx, c, opts.Duration, opts.Requests, call)
	res.Concurrency = c
	return res
}

// phase runs c workers until d has passed (d > 0) or n calls have been made (n > 0).
//
// The calls get ctx itself, not a context ending at d: Connect sends a context's
// deadline to the server, which would then fail the last calls of the run with
// DEADLINE_EXCEEDED a moment before the client's own context ends.
func phase(ctx context.Context, c int, d time.Duration, n int, call Call) Result {
	if d <= 0 && n <= 0 {
		return Result{}
	}
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		firstErr error
		issued   int // calls started, against n
		wg       sync.WaitGroup
	)
	claim := func() bool {
		if n <= 0 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if issued >= n {
			return false
		}
		issued++
		return true
	}
	start := time.Now()
	stop := start.Add(d)
	inWindow := func(t time.Time) bool { return d <= 0 || t.Before(stop) }
	for range c {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			nerr := 0
			var werr error
			for ctx.Err() == nil && inWindow(time.Now()) && claim() {
				t0 := time.Now()
				err := call(ctx)
				t1 := time.Now()
				if !inWindow(t1) || ctx.Err() != nil {
					break // ended after the measured window, or the run was cancelled
				}
				if err != nil {
					nerr++
					if werr == nil {
						werr = err
					}
					continue
				}
				lat = append(lat, t1.Sub(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += nerr
			if firstErr == nil {
				firstErr = werr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if d > 0 && elapsed > d {
		// The calls that finished after d are not counted.
		elapsed = d
	}
	return Result{
		Requests:   len(all) + errs,
		Errors:     errs,
		Elapsed:    elapsed,
		Latency:    Summarize(all),
		FirstError: firstErr,
	}
}

// NewHTTPClient returns a client for concurrency workers: keep-alive connections, as
// many idle ones kept per host as there are workers (so none is closed and re-opened
// between calls), HTTP/1.1 (Connect's unary calls are plain POSTs).
func NewHTTPClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(concurrency, tr.MaxIdleConns)
	tr.MaxIdleConnsPerHost = max(concurrency, 1)
	tr.DisableCompression = true // loopback: gzip would only cost CPU on both sides
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// Codecs a client can speak.
const (
	CodecJSON  = "json"  // Connect protocol, JSON bodies: what the web UI (connect-web) sends
	CodecProto = "proto" // Connect protocol, binary protobuf bodies
)

// Encoding is how requests and responses are encoded on the wire.
type Encoding struct {
	Codec string // CodecJSON or CodecProto
	// Gzip: accept gzip-compressed responses, as browsers and connect-go clients do by
	// default (the server then compresses every response).
	Gzip bool
	// Raw: the client sends the request and reads the answer's bytes, checking its
	// status and content type, without decompressing or decoding it, as wrk or hey
	// do (use NewRawCall). Decoding is the caller's CPU (a browser's, on its own
	// machine); on a machine the load generator shares with the server it would
	// otherwise be counted against the server.
	Raw bool
}

func (e Encoding) String() string {
	s := e.Codec + ", uncompressed"
	if e.Gzip {
		s = e.Codec + " + gzip"
	}
	if e.Raw {
		s += ", bytes read undecoded"
	}
	return s
}

// NewRawCall returns a Call that sends the named read-only RPC with an empty request
// as the Connect protocol does (POST, enc's content type, Connect-Protocol-Version,
// Accept-Encoding gzip when enc.Gzip) and reads the whole answer without decoding it:
// a call succeeds when the answer is 200 with enc's content type and a body.
func NewRawCall(hc *http.Client, baseURL string, enc Encoding, rpc string) (Call, error) {
	if !slices.Contains(RPCs, rpc) {
		return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownRPC, rpc, strings.Join(RPCs, ", "))
	}
	var contentType string
	var body []byte
	switch enc.Codec {
	case CodecJSON:
		contentType, body = "application/json", []byte("{}")
	case CodecProto:
		contentType = "application/proto"
	default:
		return nil, fmt.Errorf("codec %q: want %q or %q", enc.Codec, CodecJSON, CodecProto)
	}
	url := strings.TrimSuffix(baseURL, "/") + "/" + testingv1connect.TestingServiceName + "/" + rpc
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Connect-Protocol-Version", "1")
		if enc.Gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		switch {
		case err != nil:
			return fmt.Errorf("%s: reading the answer: %w", rpc, err)
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("%s: HTTP %d", rpc, resp.StatusCode)
		case resp.Header.Get("Content-Type") != contentType:
			return fmt.Errorf("%s: answer of type %q, want %q", rpc, resp.Header.Get("Content-Type"), contentType)
		case n == 0 && enc.Codec == CodecJSON:
			return fmt.Errorf("%s: empty answer", rpc)
		}
		return nil
	}, nil
}

// NewClient returns the generated TestingService client for baseURL (scheme, host and
// any base path, e.g. http://127.0.0.1:8080 or http://host/status/v2) speaking the
// Connect protocol with enc.
func NewClient(hc *http.Client, baseURL string, enc Encoding) (testingv1connect.TestingServiceClient, error) {
	var opts []connect.ClientOption
	switch enc.Codec {
	case CodecJSON:
		opts = append(opts, connect.WithProtoJSON())
	case CodecProto:
	default:
		return nil, fmt.Errorf("codec %q: want %q or %q", enc.Codec, CodecJSON, CodecProto)
	}
	if !enc.Gzip {
		opts = append(opts, connect.WithAcceptCompression("gzip", nil, nil))
	}
	return testingv1connect.NewTestingServiceClient(hc, strings.TrimSuffix(baseURL, "/"), opts...), nil
}

// RPCs are the read-only RPCs a load can be made of.
var RPCs = []string{"GetStatus", "GetBuildResult", "GetServerInfo"}

// ErrUnknownRPC is returned by RPC for a name not in RPCs.
var ErrUnknownRPC = errors.New("unknown rpc")

// RPC returns a Call sending the named read-only RPC with an empty request.
func RPC(client testingv1connect.TestingServiceClient, name string) (Call, error) {
	switch name {
	case "GetStatus":
		return func(ctx context.Context) error {
			_, err := client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
			return err
		}, nil
	case "GetBuildResult":
		return func(ctx context.Context) error {
			_, err := client.GetBuildResult(ctx, connect.NewRequest(&testingv1.GetBuildResultRequest{}))
			return err
		}, nil
	case "GetServerInfo":
		return func(ctx context.Context) error {
			_, err := client.GetServerInfo(ctx, connect.NewRequest(&testingv1.GetServerInfoRequest{}))
			return err
		}, nil
	}
	return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownRPC, name, strings.Join(RPCs, ", "))
}
