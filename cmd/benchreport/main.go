// Command benchreport measures testingd in one run and writes docs/BENCHMARKS.md.
//
// Everything runs against a fake GitHub (internal/fakegithub) that adds a fixed latency
// (100 ms by default) to every request, and a fake Jenkins. For each set size it
// builds the real service as cmd/testingd/wire.go does, serves it over real HTTP and
// calls it with the generated Connect client:
//
//   - cold GetStatus (fresh resolver, cache and GitHub client each time) next to the
//     legacy algorithm (per PR, one after another: GET pulls/N, then GET compare)
//     through the same fake in the same run;
//   - the GitHub requests of a cold resolve, of an unchanged re-resolve after the drift
//     TTL, and of a forced refresh;
//   - warm GetStatus: server time (Connect interceptor and whole HTTP handler) and
//     client latency, sequentially and under load (internal/load, as cmd/loadgen);
//   - with -testingd, the same load against the real testingd binary as a child process,
//     and a soak of it (-soak, 3 minutes): readers, writers and 200 WatchStatus streams at
//     once, its throughput, latency, memory and goroutines sampled over time, and a
//     verdict on growth (internal/load's Soak, as `loadgen -soak`).
//
// The cold resolve against set size and the soak are drawn as SVG plots (plot.go, no
// dependency) into plots/ next to the report, which embeds them.
//
// The output of `go test -bench` (-gobench) is pasted in. scripts/bench.sh (make bench)
// runs it all; nothing here asserts a speed: goals are reported as met or missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/internal/fakejenkins"
	"github.com/internetarchive/testingd/internal/load"
)

type config struct {
	out        string
	gobench    string
	include    string
	testingd   string
	memcached  string // "auto", "off" or a path
	sizes      []int
	reps       int
	latency    time.Duration
	sequential int
	duration   time.Duration
	warmup     time.Duration
	conc       []int
	cpuprofile string
	command    string
	baseline   bool
	quietWait  time.Duration
	retries    int
	plots      string // directory of the SVG plots ("" = none)

	soak           time.Duration // 0 = no soak
	soakReaders    int
	soakWriters    int
	soakWatchers   int
	soakWriteEvery time.Duration
	soakSample     time.Duration
}

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		return 1
	}
	plots, err := rep.plots()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: plots: %v\n", err)
		return 1
	}
	if cfg.plots != "" {
		if err := writePlots(cfg.plots, plots); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			return 1
		}
		rep.plotDir = relDir(cfg.out, cfg.plots)
		rep.plotNames = plotNames(plots)
	}
	md := rep.markdown()
	if cfg.out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			return 1
		}
		if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			return 1
		}
	}
	fmt.Print(md)
	return 0
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.StringVar(&cfg.out, "o", "docs/BENCHMARKS.md", "write the report to this `file` too (\"\" = stdout only)")
	fs.StringVar(&cfg.gobench, "gobench", "", "`file` holding `go test -bench` output to include")
	fs.StringVar(&cfg.include, "include", "", "Markdown `file` (a section made by another measurement, e.g. docs/ui-benchmarks.md) to include as it is")
	fs.StringVar(&cfg.testingd, "testingd", "", "testingd `binary` to load as a child process too (\"\" = skip)")
	fs.StringVar(&cfg.memcached, "memcached", "auto", "shared cache: auto (a memcached child when memcached is installed, else in-process), off (in-process), or the memcached `binary`")
	sizes := fs.String("sizes", "10,25,50,100,200", "tracked set sizes (50 must be one of them)")
	fs.IntVar(&cfg.reps, "reps", 5, "cold measurements per size")
	fs.DurationVar(&cfg.latency, "github-latency", 100*time.Millisecond, "latency the fake GitHub adds to every request")
	fs.IntVar(&cfg.sequential, "sequential", 20000, "warm GetStatus calls made one after another")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "duration of each load run")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up before each load run")
	conc := fs.String("c", "8,32,64", "concurrencies of the load runs")
	fs.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the in-process load run at the middle concurrency to `file`")
	fs.BoolVar(&cfg.baseline, "baseline", true, "measure the legacy sequential baseline (2 × N requests one after another)")
	fs.DurationVar(&cfg.quietWait, "quiet-wait", time.Minute, "before each timed phase, wait up to this long for other processes to leave the CPU idle (0 = never wait)")
	fs.IntVar(&cfg.retries, "retries", 2, "how many times a timed phase disturbed by other processes' CPU use is measured again")
	fs.StringVar(&cfg.plots, "plots", "", "write the SVG plots into this `directory` (\"\" = next to -o, in plots/; \"-\" = none)")
	fs.DurationVar(&cfg.soak, "soak", 3*time.Minute, "soak: how long to hold the testingd binary under readers, writers and watch streams (0 = skip; needs -testingd)")
	fs.IntVar(&cfg.soakReaders, "soak-readers", 4, "soak: GetStatus workers")
	fs.IntVar(&cfg.soakWriters, "soak-writers", 2, "soak: writers, each changing a row of its own")
	fs.IntVar(&cfg.soakWatchers, "soak-watchers", 200, "soak: WatchStatus streams kept open")
	fs.DurationVar(&cfg.soakWriteEvery, "soak-write-every", time.Second, "soak: each writer's period")
	fs.DurationVar(&cfg.soakSample, "soak-sample", 5*time.Second, "soak: sampling period")
	fs.StringVar(&cfg.command, "command", "", "the command that ran this, for the report (default: benchreport's own command line)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.sizes, err = intList(*sizes); err != nil {
		return cfg, fmt.Errorf("-sizes: %w", err)
	}
	if cfg.conc, err = intList(*conc); err != nil {
		return cfg, fmt.Errorf("-c: %w", err)
	}
	found := false
	for _, n := range cfg.sizes {
		found = found || n == 50
		if n < 10 {
			return cfg, errors.New("-sizes: each size must be at least 10")
		}
	}
	if !found {
		return cfg, errors.New("-sizes must include 50: the warm and re-resolve figures are for 50 PRs")
	}
	if cfg.reps < 1 || cfg.sequential < 1 || cfg.duration <= 0 {
		return cfg, errors.New("-reps, -sequential and -d must be positive")
	}
	if cfg.soak < 0 || cfg.soakReaders < 0 || cfg.soakWriters < 0 || cfg.soakWatchers < 0 || cfg.soakSample <= 0 {
		return cfg, errors.New("-soak, -soak-readers, -soak-writers and -soak-watchers must not be negative, -soak-sample must be positive")
	}
	switch cfg.plots {
	case "":
		if cfg.out != "" {
			cfg.plots = filepath.Join(filepath.Dir(cfg.out), "plots")
		}
	case "-":
		cfg.plots = ""
	}
	if cfg.command == "" {
		cfg.command = strings.Join(append([]string{"benchreport"}, args...), " ")
	}
	return cfg, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bench holds what the measurements share.
