package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel stop testingd if e2eserver itself is killed
// (SIGKILL included), so that no testingd outlives its world.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
