// Command testingd serves Open Library's testing deployments: the
// TestingService over Connect, gRPC and gRPC-Web, reflection, health,
// metrics and the web UI, all on one port.
//
// Run `testingd -h` for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain returns the exit code: 0 after a clean shutdown, 1 when the server
// fails, 2 on a usage error.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "testingd: %v\nRun 'testingd -h' for the flags.\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	logger.Info("starting", "config", cfg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	svc, cleanup, err := buildService(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	defer cleanup()

	if err := run(ctx, cfg, newHandler(cfg, svc, logger), logger, nil); err != nil {
		logger.Error("server failed", "error", err)
		return 1
	}
	return 0
}
