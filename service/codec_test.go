package service

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
)

func TestCachingCodec(t *testing.T) {
	t.Parallel()
	status := &testingv1.GetStatusResponse{Version: "v1", Prs: []*testingv1.PullRequest{{Number: 1, Title: "one", Drift: -1}}}
	codecs := []*cachingCodec{newProtoCodec(), newJSONCodec("json")}
	for _, c := range codecs {
		first, err := c.MarshalAppend([]byte("prefix"), status)
		if err != nil {
			t.Fatal(err)
		}
		// What connect-go does with the result: it owns it and may reuse the buffer.
		for i := range first {
			first[i] = 'x'
		}
		second, err := c.Marshal(status)
		if err != nil {
			t.Fatal(err)
		}
		var back testingv1.GetStatusResponse
		if err := c.Unmarshal(second, &back); err != nil {
			t.Fatalf("%s: the remembered encoding was damaged by the caller: %v", c.name, err)
		}
		if !proto.Equal(&back, status) {
			t.Errorf("%s: round trip = %v; want %v", c.name, &back, status)
		}
		// A new status (a new pointer) is encoded afresh.
		changed := proto.Clone(status).(*testingv1.GetStatusResponse)
		changed.Version = "v2"
		third, _ := c.Marshal(changed)
		back.Reset()
		if err := c.Unmarshal(third, &back); err != nil || back.Version != "v2" {
			t.Errorf("%s: a new status encoded as %v, %v", c.name, &back, err)
		}
	}
}

func TestStatusMemo(t *testing.T) {
	t.Parallel()
	var m statusMemo
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	resp := &testingv1.GetStatusResponse{Version: "v1"}
	key := memoKey{version: "v1", gen: 1}
	m.store(key, resp, now)
	if got := m.lookup(key, now.Add(memoFor/2)); got != resp {
		t.Errorf("lookup within memoFor = %v; want the stored response", got)
	}
	for name, probe := range map[string]struct {
		key memoKey
		at  time.Time
	}{
		"after memoFor":        {key, now.Add(memoFor)},
		"clock went back":      {key, now.Add(-time.Second)},
		"state changed":        {memoKey{version: "v2", gen: 1}, now},
		"notified":             {memoKey{version: "v1", gen: 2}, now},
		"transcript rewritten": {memoKey{version: "v1", gen: 1, transcript: fileKey{exists: true, size: 3}}, now},
	} {
		if got := m.lookup(probe.key, probe.at); got != nil {
			t.Errorf("%s: lookup = %v; want a miss", name, got)
		}
	}
}
