package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill a child (memcached, testingd) if
// benchreport dies without stopping it, so no orphaned server outlives the run.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
