package olcompress

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultKey is the memcached key legacy keeps the whole set's drift under.
	DefaultKey = "status.github_pr_drift"
	// DefaultTTL is legacy's lifetime for that key.
	DefaultTTL = 60 * time.Second
	// DefaultCheckEvery is Run's interval when none is given: short enough that an
	// eviction by legacy (after add, deploy or refresh) is noticed within seconds.
	DefaultCheckEvery = 2 * time.Second
	// canarySuffix makes the default canary key (see MirrorOptions.CanaryKey).
	canarySuffix = ".testingd"
	// maxExpiryMargin is the default ExpiryMargin: memcached counts time in whole
	// seconds and rounds TTLs up, so an item may vanish up to about a second before
	// or after TTL by our clock; two seconds covers that and scheduling delays.
	maxExpiryMargin = 2 * time.Second
	// recentWrites is how many of our own recent values the mirror recognises, so
	// that an older value of ours left by a failed Set is not taken for legacy's.
	recentWrites = 8
)

// Cache is the part of a cache the mirror needs. integrations/memcache.Memcached
// implements it; without a KeyPrefix it uses keys as given, which is what sharing a
// key with legacy requires. Failures are not reported: a failed read is a miss and
// a failed write does nothing, which is why the mirror keeps a canary key. The
// mirror itself never calls Delete (legacy's key is legacy's to evict); it is part
// of the interface so the service can hand one cache to the mirror and to the code
// that evicts on the service's own add, deploy and refresh.
type Cache interface {
	GetMulti(ctx context.Context, keys []string) map[string][]byte
	Set(ctx context.Context, key string, value []byte, ttl time.Duration)
	Delete(ctx context.Context, keys ...string)
}

// MirrorOptions configures a Mirror. The zero value is usable.
type MirrorOptions struct {
	// Key is the shared key; empty means DefaultKey.
	Key string
	// CanaryKey is written next to Key on every publish (the value is a digest of
	// what we wrote) and never touched by legacy. When Key is missing, a present
	// canary proves the cache kept our writes, so someone deleted Key; a missing
	// canary means the cache restarted, was flushed or is unreachable, which is
	// not an eviction. It also lets a restarted service recognise its own earlier
	// value. Empty (or equal to Key) means Key + ".testingd".
	CanaryKey string
	// TTL is the lifetime of each write; zero or negative means DefaultTTL.
	TTL time.Duration
	// ExpiryMargin is how close to TTL a missing key counts as expired rather than
	// evicted; zero or negative means 2 s, or TTL/4 if that is smaller.
	ExpiryMargin time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives evictions, foreign values and unreadable values; nil
	// discards.
	Logger *slog.Logger
	// OnEvicted is called (by Check, without the mirror's lock held) once per
	// eviction: legacy deleted the key while our value was live, which it does after
	// an add, a deploy or a "refresh", so the service should refresh drift from
	// GitHub and Publish the result.
	OnEvicted func()
	// OnForeign is called (by Check, without the lock) once per distinct valid value
	// we did not write: legacy resolved drift itself and stored it, and the service
	// may learn from it. The arguments are the caller's to keep.
	OnForeign func(order []int, entries map[int]DriftEntry)
	// OnNeedsRepublish is called by Run (not by Check, which returns
	// CheckRepublish instead) when the key should be written again from the
	// service's current data.
	OnNeedsRepublish func()
}

// MirrorStats counts what a Mirror has seen since it was made, for metrics.
type MirrorStats struct {
	Checks       uint64 // calls of Check
	Publishes    uint64 // writes of the key (unchanged publishes that write nothing are not counted)
	Evictions    uint64 // evictions by legacy noticed (OnEvicted calls)
	Foreign      uint64 // distinct valid values we did not write (OnForeign calls)
	DecodeErrors uint64 // distinct values that failed to decode or parse
}

// CheckResult is what one Check found.
type CheckResult int

