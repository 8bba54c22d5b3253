//go:build unix

package gitmirror

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts git in its own process group and makes the timeout kill the
// whole group, helpers included.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
