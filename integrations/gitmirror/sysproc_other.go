//go:build !unix

package gitmirror

import "os/exec"

// setProcessGroup does nothing here: the timeout kills git itself, and WaitDelay
// bounds the wait for its helpers.
func setProcessGroup(*exec.Cmd) {}
