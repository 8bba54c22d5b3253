package memcache

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxEntries bounds a Memory cache created with maxEntries <= 0.
const DefaultMaxEntries = 10_000

// Memory is an in-process cache holding at most a fixed number of entries; when
// full it evicts the least recently used one. Expired entries are dropped when
// met. Values are copied in and out, so callers never share a backing array with
// the cache. It is safe for concurrent use.
type Memory struct {
	max int
	now func() time.Time // a field so tests can move time

	mu    sync.Mutex
	ll    *list.List // front = most recently used; elements hold *entry
	index map[string]*list.Element

	hits, misses atomic.Uint64
}

type entry struct {
	key     string
	value   []byte
	expires time.Time // zero = never
}

// NewMemory returns an empty in-process cache bounded to maxEntries
// (DefaultMaxEntries when maxEntries <= 0).
func NewMemory(maxEntries int) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &Memory{
		max:   maxEntries,
		now:   time.Now,
		ll:    list.New(),
		index: make(map[string]*list.Element),
	}
}

// GetMulti returns copies of the live values stored under keys; missing and
// expired keys are absent from the map.
func (c *Memory) GetMulti(_ context.Context, keys []string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	now := c.now()
	var hits, misses uint64
	c.mu.Lock()
	for _, k := range keys {
		if _, seen := out[k]; seen {
			continue
		}
		el, ok := c.index[k]
		if !ok {
			misses++
			continue
		}
		e := el.Value.(*entry)
		if e.expired(now) {
			c.remove(el)
			misses++
			continue
		}
		c.ll.MoveToFront(el)
		out[k] = clone(e.value)
		hits++
	}
	c.mu.Unlock()
	c.hits.Add(hits)
	c.misses.Add(misses)
	return out
}

// Set stores a copy of value under key for ttl (0 = no expiry; a negative ttl
// stores nothing and removes any older value), evicting the least recently used
// entry if the cache is full.
func (c *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ttl < 0 {
		if el, ok := c.index[key]; ok {
			c.remove(el)
		}
		return
	}
	e := &entry{key: key, value: clone(value)}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	if el, ok := c.index[key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.index[key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		c.remove(c.ll.Back())
	}
}

// Delete removes keys; keys that are not there are ignored.
func (c *Memory) Delete(_ context.Context, keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.index[k]; ok {
			c.remove(el)
		}
	}
}

// Len is the number of entries held, including expired ones not yet dropped.
func (c *Memory) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Stats returns the counters so far; an in-process cache has no errors.
func (c *Memory) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

func (c *Memory) remove(el *list.Element) {
	c.ll.Remove(el)
	delete(c.index, el.Value.(*entry).key)
}

func (e *entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// clone copies b. A nil value comes back as an empty one, as from memcached.
func clone(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
