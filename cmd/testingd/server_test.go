package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// testServer is a real `run` on 127.0.0.1:0.
type testServer struct {
	addr   string // host:port
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startServer runs the real handler and server with svc, configured from
// args (after --listen 127.0.0.1:0). Its log goes to logOut, or to the test's
// output when nil.
func startServer(t *testing.T, svc testingv1connect.TestingServiceHandler, logOut io.Writer, args ...string) *testServer {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--listen", "127.0.0.1:0"}, args...), env(nil))
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if logOut == nil {
		logOut = t.Output()
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Not t.Context: it is canceled before Cleanup runs, and tests cancel
	// the server themselves to check shutdown.
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() {
		s.done <- run(ctx, cfg, newHandler(cfg, svc, logger), logger, func(a net.Addr) { ready <- a })
	}()
	select {
	case a := <-ready:
		s.addr = a.String()
	case err := <-s.done:
		cancel()
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		// A test that shut the server down itself has checked the result.
		if first, err := s.stop(); first && err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return s
}

// shutdown cancels the server's context and returns what run returned.
func (s *testServer) shutdown() error {
	_, err := s.stop()
	return err
}

// stop is shutdown, also saying whether this call was the one that stopped
// the server.
func (s *testServer) stop() (first bool, err error) {
	s.once.Do(func() {
		first = true
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(15 * time.Second):
			s.err = errors.New("run did not return 15s after its context was canceled")
		}
	})
	return first, s.err
}

func (s *testServer) url(path string) string { return "http://" + s.addr + path }

// http1Client speaks HTTP/1.1 only, like a browser talking to a plain-HTTP
// server.
func http1Client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// h2cClient speaks unencrypted HTTP/2 only, as gRPC clients do.
func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeService answers GetStatus and WatchStatus; every other RPC is
// UNIMPLEMENTED.
type fakeService struct {
	testingv1connect.UnimplementedTestingServiceHandler
	started chan struct{} // receives once per GetStatus call
	release chan struct{} // GetStatus waits for it to be closed, when not nil
}

func newFakeService() *fakeService {
	return &fakeService{started: make(chan struct{}, 16)}
}

func (f *fakeService) GetStatus(context.Context, *connect.Request[testingv1.GetStatusRequest]) (*connect.Response[testingv1.GetStatusResponse], error) {
	f.started <- struct{}{}
	if f.release != nil {
		// Deliberately ignores the context: this is a request that takes
		// its time, and shutdown must wait for it.
		<-f.release
	}
	return connect.NewResponse(&testingv1.GetStatusResponse{Version: "v1"}), nil
}

func (f *fakeService) WatchStatus(ctx context.Context, _ *connect.Request[testingv1.WatchStatusRequest], stream *connect.ServerStream[testingv1.WatchStatusResponse]) error {
	if err := stream.Send(&testingv1.WatchStatusResponse{Status: &testingv1.GetStatusResponse{Version: "v1"}}); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

var basePaths = []struct {
	name, flag, base string
}{
	{"root", "/", "/"},
	{"base path", "/status/v2/", "/status/v2/"},
}

func TestRPCProtocols(t *testing.T) {
	t.Parallel()
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, testingv1connect.UnimplementedTestingServiceHandler{}, nil, "--base-path", bp.flag)
			protocols := []struct {
				name   string
				client *http.Client
				base   string
				opts   []connect.ClientOption
			}{
				{"connect json", http1Client(t), bp.base, []connect.ClientOption{connect.WithProtoJSON()}},
				{"connect proto", http1Client(t), bp.base, nil},
				{"connect proto over h2c", h2cClient(t), bp.base, nil},
				{"grpc", h2cClient(t), bp.base, []connect.ClientOption{connect.WithGRPC()}},
				{"grpc at the root", h2cClient(t), "/", []connect.ClientOption{connect.WithGRPC()}},
				{"grpc-web", http1Client(t), bp.base, []connect.ClientOption{connect.WithGRPCWeb()}},
				{"grpc-web json", http1Client(t), bp.base, []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
			}
			for _, p := range protocols {
				t.Run(p.name, func(t *testing.T) {
					t.Parallel()
					client := testingv1connect.NewTestingServiceClient(p.client, srv.url(p.base), p.opts...)
					_, err := client.AddPRs(t.Context(), connect.NewRequest(&testingv1.AddPRsRequest{Refs: []string{"1"}}))
					if got := connect.CodeOf(err); got != connect.CodeUnimplemented {
						t.Errorf("AddPRs: code %v (%v), want unimplemented", got, err)
					}
					_, err = client.GetServerInfo(t.Context(), connect.NewRequest(&testingv1.GetServerInfoRequest{}))
					if got := connect.CodeOf(err); got != connect.CodeUnimplemented {
						t.Errorf("GetServerInfo: code %v (%v), want unimplemented", got, err)
					}
				})
			}
		})
	}
}

