package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// binary is the testingctl built once for every test (TestMain).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "testingctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "testingctl")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "go build testingctl: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// deadline bounds every wait of these tests: a wait that fails is a test failure,
// never a synchronisation by time.
const deadline = 30 * time.Second

// result is how one run of the binary ended.
type result struct {
	code           int
	stdout, stderr string
}

// env is the environment of the binary: the test's own minus any TESTINGCTL_*
// variable of the person running the tests, plus the given ones.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TESTINGCTL_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// ctl runs testingctl against w (TESTINGCTL_SERVER) and returns how it ended.
func (w *world) ctl(t *testing.T, args ...string) result {
	t.Helper()
	return w.ctlEnv(t, nil, "", args...)
}

// ctlEnv runs testingctl with extra environment variables and stdin.
func (w *world) ctlEnv(t *testing.T, extra []string, stdin string, args ...string) result {
	t.Helper()
	server := "TESTINGCTL_SERVER=" + w.url
	return runCtl(t, append([]string{server}, extra...), stdin, args...)
}

func runCtl(t *testing.T, extra []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env(extra...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(deadline):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("testingctl %s did not finish within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), deadline, stdout.String(), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("testingctl %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// must asserts the exit code of r.
func (r result) must(t *testing.T, code int, what string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, r.code, code, r.stdout, r.stderr)
	}
	return r
}

// parse reads r's stdout as the protojson of m, refusing unknown fields: the
// --json shape is exactly the response message.
func (r result) parse(t *testing.T, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(r.stdout), m); err != nil {
		t.Fatalf("stdout is not the JSON of %T: %v\n%s", m, err, r.stdout)
	}
}

// jsonError is the shape of an error with --json (on stderr).
type jsonError struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Hint     string `json:"hint"`
		ExitCode int    `json:"exitCode"`
	} `json:"error"`
}

// lines follows a running process's output line by line.
type lines struct {
	ch chan string
}

func follow(r io.Reader) *lines {
	l := &lines{ch: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			l.ch <- sc.Text()
		}
		close(l.ch)
	}()
	return l
}

// next returns the next line for which ok is true (skipping others); it fails the
// test when the output ends or nothing comes within the deadline.
func (l *lines) next(t *testing.T, what string, ok func(string) bool) string {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case line, open := <-l.ch:
			if !open {
				t.Fatalf("output ended while waiting for %s", what)
			}
			if ok(line) {
				return line
			}
		case <-timeout:
			t.Fatalf("no %s within %s", what, deadline)
		}
	}
}

// screen collects what a process writes to a terminal (the pty's master side).
type screen struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
	done   chan struct{}
}

func watchScreen(r io.Reader) *screen {
	s := &screen{notify: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if n > 0 {
				s.mu.Lock()
				s.buf.Write(b[:n])
				s.mu.Unlock()
				select {
				case s.notify <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return // EIO once every slave end is closed
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want count times.
func (s *screen) waitFor(t *testing.T, want string, count int) {
	t.Helper()
	timeout := time.After(deadline)
	for strings.Count(s.String(), want) < count {
		select {
		case <-s.notify:
		case <-s.done:
			if strings.Count(s.String(), want) >= count {
				return
			}
			t.Fatalf("terminal closed before showing %q %d time(s):\n%s", want, count, s.String())
		case <-timeout:
			t.Fatalf("terminal did not show %q %d time(s) within %s:\n%s", want, count, deadline, s.String())
		}
	}
}
