//go:build !linux

package main

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent's; elsewhere
// e2eserver stops testingd when it exits normally.
func dieWithParent(*exec.Cmd) {}