func TestConnectGET(t *testing.T) {
	t.Parallel()
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, newFakeService(), nil, "--base-path", bp.flag)
			var (
				mu      sync.Mutex
				methods []string
			)
			base := http1Client(t)
			recording := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				methods = append(methods, r.Method+" "+r.URL.Path)
				mu.Unlock()
				return base.Transport.RoundTrip(r)
			})}
			client := testingv1connect.NewTestingServiceClient(recording, srv.url(bp.base), connect.WithHTTPGet(), connect.WithProtoJSON())
			res, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
			if err != nil {
				t.Fatalf("GetStatus: %v", err)
			}
			if diff := cmp.Diff(&testingv1.GetStatusResponse{Version: "v1"}, res.Msg, protocmp.Transform()); diff != "" {
				t.Errorf("GetStatus (-want +got):\n%s", diff)
			}
			want := []string{"GET " + bp.base + "openlibrary.testing.v1.TestingService/GetStatus"}
			if diff := cmp.Diff(want, methods); diff != "" {
				t.Errorf("requests sent (-want +got):\n%s", diff)
			}

			// The same URL a browser or curl would use.
			resp, err := base.Get(srv.url(bp.base + "openlibrary.testing.v1.TestingService/GetStatus?encoding=json&message=%7B%7D"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":"v1"`) {
				t.Errorf("plain GET: %s %s", resp.Status, body)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, testingv1connect.UnimplementedTestingServiceHandler{}, nil, "--base-path", bp.flag)
			for _, base := range []string{bp.base, "/"} {
				health := grpchealth.NewClient(h2cClient(t), srv.url(base), connect.WithGRPC())
				for _, service := range []string{"", testingv1connect.TestingServiceName} {
					res, err := health.Check(t.Context(), &grpchealth.CheckRequest{Service: service})
					if err != nil {
						t.Fatalf("Check(%q) at %s: %v", service, base, err)
					}
					if res.Status != grpchealth.StatusServing {
						t.Errorf("Check(%q) at %s = %v, want serving", service, base, res.Status)
					}
				}
				_, err := health.Check(t.Context(), &grpchealth.CheckRequest{Service: "no.such.Service"})
				if got := connect.CodeOf(err); got != connect.CodeNotFound {
					t.Errorf("Check(unknown) at %s: code %v, want not_found", base, got)
				}
			}
		})
	}
}

func TestReflection(t *testing.T) {
	t.Parallel()
	want := []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"openlibrary.testing.v1.TestingService",
	}
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, testingv1connect.UnimplementedTestingServiceHandler{}, nil, "--base-path", bp.flag)

			h2c := h2cClient(t)
			// v1alpha speaks the same messages as v1; older grpcurl and
			// grpc-go clients only know v1alpha.
			v1alpha := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				r = r.Clone(r.Context())
				r.URL.Path = strings.Replace(r.URL.Path, "grpc.reflection.v1.", "grpc.reflection.v1alpha.", 1)
				return h2c.Transport.RoundTrip(r)
			})}
			for _, c := range []struct {
				name   string
				client *http.Client
				base   string
			}{
				{"v1", h2c, bp.base},
				{"v1 at the root", h2c, "/"},
				{"v1alpha", v1alpha, bp.base},
				{"v1alpha at the root", v1alpha, "/"},
			} {
				t.Run(c.name, func(t *testing.T) {
					stream := // Unlike the generated clients, grpcreflect does not trim a
						// trailing slash, and "//" in a path makes ServeMux redirect.
						grpcreflect.NewClient(c.client, strings.TrimSuffix(srv.url(c.base), "/"), connect.WithGRPC()).NewStream(t.Context())
					defer stream.Close()
					names, err := stream.ListServices()
					if err != nil {
						t.Fatalf("ListServices: %v", err)
					}
					var got []string
					for _, n := range names {
						got = append(got, string(n))
					}
					slices.Sort(got)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("services (-want +got):\n%s", diff)
					}
					// What `grpcurl describe` needs.
					files, err := stream.FileContainingSymbol(testingv1connect.TestingServiceName)
					if err != nil {
						t.Fatalf("FileContainingSymbol: %v", err)
					}
					if len(files) == 0 || files[0].GetName() != "openlibrary/testing/v1/testing.proto" {
						t.Errorf("FileContainingSymbol returned %d files, first %q", len(files), files[0].GetName())
					}
				})
			}
		})
	}
}

