//go:build !linux

package testmemcached

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere tb.Cleanup alone stops memcached.
func setParentDeathSignal(*exec.Cmd) {}
