// Package memcache is the service's small shared cache: byte values under string keys
// with a time to live, either in memcached (shared with other processes and across
// restarts) or in process memory.
//
// The cache is an optimisation and never a source of errors: when memcached dies,
// refuses connections or stops answering, reads degrade to misses and writes to
// no-ops within a bounded time, and the failure is counted and logged (at most once
// per logEvery) instead of being returned to the caller.
package memcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

const (
	// DefaultTimeout bounds each memcached operation when Options.Timeout is zero.
	// A cache that is slower than this is worth less than a miss.
	DefaultTimeout = 100 * time.Millisecond

	// MaxValueSize is memcached's default item size limit (-I 1m). Larger values
	// are dropped without contacting the server; values just under it may still be
	// refused, since the limit covers the key and item header too.
	MaxValueSize = 1 << 20

	// maxRelativeTTL is the longest expiration memcached reads as "seconds from
	// now"; anything larger is read as an absolute unix time.
	maxRelativeTTL = 30 * 24 * time.Hour

	// maxKeyLen is memcached's key length limit.
	maxKeyLen = 250

	// hashMarker starts every hashed wire key. Caller keys that start with it are
	// hashed too, so a hashed key can never collide with a caller's literal key.
	hashMarker = "#sha256:"

	// maxPrefixLen keeps prefix + hashMarker + 64 hex digits under maxKeyLen.
	maxPrefixLen = 100

	logEvery = 30 * time.Second
)

// Options configures a Memcached. The zero value is usable.
type Options struct {
	// Timeout bounds each network operation (dial, and each read or write), and
	// three times it bounds a whole call; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxIdleConns is the number of idle connections kept per server; zero means
	// gomemcache's default (2). Set it near the expected number of concurrent calls.
	MaxIdleConns int
	// Logger receives the rate-limited failure reports; nil means slog.Default().
	Logger *slog.Logger
	// KeyPrefix is prepended to every key, so services sharing one memcached
	// do not read each other's entries.
	KeyPrefix string
}

// Stats counts what a cache has done since it was created.
type Stats struct {
	Hits   uint64 // keys found by GetMulti
	Misses uint64 // keys not found by GetMulti, including those lost to a failure
	Errors uint64 // failed operations: unreachable or misbehaving server, values too large
}

// Memcached is a cache in one or more memcached servers (keys are spread over
// them by gomemcache's hashing). It is safe for concurrent use.
type Memcached struct {
	client  *memcache.Client
	servers *memcache.ServerList
	timeout time.Duration
	prefix  string
	log     *slog.Logger
	now     func() time.Time // the clock for absolute expirations; a field for tests

	hits, misses, errs atomic.Uint64
	failLog            rateLimitedLog
}

// NewMemcached returns a cache over the given memcached servers ("host:port", or a
// unix socket path). Server addresses are resolved here; if that fails the error is
// logged and the cache behaves as an always-missing one, because a cache outage
// must not stop the service from starting.
func NewMemcached(servers []string, opts Options) *Memcached {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ss := new(memcache.ServerList)
	if err := ss.SetServers(servers...); err != nil {
		opts.Logger.Error("memcache: bad server list; every lookup will miss", "servers", servers, "err", err)
	}
	c := memcache.NewFromSelector(ss)
	c.Timeout = opts.Timeout
	c.MaxIdleConns = opts.MaxIdleConns
	return &Memcached{
		client:  c,
		servers: ss,
		timeout: opts.Timeout,
		prefix:  opts.KeyPrefix,
		log:     opts.Logger,
		now:     time.Now,
		failLog: rateLimitedLog{every: logEvery},
	}
}

// Stats returns the counters so far.
func (m *Memcached) Stats() Stats {
	return Stats{Hits: m.hits.Load(), Misses: m.misses.Load(), Errors: m.errs.Load()}
}

// Close drops idle connections. The cache stays usable.
func (m *Memcached) Close() error {
	return m.client.Close()
}

// GetMulti returns the values stored under keys; missing keys are absent from the
// map. On any failure the affected keys are simply missing.
func (m *Memcached) GetMulti(ctx context.Context, keys []string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	if len(keys) == 0 {
		return out
	}
	// One wire key per distinct caller key; the map sends found items back to the
	// caller's spelling.
	callerKey := make(map[string]string, len(keys))
	wire := make([]string, 0, len(keys))
	for _, k := range keys {
		w := m.wireKey(k)
		if _, dup := callerKey[w]; dup {
			continue
		}
		callerKey[w] = k
		wire = append(wire, w)
	}

	items, err := call(ctx, m.budget(), func() (map[string]*memcache.Item, error) {
		return m.client.GetMulti(wire)
	})
	// gomemcache returns what it got from healthy servers alongside the error of a
	// failed one, so use the items either way.
	if err != nil {
		m.fail("get", err)
	}
	for w, it := range items {
		if k, ok := callerKey[w]; ok {
			out[k] = it.Value // gomemcache allocates a fresh slice per item
		}
	}
	m.hits.Add(uint64(len(out)))
	m.misses.Add(uint64(len(wire) - len(out)))
	return out
}

