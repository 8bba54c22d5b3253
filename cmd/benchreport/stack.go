package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
	"github.com/internetarchive/testingd/integrations/github"
	"github.com/internetarchive/testingd/integrations/jenkins"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/persistence"
	"github.com/internetarchive/testingd/service"
	"github.com/internetarchive/testingd/service/drift"
)

// githubConcurrency is testingd's --github-concurrency default (and drift's).
const githubConcurrency = 100

// stackOptions vary a stack from what testingd builds by default.
type stackOptions struct {
	cachePrefix string           // memcached key prefix: a fresh one is an empty cache
	memory      bool             // the in-process cache even when memcached runs
	now         func() time.Time // the drift resolver's clock (nil: real time)
	onUpdate    func()           // drift.Options.OnUpdate
}

// stack is one TestingService as cmd/testingd/wire.go builds it: the state store, a
// GitHub client with its own connection pool and (empty) ETag cache, the Jenkins
// client, the shared cache and the drift resolver with its defaults.
type stack struct {
	svc      *service.Server
	resolver *drift.Resolver
	gh       *github.Client
	ghTr     *http.Transport
	ghRec    *ghRecorder // every GitHub request, timed
	store    *persistence.Store
	release  func()
}

func (b *bench) newStack(w *world, o stackOptions) (*stack, error) {
	logger := slog.New(slog.DiscardHandler)
	store := persistence.NewStore(w.statePath, logger)

	// As wire.go: one transport, an idle connection kept for every concurrent request.
	ghTr := http.DefaultTransport.(*http.Transport).Clone()
	ghTr.MaxIdleConnsPerHost = githubConcurrency
	rec := &ghRecorder{next: ghTr}
	gh, err := github.New(github.Options{
		BaseURL:    w.gh.URL,
		Repo:       fakegithub.DefaultRepo,
		HTTPClient: &http.Client{Transport: rec},
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	jk, err := jenkins.New(jenkins.Options{
		RunsURL:    b.jenkins.RunsURL(),
		TriggerURL: b.jenkins.TriggerURL(),
		Timeout:    10 * time.Second,
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	var cache drift.Cache
	release := func() {}
	if b.memcached != "" && !o.memory {
		mc := memcache.NewMemcached([]string{b.memcached}, memcache.Options{Logger: logger, KeyPrefix: o.cachePrefix})
		cache, release = mc, func() { _ = mc.Close() }
	} else {
		cache = memcache.NewMemory(memcache.DefaultMaxEntries)
	}
	// As wire.go, the resolver tells the service about new drift (svc is bound before
	// anything can resolve).
	var svc *service.Server
	resolver := drift.New(gh, cache, drift.Options{
		Repo:   fakegithub.DefaultRepo,
		Logger: logger,
		Now:    o.now,
		OnUpdate: func() {
			svc.Notify()
			if o.onUpdate != nil {
				o.onUpdate()
			}
		},
	})
	svc = service.New(service.Options{
		Store:          store,
		Audit:          persistence.OpenAuditLog(persistence.AuditPath(w.statePath), logger),
		GitHub:         gh,
		TranscriptPath: w.transcript,
		Drift:          resolver,
		Jenkins:        jk,
		Auth:           service.WithTokens(service.DevAuth{}, nil),
		Repo:           fakegithub.DefaultRepo,
		Logger:         logger,
	})
	return &stack{svc: svc, resolver: resolver, gh: gh, ghTr: ghTr, ghRec: rec, store: store, release: release}, nil
}

func (s *stack) close() {
	s.release()
	s.ghTr.CloseIdleConnections()
}

// recorder collects durations while on.
type recorder struct {
	mu sync.Mutex
	on bool
	d  []time.Duration
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	if r.on {
		r.d = append(r.d, d)
	}
	r.mu.Unlock()
}

func (r *recorder) start() {
	r.mu.Lock()
	r.on, r.d = true, make([]time.Duration, 0, 1<<16)
	r.mu.Unlock()
}

func (r *recorder) stop() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.d
	r.on, r.d = false, nil
	return d
}

// front serves whichever stack is current over real HTTP, as cmd/testingd/server.go
// does (HTTP/1 and h2c on one port, same timeouts), and times every request twice: in
// a Connect interceptor (the handler: state, drift, plan and rows) and around the HTTP
// handler (that plus decoding the request and encoding the response).
type front struct {
	URL     string
	srv     *http.Server
	current atomic.Pointer[http.Handler]
	handler recorder // Connect interceptor: the GetStatus handler itself
	http    recorder // the whole HTTP handler, codec included
}

func startFront() (*front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &front{URL: "http://" + ln.Addr().String()}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	f.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := f.current.Load()
			if h == nil {
				http.Error(w, "no service yet", http.StatusServiceUnavailable)
				return
			}
			start := time.Now()
			(*h).ServeHTTP(w, r)
			f.http.add(time.Since(start))
		}),
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// serve makes s the service answering from now on.
func (f *front) serve(s *stack) {
	timing := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			res, err := next(ctx, req)
			f.handler.add(time.Since(start))
			return res, err
		}
	})
	// As cmd/testingd/server.go: the service's own codecs (they reuse a memoised
	// status's encoding) and the origin middleware around the Connect handler.
	path, handler := testingv1connect.NewTestingServiceHandler(s.svc, append(service.Codecs(), connect.WithInterceptors(timing))...)
	mux := http.NewServeMux()
	mux.Handle(path, service.OriginMiddleware(handler))
	var h http.Handler = mux
	f.current.Store(&h)
}

func (f *front) startRecording() {
	f.handler.start()
	f.http.start()
}

func (f *front) stopRecording() (handler, whole []time.Duration) {
	return f.handler.stop(), f.http.stop()
}

func (f *front) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		_ = f.srv.Close() // a load run's idle connections: nothing left to finish
	}
}
