package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/internetarchive/testingd/internal/testmemcached"
)

// child is a server benchreport started (memcached, testingd). It is stopped by its own
// pid, never by name.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// startChild starts bin. Its output goes to logFile when given (a file is handed to
// the child as is, costing benchreport nothing while it measures), else to memory.
func startChild(name string, logFile *os.File, bin string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if logFile != nil {
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// stop asks the child to end (SIGTERM), and kills it after grace.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// freePort asks the kernel for a free loopback port (released before the child binds
// it; a collision makes the child fail to start, which is reported).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMemcached runs a memcached child on a free loopback port, with the flags
// internal/testmemcached uses, and waits until it answers as itself.
func startMemcached(bin string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-t", "1"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root otherwise
	}
	c, err := startChild("memcached", nil, bin, args...)
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid, err := testmemcached.StatsPID(addr)
		if err == nil && pid == c.cmd.Process.Pid {
			return c, addr, nil
		}
		if err == nil {
			err = fmt.Errorf("port %d answered by pid %d, not ours", port, pid)
		}
		if !c.alive() || time.Now().After(deadline) {
			c.stop(time.Second)
			return nil, "", fmt.Errorf("memcached not ready on %s: %v: %s", addr, err, strings.TrimSpace(c.out.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memcachedVersion is `memcached -V`, or "" when it cannot be run.
func memcachedVersion(bin string) string {
	out, err := exec.Command(bin, "-V").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// waitHealthy polls url until it answers 200 or the child exits or timeout passes.
func waitHealthy(c *child, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if !c.alive() {
			return fmt.Errorf("%s exited: %s", c.name, strings.TrimSpace(c.out.String()))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %v", c.name, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBuffer collects a child's output for error messages.
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