// Set stores value under key for ttl (0 = no expiry; a negative ttl stores
// nothing and removes any older value). Failures and values over MaxValueSize
// are counted and dropped.
func (m *Memcached) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	if ttl < 0 {
		m.Delete(ctx, key)
		return
	}
	if len(value) > MaxValueSize {
		m.fail("set", errTooLarge{size: len(value)})
		return
	}
	// The copy keeps a call abandoned on ctx from reading the caller's slice after
	// Set has returned.
	item := &memcache.Item{Key: m.wireKey(key), Value: bytes.Clone(value), Expiration: expiration(ttl, m.now())}
	if _, err := call(ctx, m.budget(), func() (struct{}, error) { return struct{}{}, m.client.Set(item) }); err != nil {
		m.fail("set", err)
	}
}

// Delete removes keys; keys that are not there are not an error.
func (m *Memcached) Delete(ctx context.Context, keys ...string) {
	if len(keys) == 0 {
		return
	}
	// memcached has no multi-key delete. Keys are grouped by server and deleted in
	// turn, servers in parallel, and a server that fails is not asked again in
	// this call: a hung server then costs one call's budget, not one per key.
	byServer := make(map[string][]string)
	var order []string
	for _, k := range keys {
		w := m.wireKey(k)
		addr := ""
		if a, err := m.servers.PickServer(w); err == nil {
			addr = a.String()
		}
		if _, ok := byServer[addr]; !ok {
			order = append(order, addr)
		}
		byServer[addr] = append(byServer[addr], w)
	}
	var wg sync.WaitGroup
	for _, addr := range order {
		wg.Go(func() {
			for _, w := range byServer[addr] {
				_, err := call(ctx, m.budget(), func() (struct{}, error) { return struct{}{}, m.client.Delete(w) })
				if err == nil || errors.Is(err, memcache.ErrCacheMiss) {
					continue
				}
				m.fail("delete", err)
				return
			}
		})
	}
	wg.Wait()
}

// call runs op with a hard deadline of callBudget Timeouts (gomemcache's Timeout
// applies per dial, read and write, so a server that trickles bytes could
// otherwise hold a caller much longer) and gives up early if ctx ends. An
// abandoned op finishes in the background, bounded by the client's own timeouts.
func call[T any](ctx context.Context, budget time.Duration, op func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// budget is the most one call may take: a dial, a write and a read, each bounded
// by Timeout.
func (m *Memcached) budget() time.Duration { return 3 * m.timeout }

// fail counts a failed operation and logs it, at most once per logEvery.
// A caller's own cancellation is neither: the cache did nothing wrong.
func (m *Memcached) fail(op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	m.errs.Add(1)
	if suppressed, ok := m.failLog.allow(); ok {
		m.log.Warn("memcache: operation failed; treating as a miss",
			"op", op, "err", err, "timeout", m.timeout, "suppressed_since_last_log", suppressed)
	}
}

// wireKey is the key sent to memcached for a caller's key: the prefix plus the key
// when memcached accepts that, otherwise a hash of both (memcached keys are at most
// 250 bytes with no spaces or control characters).
func (m *Memcached) wireKey(key string) string {
	if k := m.prefix + key; legalKey(k) && !strings.HasPrefix(key, hashMarker) {
		return k
	}
	h := sha256.New()
	// Length-prefix the prefix so ("ab", "c") and ("a", "bc") hash differently.
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(m.prefix)))])
	h.Write([]byte(m.prefix))
	h.Write([]byte(key))
	visible := m.prefix
	if !legalKey(visible) || len(visible) > maxPrefixLen {
		visible = "" // the prefix is still part of the hash
	}
	return visible + hashMarker + hex.EncodeToString(h.Sum(nil))
}

// legalKey reports whether memcached's text protocol accepts k as a key.
func legalKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

// expiration converts a ttl to memcached's exptime: seconds from now up to 30 days,
// beyond that an absolute unix time (memcached would read a larger relative number
// as a date in 1970 and expire the item at once). Sub-second ttls round up, since 0
// would mean "never".
func expiration(ttl time.Duration, now time.Time) int32 {
	if ttl <= 0 {
		return 0
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	if ttl <= maxRelativeTTL {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > math.MaxInt32 { // the protocol's field is 32 bits: 2038 is as far as it goes
		return math.MaxInt32
	}
	return int32(abs)
}

type errTooLarge struct{ size int }

func (e errTooLarge) Error() string {
	return "value of " + strconv.Itoa(e.size) + " bytes exceeds memcached's item size limit"
}

// rateLimitedLog lets one message through per period and counts the rest.
type rateLimitedLog struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed uint64
}

func (r *rateLimitedLog) allow() (suppressed uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		return 0, false
	}
	r.last = now
	suppressed, r.suppressed = r.suppressed, 0
	return suppressed, true
}