const (
	// CheckCurrent: the key holds our latest value and it is not yet due a refresh.
	CheckCurrent CheckResult = iota
	// CheckRepublish: the key should be written from current data, because it is
	// missing without legacy having deleted it (never written, expired, cache
	// restarted or unreachable), because our value is past half its TTL, or because
	// it holds an older value of ours. The next Publish will write.
	CheckRepublish
	// CheckEvicted: legacy deleted the key while our value was live; OnEvicted has
	// been called. The next Publish will write.
	CheckEvicted
	// CheckForeign: the key holds a valid value we did not write; OnForeign has been
	// called for it (once per distinct value).
	CheckForeign
	// CheckUnreadable: the key holds a value that does not decode or parse. It was
	// logged (once per distinct value) and left alone.
	CheckUnreadable
)

func (r CheckResult) String() string {
	switch r {
	case CheckCurrent:
		return "current"
	case CheckRepublish:
		return "republish"
	case CheckEvicted:
		return "evicted"
	case CheckForeign:
		return "foreign"
	case CheckUnreadable:
		return "unreadable"
	}
	return fmt.Sprintf("CheckResult(%d)", int(r))
}

// Mirror keeps legacy's shared drift key up to date and notices what legacy does to
// it; see the package documentation. It is safe for concurrent use: Publish and
// Check are serialised (cache calls included, each bounded by the cache's own
// timeouts) so that each decides on a consistent view of what was last written.
type Mirror struct {
	cache  Cache
	codec  *Codec
	key    string
	canary string
	ttl    time.Duration
	margin time.Duration
	now    func() time.Time
	log    *slog.Logger
	opts   MirrorOptions

	mu          sync.Mutex
	last        *write               // our latest write while we believe it is in the cache; nil otherwise
	recent      [recentWrites]string // digests of our latest writes, a ring
	next        int                  // where the next digest goes in recent
	lastForeign string               // digest of the foreign value last reported
	lastBad     string               // digest of the unreadable value last logged

	checks, publishes, evictions, foreign, decodeErrs atomic.Uint64
}

type write struct {
	json   []byte    // the plain value, to see whether a Publish changes anything
	stored []byte    // the encoded value, to recognise it in the cache
	at     time.Time // taken before the Set, so ages err on the old side
}