type bench struct {
	cfg       config
	tmp       string
	jenkins   *fakejenkins.Server
	memcached string // address of the memcached child; "" = in-process cache
	front     *front
	client    testingv1connect.TestingServiceClient // JSON + gzip, as the web UI in a browser
	call      load.Call                             // GetStatus through client
	calls     map[load.Encoding]load.Call           // GetStatus by encoding, for load runs

	memcachedPID int           // its CPU counts as benchreport's own
	waited       time.Duration // waiting for a quiet machine, in total
	notQuiet     int           // timed phases that started on a busy machine anyway
	retried      int           // timed phases measured again because others used the CPU
}

// browser is the encoding of the web UI in a browser (connect-web sends JSON; the browser
// accepts gzip): the one every goal is judged on.
var browser = load.Encoding{Codec: load.CodecJSON, Gzip: true}

// rawBrowser is the browser's encoding with a load generator that reads the answers'
// bytes without decoding them, as wrk or hey do: the JSON decoding is the browser's CPU,
// and on this machine the load generator's would be taken from the server's cores.
var rawBrowser = load.Encoding{Codec: load.CodecJSON, Gzip: true, Raw: true}

// encodings are those measured: the browser's first, then the others for comparison.
var encodings = []load.Encoding{
	browser,
	rawBrowser,
	{Codec: load.CodecJSON},
	{Codec: load.CodecProto, Gzip: true},
	{Codec: load.CodecProto},
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
}

