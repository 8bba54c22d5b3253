package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/persistence"
)

// TestBinary builds testingd and runs it as a person or a service manager
// would.
func TestBinary(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to build the binary with")
	}
	bin := testingdBinary(t)

	t.Run("dev auth refuses a public address", func(t *testing.T) {
		t.Parallel()
		cmd := command(t, bin, "--listen", "0.0.0.0:0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 {
			t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, stderr.String())
		}
		for _, want := range []string{"loopback", "127.0.0.1", "--auth openlibrary"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not mention %q:\n%s", want, stderr.String())
			}
		}
	})

	t.Run("help", func(t *testing.T) {
		t.Parallel()
		out, err := command(t, bin, "-h").Output()
		if err != nil {
			t.Fatalf("testingd -h: %v", err)
		}
		if !strings.Contains(string(out), "TESTINGD_LISTEN") {
			t.Errorf("usage does not list env twins:\n%s", out)
		}
	})

	t.Run("serves and stops on SIGTERM", func(t *testing.T) {
		t.Parallel()
		const secret = "ghp_binarytestsecret"
		cmd := command(t, bin, "--listen", "127.0.0.1:0")
		cmd.Env = append(cmd.Env, "TESTINGD_GITHUB_TOKEN="+secret)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		t.Cleanup(func() {
			// Only when the test failed before SIGTERM: kill our own child.
			select {
			case <-exited:
			default:
				_ = cmd.Process.Kill()
			}
		})

		// stderr is a pipe, not a terminal, so the log is JSON.
		var logged bytes.Buffer
		lines := bufio.NewScanner(io.TeeReader(stderr, &logged))
		addr := ""
		for addr == "" && lines.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", lines.Text())
			}
			if rec.Msg == "listening" {
				addr = rec.Addr
			}
		}
		if addr == "" {
			t.Fatalf("no 'listening' log line; stderr:\n%s", logged.String())
		}
		// Keep draining stderr so the child never blocks on a full pipe.
		drained := make(chan struct{})
		go func() {
			for lines.Scan() {
			}
			close(drained)
		}()

		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
			t.Errorf("GET /healthz = %s %q", resp.Status, body)
		}

		// --auth dev created the empty state file legacy creates, so a first run just works.
		state, err := os.ReadFile(filepath.Join(cmd.Dir, "_testing-prs.json"))
		if err != nil || string(state) != "{\n  \"last_deploy_at\": \"\",\n  \"prs\": []\n}" {
			t.Errorf("state file = %q, %v; want the empty legacy state", state, err)
		}
		resp, err = http.Post("http://"+addr+"/openlibrary.testing.v1.TestingService/GetStatus", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("GetStatus: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version"`) {
			t.Errorf("GetStatus on a fresh state = %s %s", resp.Status, body)
		}

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		go func() { <-drained; exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want status 0; stderr:\n%s", err, logged.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("testingd did not exit within 15s of SIGTERM")
		}
		if strings.Contains(logged.String(), secret) {
			t.Errorf("the log leaks the GitHub token:\n%s", logged.String())
		}
		if !strings.Contains(logged.String(), `"msg":"stopped"`) {
			t.Errorf("no 'stopped' log line:\n%s", logged.String())
		}
	})
}

// command runs bin with an environment free of the caller's TESTINGD_* and
// GITHUB_TOKEN variables.
func command(t *testing.T, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), bin, args...)
	// The defaults write the state file into the working directory (dev auth creates it).
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) && !strings.HasPrefix(kv, "GITHUB_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// builtBinary is the testingd binary the process tests run, built once per test run.
var builtBinary struct {
	once      sync.Once
	dir, path string
	out       []byte
	err       error
}

// testingdBinary builds the testingd binary the first time it is called and returns
// its path: every test that runs the real binary (this file, concurrency, crash,
// interop) shares one build instead of each doing its own.
func testingdBinary(t *testing.T) string {
	t.Helper()
	builtBinary.once.Do(func() {
		if builtBinary.dir, builtBinary.err = os.MkdirTemp("", "testingd-bin-"); builtBinary.err != nil {
			return
		}
		builtBinary.path = filepath.Join(builtBinary.dir, "testingd")
		builtBinary.out, builtBinary.err = exec.Command("go", "build", "-o", builtBinary.path, ".").CombinedOutput()
	})
	if builtBinary.err != nil {
		t.Fatalf("go build: %v\n%s", builtBinary.err, builtBinary.out)
	}
	return builtBinary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBinary.dir != "" {
		_ = os.RemoveAll(builtBinary.dir)
	}
	os.Exit(code)
}

// buildInProcess parses args as testingd's flags and builds the service as main does,
// released when the test ends.
func buildInProcess(t *testing.T, args ...string) (config, testingv1connect.TestingServiceHandler) {
	t.Helper()
	cfg, err := parseConfig(args, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	svc, release, err := buildService(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return cfg, svc
}

// serveInProcess is buildInProcess served over real HTTP by testingd's own handler
// (routes, interceptors, metrics); it returns the server's URL.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	cfg, svc := buildInProcess(t, args...)
	srv := httptest.NewServer(newHandler(cfg, svc, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// auditTrail returns every event of the state file's audit trail, oldest first.
func auditTrail(t *testing.T, statePath string) []persistence.Event {
	t.Helper()
	log := persistence.OpenAuditLog(persistence.AuditPath(statePath), nil)
	var events []persistence.Event
	for token := ""; ; {
		page, next, err := log.List(t.Context(), persistence.MaxEventPageSize, token, 0)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, page...)
		if token = next; token == "" {
			break
		}
	}
	slices.Reverse(events)
	return events
}

// randomWrite sends one write a client of the concurrency tests makes: add, remove or
// restore a random PR of 1..pool, or stage a random switch on it (and, with pair, on
// the next one too, so that writes overlap in more rows).
func randomWrite(ctx context.Context, client testingv1connect.TestingServiceClient, rng *rand.Rand, pool int, pair bool) error {
	n := int32(rng.IntN(pool) + 1)
	var err error
	switch rng.IntN(5) {
	case 0:
		_, err = client.AddPRs(ctx, connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"#" + strconv.Itoa(int(n))}}))
	case 1:
		_, err = client.RemovePRs(ctx, connect.NewRequest(&testingv1.RemovePRsRequest{Numbers: []int32{n}}))
	case 2:
		_, err = client.RestorePRs(ctx, connect.NewRequest(&testingv1.RestorePRsRequest{Numbers: []int32{n}}))
	default:
		numbers := []int32{n}
		if pair {
			numbers = append(numbers, n%int32(pool)+1)
		}
		stage := []testingv1.Stage{testingv1.Stage_STAGE_ENABLE, testingv1.Stage_STAGE_DISABLE, testingv1.Stage_STAGE_UNSTAGE}[rng.IntN(3)]
		_, err = client.StagePRs(ctx, connect.NewRequest(&testingv1.StagePRsRequest{Numbers: numbers, Stage: stage}))
	}
	return err
}
