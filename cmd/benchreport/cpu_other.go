//go:build !linux

package main

import "time"

// procCPU is unknown off Linux (it reads /proc).
func procCPU(int) (time.Duration, bool) { return 0, false }

// selfCPU is unknown off Linux.
func selfCPU() (time.Duration, bool) { return 0, false }

// machineBusy is unknown off Linux.
func machineBusy() (time.Duration, bool) { return 0, false }
