package load

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, n := range v {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p90 of ten is the ninth", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
		{"p99 of ten is the last", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Quantile(tt.d, tt.q); got != tt.want {
				t.Errorf("Quantile(%v, %v) = %v, want %v", tt.d, tt.q, got, tt.want)
			}
		})
	}
}

func TestRunCountsRequestsAndErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	boom := errors.New("boom")
	res := Run(t.Context(), Options{Concurrency: 4, Requests: 100}, func(context.Context) error {
		if calls.Add(1)%10 == 0 {
			return boom
		}
		return nil
	})
	if res.Requests != 100 || res.Errors != 10 || res.Latency.N != 90 || !errors.Is(res.FirstError, boom) {
		t.Errorf("Run = %d requests, %d errors, %d latencies, first error %v; want 100, 10, 90, boom", res.Requests, res.Errors, res.Latency.N, res.FirstError)
	}
	if got := calls.Load(); got != 100 {
		t.Errorf("call ran %d times, want 100", got)
	}
}

func TestRunForADurationCountsNoCutOffCallAsAnError(t *testing.T) {
	t.Parallel()
	// Each call outlives the window: none is counted, and none is a failure.
	res := Run(t.Context(), Options{Concurrency: 2, Duration: 10 * time.Millisecond}, func(ctx context.Context) error {
		time.Sleep(30 * time.Millisecond)
		return ctx.Err()
	})
	if res.Errors != 0 || res.Elapsed != 10*time.Millisecond {
		t.Errorf("Run = %d errors over %v; want 0 over 10ms", res.Errors, res.Elapsed)
	}
}
