package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// refresher holds one value fetched from an outside system, served
// stale-while-revalidate: a fresh value is returned at once; an older one is returned
// at once while one background fetch replaces it; only when there is no value at all
// does a caller wait for a fetch, and then at most `wait`. A failed fetch is not
// retried for failTTL, so a dead Jenkins costs one timeout per failTTL, not one per
// request.
type refresher[T any] struct {
	ttl, failTTL time.Duration
	timeout      time.Duration // bound of one fetch
	now          func() time.Time
	fetch        func(context.Context) (T, error)
	logger       *slog.Logger
	group        singleflight.Group

	mu        sync.RWMutex
	value     T
	ok        bool      // value holds a successful fetch
	fetchedAt time.Time // of value
	failedAt  time.Time // of the last failure, zero after a success
	onChange  func()    // called after a successful fetch
}

func newRefresher[T any](ttl, failTTL, timeout time.Duration, now func() time.Time, logger *slog.Logger, fetch func(context.Context) (T, error)) *refresher[T] {
	return &refresher[T]{ttl: ttl, failTTL: failTTL, timeout: timeout, now: now, fetch: fetch, logger: logger}
}

// get returns the value and whether it comes from a (possibly stale) successful fetch.
func (r *refresher[T]) get(ctx context.Context, wait time.Duration) (T, bool) {
	r.mu.RLock()
	v, ok, fetchedAt, failedAt := r.value, r.ok, r.fetchedAt, r.failedAt
	r.mu.RUnlock()
	now := r.now()
	switch {
	case ok && now.Sub(fetchedAt) < r.ttl, !failedAt.IsZero() && now.Sub(failedAt) < r.failTTL:
		return v, ok
	case ok:
		go r.group.Do("fetch", r.doFetch)
		return v, true
	}
	ch := r.group.DoChan("fetch", r.doFetch)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	case <-ctx.Done():
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.value, r.ok
}

// doFetch fetches once and stores the outcome. It runs detached from any request, so
// a caller that gives up does not cancel the fetch others wait for.
func (r *refresher[T]) doFetch() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	v, err := r.fetch(ctx)
	r.mu.Lock()
	if err != nil {
		r.failedAt = r.now()
		r.mu.Unlock()
		r.logger.Warn("fetch failed; serving older data", "err", err)
		return nil, nil
	}
	r.value, r.ok, r.fetchedAt, r.failedAt = v, true, r.now(), time.Time{}
	onChange := r.onChange
	r.mu.Unlock()
	if onChange != nil {
		onChange()
	}
	return nil, nil
}
