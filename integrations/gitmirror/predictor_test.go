package gitmirror

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPredictorOff(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]*Predictor{
		"nil":     nil,
		"no git":  NewPredictor(nil, PredictorOptions{}),
		"no repo": Disabled(ErrNotRepository),
	} {
		t.Run(name, func(t *testing.T) {
			a := p.Prediction([]Item{{Number: 1, Pin: "abcd"}})
			if a.State != Off || !strings.Contains(a.Reason, "off") || a.Prediction != nil {
				t.Errorf("answer %+v", a)
			}
			if name != "no repo" && !strings.Contains(a.Reason, "--git-dir") {
				t.Errorf("reason %q does not say how to turn it on", a.Reason)
			}
			if name == "no repo" && !strings.Contains(a.Reason, ErrNotRepository.Error()) {
				t.Errorf("reason %q does not say why", a.Reason)
			}
			if _, err := p.Matrix(t.Context(), nil); !errors.Is(err, ErrOff) {
				t.Errorf("Matrix: %v", err)
			}
			if p.Enabled() {
				t.Error("enabled")
			}
			p.Nudge()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			p.Run(ctx) // returns at once
		})
	}
}

// updates returns an OnUpdate that signals a channel, and a wait for a condition
// re-checked after every update.
func updates(t *testing.T) (func(), func(what string, cond func() bool)) {
	ch := make(chan struct{}, 1)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !cond() {
			select {
			case <-ch:
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	return notify, wait
}

func TestPredictor(t *testing.T) {
	s := newScenario(t)
	m := cloneMirror(t, s.u, Options{}) // not fetched yet
	notify, wait := updates(t)
	p := NewPredictor(m, PredictorOptions{OnUpdate: notify, FetchInterval: -1})

	a := p.Prediction(s.items)
	if a.State != Pending || !strings.Contains(a.Reason, "first fetch") {
		t.Fatalf("before the first fetch: %+v", a)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	var got Answer
	wait("a ready prediction", func() bool {
		start := time.Now()
		got = p.Prediction(s.items)
		if d := time.Since(start); d > time.Second {
			t.Errorf("a read took %v", d)
		}
		return got.State == Ready
	})
	if got.Prediction.Base != s.base || got.Mirror.BaseSHA != s.base {
		t.Errorf("base %s", got.Prediction.Base)
	}
	for _, o := range got.Prediction.Items {
		if w := s.want[o.Number]; o.Status != w.status || o.With != w.with {
			t.Errorf("#%d: %v with #%d, want %v with #%d", o.Number, o.Status, o.With, w.status, w.with)
		}
	}
	// PR 6's pin is missing: the predictor asked for one more fetch, which changed
	// nothing, so the answer settles as Ready with PR 6 missing.
	wait("settled", func() bool {
		a := p.Prediction(s.items)
		return a.State == Ready && a.Mirror.Generation >= 2
	})

	// Other items: pending, showing nothing stale (never predicted), then ready.
	other := s.items[:3]
	if a := p.Prediction(other); a.State != Pending || a.Stale {
		t.Errorf("new items: %+v", a)
	}
	wait("the other prediction", func() bool { return p.Prediction(other).State == Ready })

	// The matrix, shared by concurrent callers.
	var mxs [3]*Matrix
	var mwg sync.WaitGroup
	for i := range mxs {
		mwg.Go(func() {
			mx, err := p.Matrix(t.Context(), s.items)
			if err != nil {
				t.Error(err)
			}
			mxs[i] = mx
		})
	}
	mwg.Wait()
	if mxs[0] == nil || len(mxs[0].Pairs) != 9 {
		t.Fatalf("matrix: %+v", mxs[0])
	}
	if again, _ := p.Matrix(t.Context(), s.items); again != mxs[0] {
		t.Error("the matrix was computed again for the same inputs")
	}
}

// TestPredictorNewPin: a pin pushed after the last fetch is first missing, and the
// predictor fetches once more by itself and then predicts it.
func TestPredictorNewPin(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, t.TempDir())
	c1 := u.commit("master", "", map[string]string{"a": lines(5)})
	p1 := u.commit("pr1", c1, map[string]string{"a": lines(5, 1, "one")})
	u.pull(1, p1)
	m := cloneMirror(t, u, Options{})
	notify, wait := updates(t)
	p := NewPredictor(m, PredictorOptions{OnUpdate: notify, FetchInterval: -1})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	items := []Item{{Number: 1, Pin: p1}}
	wait("ready", func() bool { return p.Prediction(items).State == Ready })

	// The author pushes; the state file pins the new commit before any fetch. The
	// first answer may say missing; the settled one is clean.
	p1b := u.commit("pr1", "", map[string]string{"a": lines(5, 1, "one", 5, "five")})
	u.pull(1, p1b)
	items = []Item{{Number: 1, Pin: p1b}}
	var a Answer
	wait("the new pin predicted", func() bool {
		a = p.Prediction(items)
		return a.State == Ready && a.Prediction.Items[0].Status == Clean
	})
	if a.Prediction.Items[0].Commit != p1b {
		t.Errorf("commit %s", a.Prediction.Items[0].Commit)
	}

	// The base moves: until the new prediction is ready, the old one is shown stale.
	u.commit("master", "", map[string]string{"b": "b\n"})
	p.Nudge()
	wait("the new base", func() bool {
		a = p.Prediction(items)
		if a.State == Pending && a.Prediction == nil {
			t.Error("pending without the stale prediction")
		}
		return a.State == Ready && a.Prediction.Base != c1
	})
}

// TestPredictorFetchFailure: a mirror that cannot fetch reports it, it does not fail
// or block.
func TestPredictorFetchFailure(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, t.TempDir())
	u.commit("master", "", map[string]string{"a": "a\n"})
	m := cloneMirror(t, u, Options{})
	git(t, m.dir, "remote", "set-url", "origin", t.TempDir())
	notify, wait := updates(t)
	p := NewPredictor(m, PredictorOptions{OnUpdate: notify, FetchInterval: -1})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	wait("the failure", func() bool {
		a := p.Prediction(nil)
		return a.State == Failed && strings.Contains(a.Reason, "fetch failed")
	})
}
