package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/webui"
)

const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// newRegistry returns a Prometheus registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// newHandler routes everything testingd serves under cfg.BasePath:
//
//	BASE/openlibrary.testing.v1.TestingService/*   Connect, gRPC and gRPC-Web
//	BASE/grpc.reflection.v1.ServerReflection/*     reflection (v1 and v1alpha)
//	BASE/grpc.health.v1.Health/*                   health
//	BASE/healthz                                   "ok" for load balancers
//	BASE/metrics                                   Prometheus
//	BASE/webhooks/github                           GitHub webhooks (with --github-webhook-secret)
//	BASE/...                                       the web UI (the fallback)
func newHandler(cfg config, svc testingv1connect.TestingServiceHandler, logger *slog.Logger) http.Handler {
	registry := newRegistry()
	rpcMetrics := registerMetrics(registry, svc)

	base := cfg.BasePath
	if base == "" {
		base = "/"
	}
	// prefix is what http.StripPrefix removes so that handlers see paths
	// rooted at "/": Connect handlers route on the exact procedure path.
	prefix := strings.TrimSuffix(base, "/")

	interceptors := connect.WithInterceptors(newLoggingInterceptor(logger), rpcMetrics, drainInterceptor{})
	rpcRoutes := http.NewServeMux()
	// The origin middleware lets cookie-authenticated writes be refused when a page
	// of another site sent them (no CSRF).
	// Requests are read and decoded before anyone is authenticated: bound what a
	// request may make the server buffer (a 64 KiB gzip body can inflate to
	// gigabytes). The largest legitimate request, 100 refs of AddPRs, is a few KiB.
	readLimit := connect.WithReadMaxBytes(maxRequestBytes)
	svcPath, svcHandler := testingv1connect.NewTestingServiceHandler(svc, append(service.Codecs(), interceptors, readLimit)...)
	rpcRoutes.Handle(svcPath, service.OriginMiddleware(svcHandler))
	reflector := grpcreflect.NewStaticReflector(
		testingv1connect.TestingServiceName,
		grpchealth.HealthV1ServiceName,
		grpcreflect.ReflectV1ServiceName,
		grpcreflect.ReflectV1AlphaServiceName,
	)
	rpcRoutes.Handle(grpcreflect.NewHandlerV1(reflector, interceptors))
	rpcRoutes.Handle(grpcreflect.NewHandlerV1Alpha(reflector, interceptors))
	rpcRoutes.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(testingv1connect.TestingServiceName), interceptors))
	rpcServices := []string{
		testingv1connect.TestingServiceName,
		grpcreflect.ReflectV1ServiceName,
		grpcreflect.ReflectV1AlphaServiceName,
		grpchealth.HealthV1ServiceName,
	}

	mux := http.NewServeMux()
	for _, name := range rpcServices {
		mux.Handle(base+name+"/", http.StripPrefix(prefix, rpcRoutes))
		if base != "/" {
			// gRPC clients (grpcurl, grpc-go) always call /pkg.Service/Method
			// at the root of the host: a gRPC target has no path. So with a
			// base path the RPC routes are served at the root too, and
			// `grpcurl -plaintext HOST:PORT list` keeps working. Only these
			// service prefixes are taken at the root; nothing else is.
			mux.Handle("/"+name+"/", rpcRoutes)
		}
	}
	mux.HandleFunc("GET "+base+"healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET "+base+"metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelError),
	}))
	if wh, ok := svc.(interface{ WebhookHandler() http.Handler }); ok {
		if h := wh.WebhookHandler(); h != nil {
			mux.Handle(base+"webhooks/github", h)
		}
	}
	registerAPIDocs(mux, base)
	mux.Handle(base, http.StripPrefix(prefix, webui.Handler()))
	if cfg.Auth == authDev {
		return loopbackHostOnly(mux)
	}
	return mux
}

// maxRequestBytes bounds a decoded RPC request.
const maxRequestBytes = 1 << 20

// loopbackHostOnly answers only requests for a loopback host name. --auth dev makes
// every caller a maintainer and listens on loopback only, but a web page can still
// reach it through DNS rebinding: a name of the attacker's resolves first to their
// server, then to 127.0.0.1, and the page's requests arrive as same-origin requests
// for that name. Checking Host closes that (the browser cannot forge it).
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
		if !isLoopback(host) && !strings.EqualFold(host, "localhost") && !strings.HasSuffix(strings.ToLower(host), ".localhost") {
			http.Error(w, "--auth dev answers only loopback host names (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// drainKey carries, in every request's context, a context that is canceled
// when the server starts shutting down.
type drainKey struct{}

// drainInterceptor ends streams when the server starts shutting down. Unary
// calls finish on their own within the shutdown timeout, but a WatchStatus
// stream never does: without this, every open browser tab would hold
// shutdown for the whole --shutdown-timeout. The stream ends with
// UNAVAILABLE, which tells clients to reconnect (to the next instance).
type drainInterceptor struct{}

func (drainInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (drainInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (drainInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		draining, ok := ctx.Value(drainKey{}).(context.Context)
		if !ok {
			return next(ctx, conn)
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(draining, cancel)
		defer stop()
		err := next(ctx, conn)
		if err != nil && draining.Err() != nil {
			return connect.NewError(connect.CodeUnavailable, errors.New("server is shutting down; reconnect"))
		}
		return err
	}
}

// run serves handler on cfg.Listen until ctx is done, then shuts down
// gracefully: it stops accepting connections, ends streams, and lets
// in-flight requests finish for up to cfg.ShutdownTimeout. It returns nil
// after a clean shutdown. ready, when not nil, is called with the address
// actually listened on (useful with port 0) before serving starts.
func run(ctx context.Context, cfg config, handler http.Handler, logger *slog.Logger, ready func(net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	draining, drain := context.WithCancel(context.Background())
	defer drain()
	// HTTP/1 for browsers and Connect, unencrypted HTTP/2 (h2c) for gRPC:
	// TLS is terminated by the proxy in front, when there is one.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		// No ReadTimeout or WriteTimeout: WatchStatus streams for hours.
		ErrorLog: slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), drainKey{}, draining)
		},
	}

	addr := ln.Addr()
	logger.Info("listening", "addr", addr.String(), "url", "http://"+addr.String()+cfg.BasePath)
	if ready != nil {
		ready(addr)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s were cut off: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}
