package main

import (
	"context"
	"log/slog"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// buildService assembles the TestingService from the config: the state file,
// the outside systems and the service layer. The returned func releases what
// it holds (call it after the server has stopped).
//
// For now it serves UNIMPLEMENTED for every RPC; the service layer replaces
// this body and keeps the signature.
func buildService(ctx context.Context, cfg config, logger *slog.Logger) (testingv1connect.TestingServiceHandler, func(), error) {
	return testingv1connect.UnimplementedTestingServiceHandler{}, func() {}, nil
}