// NewMirror returns a mirror writing through cache with codec (nil means
// Default()).
func NewMirror(cache Cache, codec *Codec, opts MirrorOptions) *Mirror {
	if codec == nil {
		codec = Default()
	}
	if opts.Key == "" {
		opts.Key = DefaultKey
	}
	if opts.CanaryKey == "" || opts.CanaryKey == opts.Key {
		opts.CanaryKey = opts.Key + canarySuffix
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.ExpiryMargin <= 0 {
		opts.ExpiryMargin = min(maxExpiryMargin, opts.TTL/4)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Mirror{
		cache:  cache,
		codec:  codec,
		key:    opts.Key,
		canary: opts.CanaryKey,
		ttl:    opts.TTL,
		margin: opts.ExpiryMargin,
		now:    opts.Now,
		log:    opts.Logger.With("key", opts.Key),
		opts:   opts,
	}
}

// Stats returns the counters so far.
func (m *Mirror) Stats() MirrorStats {
	return MirrorStats{
		Checks:       m.checks.Load(),
		Publishes:    m.publishes.Load(),
		Evictions:    m.evictions.Load(),
		Foreign:      m.foreign.Load(),
		DecodeErrors: m.decodeErrs.Load(),
	}
}

// Publish writes the set's drift to the key (and the canary) with the TTL, unless
// the value is the one we last wrote and that write is younger than half the TTL:
// rewriting an unchanged value only to keep it alive means the key never expires
// while the service keeps publishing, and stops costing writes otherwise. It fails
// only when the value cannot be encoded (larger than MaxTextSize); cache failures
// are the cache's to count, and show up in the next Check.
func (m *Mirror) Publish(ctx context.Context, order []int, entries map[int]DriftEntry) error {
	text := MarshalDrift(order, entries)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if l := m.last; l != nil && bytes.Equal(l.json, text) && now.Sub(l.at) < m.ttl/2 {
		return nil
	}
	stored, err := m.codec.Encode(text)
	if err != nil {
		return fmt.Errorf("olcompress: publish drift: %w", err)
	}
	sum := digest(stored)
	m.cache.Set(ctx, m.key, stored, m.ttl)
	m.cache.Set(ctx, m.canary, []byte(sum), m.ttl)
	m.last = &write{json: text, stored: stored, at: now}
	m.recent[m.next] = sum
	m.next = (m.next + 1) % len(m.recent)
	m.publishes.Add(1)
	return nil
}

// Check reads the key (and the canary, in the same request) once and decides what
// happened to it, calling OnEvicted or OnForeign as described in the package
// documentation. It never deletes or overwrites anything.
func (m *Mirror) Check(ctx context.Context) CheckResult {
	res, callback := m.check(ctx)
	if callback != nil {
		callback()
	}
	return res
}

// check decides under the lock and returns the callback to run outside it, so that
// a callback may call Publish.
func (m *Mirror) check(ctx context.Context) (CheckResult, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks.Add(1)
	vals := m.cache.GetMulti(ctx, []string{m.key, m.canary})
	now := m.now()
	v, present := vals[m.key]
	canary, canaryPresent := vals[m.canary]

	if !present {
		m.lastForeign, m.lastBad = "", ""
		l := m.last
		m.last = nil // whatever happened, our value is gone: the next Publish writes
		switch {
		case l == nil:
			return CheckRepublish, nil
		case now.Sub(l.at) >= m.ttl-m.margin:
			return CheckRepublish, nil // expired
		case !canaryPresent:
			// The cache lost everything (restart, flush) or did not answer: no one
			// evicted anything, and nothing tells the service to refresh drift.
			return CheckRepublish, nil
		}
		m.evictions.Add(1)
		m.log.Info("olcompress: legacy evicted the drift key; refreshing", "age", now.Sub(l.at))
		return CheckEvicted, m.opts.OnEvicted
	}

	if l := m.last; l != nil && bytes.Equal(v, l.stored) {
		m.lastForeign, m.lastBad = "", ""
		if now.Sub(l.at) >= m.ttl/2 {
			return CheckRepublish, nil
		}
		return CheckCurrent, nil
	}

	sum := digest(v)
	if m.ours(sum) || string(canary) == sum {
		// An older value of ours: a Set that did not land, or a previous run of
		// the service. Not news from legacy; write the current one.
		m.last = nil
		m.lastForeign, m.lastBad = "", ""
		return CheckRepublish, nil
	}
	switch sum {
	case m.lastForeign:
		return CheckForeign, nil
	case m.lastBad:
		return CheckUnreadable, nil
	}
	text, err := m.codec.Decode(v)
	var order []int
	var entries map[int]DriftEntry
	if err == nil {
		order, entries, err = ParseDrift(text)
	}
	if err != nil {
		m.lastBad, m.lastForeign = sum, ""
		m.decodeErrs.Add(1)
		m.log.Warn("olcompress: the drift key holds a value that cannot be read; leaving it",
			"bytes", len(v), "digest", sum, "err", err)
		return CheckUnreadable, nil
	}
	m.lastForeign, m.lastBad = sum, ""
	m.foreign.Add(1)
	m.log.Info("olcompress: the drift key holds a value we did not write", "prs", len(order), "digest", sum)
	if m.opts.OnForeign == nil {
		return CheckForeign, nil
	}
	return CheckForeign, func() { m.opts.OnForeign(order, entries) }
}

// ours reports whether sum is the digest of one of our recent writes.
func (m *Mirror) ours(sum string) bool {
	for _, s := range m.recent {
		if s == sum {
			return true
		}
	}
	return false
}

// Run calls Check now and then every every (DefaultCheckEvery when zero or less)
// until ctx ends, calling OnNeedsRepublish after each check that asks for it.
func (m *Mirror) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultCheckEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for ctx.Err() == nil {
		if m.Check(ctx) == CheckRepublish && ctx.Err() == nil && m.opts.OnNeedsRepublish != nil {
			m.opts.OnNeedsRepublish()
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// digest names a stored value in logs, in the canary and among our recent writes.
func digest(stored []byte) string {
	h := sha256.Sum256(stored)
	return hex.EncodeToString(h[:16])
}
