// Package olcompress speaks legacy Open Library's shared drift cache, so that the
// legacy testing page and this service see the same drift.
//
// Legacy caches the drift of the whole set under one memcached key,
// "status.github_pr_drift", for 60 s. The value is the JSON object
//
//	{"13269": {"head_sha": "abc1234", "drift": 2, "merged": false}, ...}
//
// (7-character heads; "" and drift -1 when unknown) as Python's json.dumps writes
// it, compressed by Open Library's seeded zlib codec (Codec; the seed is embedded).
// Legacy deletes the key after an add, after a deploy and on "refresh", so that the
// next reader resolves drift afresh.
//
// # The mirror
//
// Mirror keeps that key holding the service's drift and watches what legacy does
// to it:
//
//   - Publish writes the value (and a canary key beside it) with the TTL when it
//     differs from our last write, or when our last write is older than half the
//     TTL, so the key does not expire while the service keeps publishing. An
//     unchanged value costs no write. If the service stops publishing, the key
//     expires and legacy resolves drift itself, as it would without us.
//   - Check reads the key and the canary in one request and decides:
//     the key holds our latest value → nothing (CheckCurrent; CheckRepublish
//     once it is past half its TTL).
//     The key is missing, our write is younger than TTL minus a margin and the
//     canary is there → legacy evicted it → OnEvicted, once (CheckEvicted); our
//     write is forgotten so the next Publish rewrites even unchanged data.
//     The key is missing after our write's natural expiry, or the canary is
//     missing too (memcached restarted, flushed or down: a failed read is a miss
//     to the Cache interface) → no callback; CheckRepublish asks the caller to
//     publish its current data.
//     The key holds an older value of ours (a lost write, or the previous run of
//     the service, recognised by digest) → CheckRepublish.
//     The key holds a valid value we did not write → legacy resolved drift itself
//     → OnForeign with the parsed entries, once per distinct value (CheckForeign).
//     The key holds something unreadable → a warning, once per distinct value
//     (CheckUnreadable); it is never deleted or overwritten by Check, since it may
//     be a newer legacy's format.
//   - Run calls Check every couple of seconds, and OnNeedsRepublish when asked.
//
// Callbacks run synchronously in Check, without the mirror's lock, so they may
// call Publish; a slow callback delays the next check.
//
// Limits: the mirror assumes one writer of ours per key (two services sharing the
// key would take each other's values for legacy's). Memcached evicting the key for
// memory while keeping the canary would look like legacy's eviction and cost one
// needless refresh. If legacy evicts and then stores its own value between two
// checks, the eviction is not seen, but the foreign value is.
package olcompress
