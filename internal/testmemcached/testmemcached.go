// Package testmemcached runs a real memcached as a child process of a test, so that
// code talking to memcached is tested against the real server rather than a mock.
//
// Each instance gets its own port and is killed (by its own pid) when the test ends.
// memcached must be installed; when it is not, the test fails with instructions
// instead of skipping, so a missing dependency can never pass silently.
package testmemcached

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	startAttempts = 5               // fresh ports tried when the first one is taken
	readyTimeout  = 5 * time.Second // how long a started memcached has to accept connections
)

// Instance is one memcached child process on a fixed loopback port. Stop and Restart
// let a test take the server away and bring it back on the same address.
type Instance struct {
	tb   testing.TB
	bin  string
	port int

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns
	stderr *lockedBuffer
}

// Start starts a memcached for the test and returns its address ("127.0.0.1:PORT").
// It is killed when the test and its subtests have finished.
func Start(tb testing.TB) string {
	tb.Helper()
	return New(tb).Addr()
}

// New starts a memcached for the test, like Start, and returns the instance so the
// test can stop and restart it.
func New(tb testing.TB) *Instance {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		tb.Fatalf("memcached not installed: run `make test` (installs it) or apt-get install memcached (%v)", err)
	}
	m := &Instance{tb: tb, bin: bin}
	tb.Cleanup(m.Stop)

	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("testmemcached: pick a free port: %v", err)
		}
		p, err := m.spawn(port)
		if err == nil {
			m.mu.Lock()
			m.port, m.proc = port, p
			m.mu.Unlock()
			return m
		}
		// Most likely another process took the port between our probe and
		// memcached's bind: try another one.
		lastErr = err
	}
	tb.Fatalf("testmemcached: start memcached (%d attempts): %v", startAttempts, lastErr)
	return nil
}

// Addr is the instance's address, the same across restarts.
func (m *Instance) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port))
}

// Stop kills memcached (SIGKILL, so nothing is flushed or closed politely, as in a
// crash) and waits for it to exit. Stopping a stopped instance does nothing.
func (m *Instance) Stop() {
	m.mu.Lock()
	p := m.proc
	m.proc = nil
	m.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Restart stops memcached if it is running and starts a fresh, empty one on the
// same port. It fails the test if the port cannot be had again.
func (m *Instance) Restart() {
	m.tb.Helper()
	m.Stop()
	var lastErr error
	// The port was ours a moment ago; only a stranger grabbing it in between makes
	// this fail, and then waiting a little is all we can do.
	for attempt := range startAttempts {
		if attempt > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		p, err := m.spawn(m.port)
		if err == nil {
			m.mu.Lock()
			m.proc = p
			m.mu.Unlock()
			return
		}
		lastErr = err
	}
	m.tb.Fatalf("testmemcached: restart memcached on port %d: %v", m.port, lastErr)
}

// spawn starts memcached on port and waits until it answers as itself.
func (m *Instance) spawn(port int) (*process, error) {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16", "-t", "1"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root otherwise
	}
	cmd := exec.Command(m.bin, args...)
	stderr := &lockedBuffer{}
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", m.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), stderr: stderr}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(port); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// waitReady polls until memcached on port answers "stats" with our child's pid: a
// mere TCP connect could reach some other process that holds the port while ours
// failed to bind.
func (p *process) waitReady(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("memcached exited during start (%v): %s", p.cmd.ProcessState, strings.TrimSpace(p.stderr.String()))
		default:
		}
		pid, err := StatsPID(addr)
		if err == nil {
			if pid != p.cmd.Process.Pid {
				return fmt.Errorf("port %d answered by memcached pid %d, not ours (%d)", port, pid, p.cmd.Process.Pid)
			}
			return nil
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("memcached on %s not ready after %v: %v", addr, readyTimeout, lastErr)
}

func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill() // by pid: only the child we started
	<-p.exited
}

// StatsPID asks the memcached at addr for its pid.
func StatsPID(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			break
		}
		if v, ok := strings.CutPrefix(line, "STAT pid "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no pid in stats reply")
}

// freePort asks the kernel for a free loopback port. The port is released before
// memcached binds it, so a collision is possible; callers retry.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func findBinary() (string, error) {
	if p, err := exec.LookPath("memcached"); err == nil {
		return p, nil
	}
	// Debian installs it in /usr/bin, but a PATH trimmed by a test runner may
	// miss it; these are the usual places.
	for _, p := range fallbackPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no memcached in PATH or in %s", strings.Join(fallbackPaths, ", "))
}

// fallbackPaths are tried when PATH has no memcached (a variable so the test can
// simulate a machine without it).
var fallbackPaths = []string{"/usr/bin/memcached", "/usr/local/bin/memcached", "/usr/sbin/memcached"}

// lockedBuffer collects memcached's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
