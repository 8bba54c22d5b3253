package main

import (
	"context"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// rpcMetrics is the interceptor that measures every RPC testingd serves (the
// TestingService, reflection and health): requests by procedure and code, how long
// they took, and how many are running. The procedure label is bounded: Connect routes
// only the procedures testingd serves to interceptors.
//
// Streams (WatchStatus) are counted when they end, with the code they ended with, and
// their lifetimes go into a histogram of their own: a stream lives for hours, and in
// the latency histogram it would only fill the +Inf bucket and drown the p99.
type rpcMetrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	streamDuration *prometheus.HistogramVec
	inFlight       *prometheus.GaugeVec
	// watchStreams counts the open WatchStatus streams, for testingd_watchers when the
	// service does not count its watchers itself.
	watchStreams atomic.Int64
}

var _ connect.Interceptor = (*rpcMetrics)(nil)

// rpcLatencyBuckets span a warm read (about a millisecond) to a cold read or a deploy
// waiting for GitHub and Jenkins (tens of seconds).
var rpcLatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newRPCMetrics(reg prometheus.Registerer) *rpcMetrics {
	m := &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "testingd_rpc_requests_total",
			Help: `RPCs served, by procedure and code ("ok" or the Connect code); streams are counted when they end.`,
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "testingd_rpc_duration_seconds",
			Help:    "How long unary RPCs took, by procedure.",
			Buckets: rpcLatencyBuckets,
		}, []string{"procedure"}),
		streamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "testingd_rpc_stream_duration_seconds",
			Help:    "How long streaming RPCs (WatchStatus) stayed open, by procedure.",
			Buckets: []float64{1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600},
		}, []string{"procedure"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "testingd_rpc_in_flight",
			Help: "RPCs running now (open streams included), by procedure.",
		}, []string{"procedure"}),
	}
	reg.MustRegister(m.requests, m.duration, m.streamDuration, m.inFlight)
	return m
}

func (m *rpcMetrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		procedure := req.Spec().Procedure
		inFlight := m.inFlight.WithLabelValues(procedure)
		inFlight.Inc()
		defer inFlight.Dec()
		start := time.Now()
		res, err := next(ctx, req)
		m.duration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(procedure, codeLabel(err)).Inc()
		return res, err
	}
}

// WrapStreamingClient passes through: testingd's own outgoing calls are not RPCs it
// serves.
func (m *rpcMetrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (m *rpcMetrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		procedure := conn.Spec().Procedure
		inFlight := m.inFlight.WithLabelValues(procedure)
		inFlight.Inc()
		defer inFlight.Dec()
		if procedure == testingv1connect.TestingServiceWatchStatusProcedure {
			m.watchStreams.Add(1)
			defer m.watchStreams.Add(-1)
		}
		start := time.Now()
		err := next(ctx, conn)
		m.streamDuration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(procedure, codeLabel(err)).Inc()
		return err
	}
}

// codeLabel is "ok" or the code the client receives (as the log line says it).
func codeLabel(err error) string {
	if err == nil {
		return "ok"
	}
	return rpcCode(err).String()
}