func run(ctx context.Context, cfg config) (*report, error) {
	started := time.Now()
	rep := &report{cfg: cfg, machine: machineFacts(), started: started}
	tmp, err := os.MkdirTemp("", "benchreport-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	b := &bench{cfg: cfg, tmp: tmp, jenkins: fakejenkins.Start()}
	defer b.jenkins.Close()

	if bin := memcachedBinary(cfg.memcached); bin != "" {
		mc, addr, err := startMemcached(bin)
		if err != nil {
			return nil, err
		}
		defer mc.stop(2 * time.Second)
		b.memcached, b.memcachedPID = addr, mc.cmd.Process.Pid
		rep.cache = fmt.Sprintf("a real memcached (%s) started by benchreport as a child process on %s", memcachedVersion(bin), addr)
	} else {
		rep.cache = "the in-process cache (memcache.NewMemory): memcached was " + map[bool]string{true: "turned off with -memcached off", false: "not found on PATH"}[cfg.memcached == "off"]
	}

	if b.front, err = startFront(); err != nil {
		return nil, err
	}
	defer b.front.close()
	maxC := 1
	for _, c := range cfg.conc {
		maxC = max(maxC, c)
	}
	hc := load.NewHTTPClient(maxC)
	b.calls = map[load.Encoding]load.Call{}
	for _, enc := range encodings {
		if enc.Raw {
			if b.calls[enc], err = load.NewRawCall(hc, b.front.URL, enc, "GetStatus"); err != nil {
				return nil, err
			}
			continue
		}
		client, err := load.NewClient(hc, b.front.URL, enc)
		if err != nil {
			return nil, err
		}
		if enc == browser {
			b.client = client
		}
		if b.calls[enc], err = load.RPC(client, "GetStatus"); err != nil {
			return nil, err
		}
	}
	b.call = b.calls[browser]

	worlds := map[int]*world{}
	for _, n := range cfg.sizes {
		w, err := newWorld(n, tmp, cfg.latency, false)
		if err != nil {
			return nil, err
		}
		defer w.close()
		worlds[n] = w
	}

	for _, n := range cfg.sizes {
		progress("cold GetStatus, %d PRs (%d runs + 1 priming)", n, cfg.reps)
		cs, err := b.cold(ctx, worlds[n], false)
		if err != nil {
			return nil, fmt.Errorf("cold %d: %w", n, err)
		}
		if cfg.baseline {
			progress("legacy baseline, %d PRs (about %s)", n, time.Duration(2*n)*cfg.latency)
			cs.baseline, cs.baselineRequests, err = b.baseline(ctx, worlds[n])
			if err != nil {
				return nil, fmt.Errorf("baseline %d: %w", n, err)
			}
		}
		rep.cold = append(rep.cold, cs)
	}

	// The goal sizes again with every tracked PR open: what the merged and closed ones cost.
	for _, n := range cfg.sizes {
		if n != 50 && n != 200 {
			continue
		}
		w, err := newWorld(n, tmp, cfg.latency, true)
		if err != nil {
			return nil, err
		}
		progress("cold GetStatus, %d PRs all open (%d runs + 1 priming)", n, cfg.reps)
		cs, err := b.cold(ctx, w, false)
		if err == nil && cfg.baseline {
			progress("legacy baseline, %d PRs all open (about %s)", n, time.Duration(2*n)*cfg.latency)
			cs.baseline, cs.baselineRequests, err = b.baseline(ctx, w)
		}
		w.close()
		if err != nil {
			return nil, fmt.Errorf("cold %d all open: %w", n, err)
		}
		rep.coldOpen = append(rep.coldOpen, cs)
	}
	// The largest goal size with the in-process cache: what memcached adds to a cold resolve.
	if w, ok := worlds[200]; ok && b.memcached != "" {
		progress("cold GetStatus, 200 PRs with the in-process cache (%d runs + 1 priming)", cfg.reps)
		cs, err := b.cold(ctx, w, true)
		if err != nil {
			return nil, fmt.Errorf("cold 200 in-process cache: %w", err)
		}
		// The legacy algorithm has no shared cache: its pass over the same world is the
		// one measured for 200 above (reused, marked as such in the report).
		if c, ok := rep.coldOf(200); ok {
			cs.baseline, cs.baselineRequests, cs.baselineReused = c.baseline, c.baselineRequests, true
		}
		rep.coldOpen = append(rep.coldOpen, cs)
	}

	w50 := worlds[50]
	progress("re-resolve of an unchanged set of 50")
	if rep.rere, err = b.reresolve(ctx, w50); err != nil {
		return nil, fmt.Errorf("re-resolve: %w", err)
	}

	progress("warm GetStatus, 50 PRs")
	if rep.warm, err = b.warm(ctx, w50); err != nil {
		return nil, fmt.Errorf("warm: %w", err)
	}

	if cfg.testingd != "" {
		progress("the testingd binary under load, 50 PRs")
		rep.binary, err = b.binary(ctx, w50)
		if err != nil {
			return nil, fmt.Errorf("testingd binary: %w", err)
		}
	}

	if cfg.soak > 0 && cfg.testingd != "" {
		progress("soak of the testingd binary, 50 PRs, %s", cfg.soak)
		sr, err := b.soak(ctx, w50)
		if err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		rep.soak = &sr
	}

	if cfg.gobench != "" {
		data, err := os.ReadFile(cfg.gobench)
		if err != nil {
			return nil, err
		}
		rep.gobench = string(data)
	}
	if cfg.include != "" {
		data, err := os.ReadFile(cfg.include)
		if err != nil {
			return nil, err
		}
		rep.include = string(data)
	}
	rep.took, rep.waited, rep.notQuiet, rep.retried = time.Since(started), b.waited, b.notQuiet, b.retried
	return rep, ctx.Err()
}

// memcachedBinary resolves -memcached to a binary to run, or "" for the in-process cache.
func memcachedBinary(flagValue string) string {
	switch flagValue {
	case "off":
		return ""
	case "auto":
		p, err := exec.LookPath("memcached")
		if err != nil {
			return ""
		}
		return p
	}
	return flagValue
}

// profile runs fn under a CPU profile written to path ("" = no profile).
func profile(path string, fn func()) error {
	if path == "" {
		fn()
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	fn()
	pprof.StopCPUProfile()
	return nil
}