func TestHTTPRoutes(t *testing.T) {
	t.Parallel()
	for _, bp := range basePaths {
		t.Run(bp.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, testingv1connect.UnimplementedTestingServiceHandler{}, nil, "--base-path", bp.flag)
			client := http1Client(t)
			tests := []struct {
				name, method, path string
				wantStatus         int
				wantBody           string
				wantType           string
			}{
				{"healthz", "GET", bp.base + "healthz", 200, "ok\n", "text/plain; charset=utf-8"},
				{"healthz HEAD", "HEAD", bp.base + "healthz", 200, "", ""},
				{"healthz POST", "POST", bp.base + "healthz", 405, "", ""},
				{"metrics", "GET", bp.base + "metrics", 200, "go_goroutines", "text/plain"},
				{"process metrics", "GET", bp.base + "metrics", 200, "process_start_time_seconds", ""},
				{"web UI", "GET", bp.base, 200, "assets/app-", "text/html; charset=utf-8"},
				{"web UI route", "GET", bp.base + "prs/123", 200, "<!doctype html>", "text/html; charset=utf-8"},
				{"missing asset", "GET", bp.base + "missing.js", 404, "", ""},
			}
			if bp.base != "/" {
				tests = append(tests,
					struct {
						name, method, path string
						wantStatus         int
						wantBody           string
						wantType           string
					}{"nothing else at the root", "GET", "/healthz", 404, "", ""},
					struct {
						name, method, path string
						wantStatus         int
						wantBody           string
						wantType           string
					}{"base without slash redirects", "GET", strings.TrimSuffix(bp.base, "/"), 200, "<!doctype html>", ""},
				)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.url(tt.path), nil)
					if err != nil {
						t.Fatal(err)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != tt.wantStatus {
						t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
					}
					if !strings.Contains(string(body), tt.wantBody) {
						t.Errorf("%s %s: body does not contain %q:\n%.300s", tt.method, tt.path, tt.wantBody, body)
					}
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
						t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, ct, tt.wantType)
					}
				})
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLoggingInterceptor(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := startServer(t, newFakeService(), &logs)
	client := testingv1connect.NewTestingServiceClient(h2cClient(t), srv.url("/"), connect.WithGRPC())
	if _, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	_, _ = client.Deploy(t.Context(), connect.NewRequest(&testingv1.DeployRequest{}))
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client.WatchStatus(ctx, connect.NewRequest(&testingv1.WatchStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() {
		t.Fatalf("WatchStatus: %v", stream.Err())
	}
	cancel()
	stream.Close()

	wants := []string{
		`msg=rpc component=rpc procedure=/openlibrary.testing.v1.TestingService/GetStatus protocol=grpc duration=`,
		`procedure=/openlibrary.testing.v1.TestingService/Deploy protocol=grpc duration=`,
		`procedure=/openlibrary.testing.v1.TestingService/WatchStatus protocol=grpc duration=`,
	}
	codes := []string{"code=ok", "code=unimplemented", "code=canceled"}
	deadline := time.Now().Add(5 * time.Second)
	for i, want := range wants {
		for {
			line := lineContaining(logs.String(), want)
			if line != "" {
				if !strings.Contains(line, codes[i]) {
					t.Errorf("log line %q lacks %q", line, codes[i])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("no log line contains %q; log:\n%s", want, logs.String())
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func lineContaining(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

func TestShutdown(t *testing.T) {
	t.Parallel()

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, testingv1connect.UnimplementedTestingServiceHandler{}, nil)
		start := time.Now()
		if err := srv.shutdown(); err != nil {
			t.Fatalf("run: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("shutdown took %v", d)
		}
		if _, err := http.Get(srv.url("/healthz")); err == nil {
			t.Error("server still answers after shutdown")
		}
	})

}

// TestShutdownWaitsForInFlightRequest checks graceful shutdown: a request
// running when the context is canceled still gets its answer, and run then
// returns nil.
func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	t.Parallel()
	protocols := []struct {
		name   string
		client func(*testing.T) *http.Client
		opts   []connect.ClientOption
	}{
		{"connect", http1Client, []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc", h2cClient, []connect.ClientOption{connect.WithGRPC()}},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			svc := newFakeService()
			svc.release = make(chan struct{})
			srv := startServer(t, svc, nil)
			client := testingv1connect.NewTestingServiceClient(p.client(t), srv.url("/"), p.opts...)
			type result struct {
				res *connect.Response[testingv1.GetStatusResponse]
				err error
			}
			resc := make(chan result, 1)
			go func() {
				res, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
				resc <- result{res, err}
			}()
			<-svc.started

			shutdownErr := make(chan error, 1)
			go func() { shutdownErr <- srv.shutdown() }()
			// Shutdown has begun once new connections are refused.
			waitRefused(t, srv.addr)
			select {
			case err := <-shutdownErr:
				t.Fatalf("run returned %v while a request was in flight", err)
			default:
			}
			close(svc.release)

			r := <-resc
			if r.err != nil {
				t.Fatalf("in-flight GetStatus: %v", r.err)
			}
			if !proto.Equal(r.res.Msg, &testingv1.GetStatusResponse{Version: "v1"}) {
				t.Errorf("in-flight GetStatus = %v", r.res.Msg)
			}
			select {
			case err := <-shutdownErr:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("run did not return after the last request finished")
			}
		})
	}
}

func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("server still accepts connections")
}

// TestShutdownEndsStreams checks that an open WatchStatus stream does not
// hold shutdown for the whole timeout: it ends at once with UNAVAILABLE so
// that the client reconnects.
func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	for _, p := range []struct {
		name   string
		client func(*testing.T) *http.Client
		opts   []connect.ClientOption
	}{
		{"connect", http1Client, nil},
		{"grpc", h2cClient, []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", http1Client, []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, newFakeService(), nil, "--shutdown-timeout", "30s")
			client := testingv1connect.NewTestingServiceClient(p.client(t), srv.url("/"), p.opts...)
			stream, err := client.WatchStatus(t.Context(), connect.NewRequest(&testingv1.WatchStatusRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			if !stream.Receive() {
				t.Fatalf("first message: %v", stream.Err())
			}
			start := time.Now()
			if err := srv.shutdown(); err != nil {
				t.Fatalf("run: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("shutdown with an open stream took %v", d)
			}
			if stream.Receive() {
				t.Fatal("stream still open after shutdown")
			}
			if got := connect.CodeOf(stream.Err()); got != connect.CodeUnavailable {
				t.Errorf("stream ended with %v (%v), want unavailable", got, stream.Err())
			}
		})
	}
}

// TestShutdownTimeout checks that a request outliving --shutdown-timeout is
// cut off and run says so.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	svc := newFakeService()
	svc.release = make(chan struct{})
	defer close(svc.release)
	srv := startServer(t, svc, nil, "--shutdown-timeout", "200ms")
	client := testingv1connect.NewTestingServiceClient(http1Client(t), srv.url("/"))
	errc := make(chan error, 1)
	go func() {
		_, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
		errc <- err
	}()
	<-svc.started
	if err := srv.shutdown(); err == nil || !strings.Contains(err.Error(), "200ms") {
		t.Errorf("run = %v, want a shutdown timeout error", err)
	}
	if err := <-errc; err == nil {
		t.Error("the cut-off request succeeded")
	}
}

func TestRunListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := parseConfig([]string{"--listen", ln.Addr().String()}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	err = run(t.Context(), cfg, http.NotFoundHandler(), logger, nil)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("run on a taken port = %v, want a listen error", err)
	}
}
