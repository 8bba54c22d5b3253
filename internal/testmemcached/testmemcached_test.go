package testmemcached

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// roundTrip stores and reads back one key on addr over the text protocol.
func roundTrip(t *testing.T, addr, key, value string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	if value != "" {
		fmt.Fprintf(conn, "set %s 0 0 %d\r\n%s\r\n", key, len(value), value)
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line != "STORED\r\n" {
			return "", fmt.Errorf("set: %q", line)
		}
	}
	fmt.Fprintf(conn, "get %s\r\n", key)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if line == "END\r\n" {
		return "", nil
	}
	data, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(data, "\r\n"), nil
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	m := New(t)
	addr := m.Addr()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want 127.0.0.1:PORT", addr)
	}
	if got, err := roundTrip(t, addr, "k", "v1"); err != nil || got != "v1" {
		t.Fatalf("round trip = %q, %v; want v1", got, err)
	}

	m.Stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("dial %s after Stop succeeded; memcached still running", addr)
	}
	m.Stop() // stopping twice is harmless

	m.Restart()
	if m.Addr() != addr {
		t.Fatalf("address changed across restart: %s → %s", addr, m.Addr())
	}
	if got, err := roundTrip(t, addr, "k", ""); err != nil || got != "" {
		t.Fatalf("get after restart = %q, %v; want an empty cache", got, err)
	}
	m.Restart() // restarting a running instance replaces it
	if got, err := roundTrip(t, addr, "k", "v2"); err != nil || got != "v2" {
		t.Fatalf("round trip after second restart = %q, %v", got, err)
	}
}

func TestStartGivesEachTestItsOwnServer(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two instances share %s", a)
	}
	if _, err := roundTrip(t, a, "only-in-a", "x"); err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(t, b, "only-in-a", ""); err != nil || got != "" {
		t.Fatalf("b sees a's key: %q, %v", got, err)
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu       sync.Mutex
	msg      string
	cleanups []func()
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func TestMissingBinaryFailsLoudly(t *testing.T) {
	// Not parallel: it changes PATH and the fallback list.
	t.Setenv("PATH", t.TempDir())
	saved := fallbackPaths
	fallbackPaths = []string{t.TempDir() + "/memcached"}
	t.Cleanup(func() { fallbackPaths = saved })

	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f)
	}()
	<-done
	if !strings.Contains(f.msg, "memcached not installed: run `make test` (installs it) or apt-get install memcached") {
		t.Fatalf("Fatalf message = %q", f.msg)
	}
}
