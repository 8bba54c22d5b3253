package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"connectrpc.com/connect"
)

// newLogger builds the one logger the whole process uses. With --log-format
// auto it writes text for a person at a terminal and JSON for everything else
// (systemd, docker, a test reading stderr).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if useJSON(cfg.LogFormat, w) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func useJSON(format string, w io.Writer) bool {
	switch format {
	case logFormatJSON:
		return true
	case logFormatText:
		return false
	}
	return !isTerminal(w)
}

// isTerminal reports whether w is a character device. That is a coarse test
// (/dev/null is one too) but needs no dependency, and a wrong guess only
// changes how the log looks.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// loggingInterceptor logs one line per RPC: procedure, protocol, duration
// and code ("ok" on success).
type loggingInterceptor struct {
	logger *slog.Logger
}

var _ connect.Interceptor = (*loggingInterceptor)(nil)

func newLoggingInterceptor(logger *slog.Logger) *loggingInterceptor {
	return &loggingInterceptor{logger: logger.With("component", "rpc")}
}

func (i *loggingInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		i.log(ctx, req.Spec().Procedure, req.Peer().Protocol, start, err)
		return res, err
	}
}

// WrapStreamingClient passes through: testingd's own outgoing calls are not
// RPCs it serves.
func (i *loggingInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *loggingInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		i.log(ctx, conn.Spec().Procedure, conn.Peer().Protocol, start, err)
		return err
	}
}

func (i *loggingInterceptor) log(ctx context.Context, procedure, protocol string, start time.Time, err error) {
	attrs := []slog.Attr{
		slog.String("procedure", procedure),
		slog.String("protocol", protocol),
		slog.Duration("duration", time.Since(start)),
	}
	if err == nil {
		i.logger.LogAttrs(ctx, slog.LevelInfo, "rpc", append(attrs, slog.String("code", "ok"))...)
		return
	}
	code := rpcCode(err)
	attrs = append(attrs, slog.String("code", code.String()))
	level := slog.LevelInfo
	if serverFault(code) {
		// The message is what the client received too; the service layer
		// keeps internal details and secrets out of it.
		level = slog.LevelError
		var connectErr *connect.Error
		if errors.As(err, &connectErr) {
			attrs = append(attrs, slog.String("error", connectErr.Message()))
		}
	}
	i.logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// rpcCode is the code the client receives for err. Handlers may return
// context errors as they are; connect turns those into CANCELED or
// DEADLINE_EXCEEDED only after the interceptors have seen them.
func rpcCode(err error) connect.Code {
	var connectErr *connect.Error
	switch {
	case errors.As(err, &connectErr):
		return connectErr.Code()
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return connect.CodeDeadlineExceeded
	}
	return connect.CodeUnknown
}

// serverFault reports whether a code means testingd itself failed, rather
// than the caller, an outside system, or the caller going away.
func serverFault(code connect.Code) bool {
	switch code {
	case connect.CodeUnknown, connect.CodeInternal, connect.CodeDataLoss:
		return true
	}
	return false
}
