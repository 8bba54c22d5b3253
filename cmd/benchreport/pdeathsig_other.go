//go:build !linux

package main

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere benchreport stops its children itself.
func setParentDeathSignal(*exec.Cmd) {}
