package service_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/integrations/memcache"
	"github.com/internetarchive/testingd/integrations/olcompress"
	"github.com/internetarchive/testingd/internal/fakegithub"
	"github.com/internetarchive/testingd/service"
)

// legacyEnv is a server keeping the legacy page's drift key in a real memcached, as
// legacy reads it (no key prefix), checked every few milliseconds.
type legacyEnv struct {
	*env
	raw    *memcache.Memcached
	mirror *olcompress.Mirror
}

func newLegacyEnv(t *testing.T) *legacyEnv {
	t.Helper()
	var svc *service.Server
	le := &legacyEnv{}
	// The legacy key lives in the same memcached as the drift cache, without prefix:
	// newEnv starts the memcached, so the mirror's cache is bound to it right after.
	var lazy lazyCache
	le.mirror = olcompress.NewMirror(&lazy, olcompress.Default(), olcompress.MirrorOptions{
		OnEvicted:        func() { go svc.LegacyEvicted(context.Background()) },
		OnForeign:        func(_ []int, e map[int]olcompress.DriftEntry) { go svc.LegacyForeign(context.Background(), e) },
		OnNeedsRepublish: func() { svc.LegacyRepublish(context.Background()) },
	})
	le.env = newEnv(t, envOptions{state: "testing-prs.json", legacy: le.mirror})
	svc = le.svc
	le.raw = memcache.NewMemcached([]string{le.memcached}, memcache.Options{})
	t.Cleanup(func() { _ = le.raw.Close() })
	lazy.c = le.raw
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { le.mirror.Run(ctx, 10*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	le.seedFixturePRs()
	return le
}

// lazyCache forwards to c once it is set (the memcached starts with the env).
type lazyCache struct{ c olcompress.Cache }

func (l *lazyCache) GetMulti(ctx context.Context, keys []string) map[string][]byte {
	if l.c == nil {
		return nil
	}
	return l.c.GetMulti(ctx, keys)
}

func (l *lazyCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	if l.c != nil {
		l.c.Set(ctx, key, value, ttl)
	}
}

func (l *lazyCache) Delete(ctx context.Context, keys ...string) {
	if l.c != nil {
		l.c.Delete(ctx, keys...)
	}
}

// legacyValue is the JSON the legacy page would read now ("" when the key is absent).
func (le *legacyEnv) legacyValue(t *testing.T) string {
	t.Helper()
	stored, ok := le.raw.GetMulti(t.Context(), []string{olcompress.DefaultKey})[olcompress.DefaultKey]
	if !ok {
		return ""
	}
	text, err := olcompress.Default().Decode(stored)
	if err != nil {
		t.Fatalf("the legacy key does not decode: %v", err)
	}
	return string(text)
}

// What we resolve is written where legacy reads it, in its format; legacy evicting
// it makes us ask GitHub again, once, and write it back.
func TestLegacyDriftCache(t *testing.T) {
	t.Parallel()
	le := newLegacyEnv(t)
	if _, err := le.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	const want = `{"13238": {"head_sha": "abc1234", "drift": 3, "merged": false}, ` +
		`"13240": {"head_sha": "4f2a9c1", "drift": -1, "merged": true}, ` +
		`"13269": {"head_sha": "1d23364", "drift": 0, "merged": false}}`
	waitUntil(t, func() bool { return le.legacyValue(t) == want })

	// Legacy's add/deploy/refresh deletes the key: we refresh from GitHub and write it again.
	lists := le.gh.Count(fakegithub.KindList)
	le.gh.SetPull(fakegithub.PullSpec{Number: 13269, Title: "Test PR", Head: head3, Author: "author", Assignee: "assignee"})
	le.gh.SetCompare(pin13269, head3, "ahead", 6, 0)
	le.raw.Delete(t.Context(), olcompress.DefaultKey)
	waitUntil(t, func() bool {
		v := le.legacyValue(t)
		return v != "" && v != want
	})
	if got := le.legacyValue(t); got != `{"13238": {"head_sha": "abc1234", "drift": 3, "merged": false}, `+
		`"13240": {"head_sha": "4f2a9c1", "drift": -1, "merged": true}, `+
		`"13269": {"head_sha": "`+head3[:7]+`", "drift": 6, "merged": false}}` {
		t.Errorf("after the eviction the key holds %s", got)
	}
	if le.gh.Count(fakegithub.KindList) == lists {
		t.Error("the eviction did not make us ask GitHub")
	}
	if st := le.mirror.Stats(); st.Evictions != 1 {
		t.Errorf("mirror stats %+v; want one eviction", st)
	}
}

// A value legacy wrote itself showing a head we have not seen makes us ask GitHub about
// that PR; one that agrees with us costs nothing.
func TestLegacyForeignValue(t *testing.T) {
	t.Parallel()
	le := newLegacyEnv(t)
	if _, err := le.connect.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{})); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return le.legacyValue(t) != "" })
	w := openWatch(t, le.connect)
	w.first(t)

	// Legacy saw a push to #13238 (its own GitHub call) and stored it.
	le.gh.SetPull(fakegithub.PullSpec{Number: 13238, Title: "Fix search facets fallback", Head: head3, Author: "mekarpeles"})
	le.gh.SetCompare(pin13238, head3, "ahead", 8, 0)
	legacy := []byte(`{"13238": {"head_sha": "` + head3[:7] + `", "drift": 8, "merged": false}, "13240": {"head_sha": "4f2a9c1", "drift": -1, "merged": true}, "13269": {"head_sha": "1d23364", "drift": 0, "merged": false}}`)
	stored, err := olcompress.Default().Encode(legacy)
	if err != nil {
		t.Fatal(err)
	}
	le.raw.Set(t.Context(), olcompress.DefaultKey, stored, time.Minute)
	w.status(t, func(st *testingv1.GetStatusResponse) bool {
		r := row(st, 13238)
		return r.HeadSha == head3 && r.Drift == 8
	})
	if st := le.mirror.Stats(); st.Foreign < 1 {
		t.Errorf("mirror stats %+v; want the foreign value seen", st)
	}
}
