package testmemcached

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill memcached if the test binary dies
// without running its cleanups (a panic in another goroutine, a timeout kill), so no
// orphaned server outlives the test.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
