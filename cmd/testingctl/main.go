// Command testingctl is the command-line client of testingd: a thin layer over the
// generated Connect client (gen/openlibrary/testing/v1/testingv1connect). Run
// "testingctl help" for the commands, the environment and the exit codes, and see
// docs/CLI.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Ctrl-C (or SIGTERM) cancels the running request; watch then exits cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
