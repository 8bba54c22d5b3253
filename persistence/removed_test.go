package persistence

import (
	"strings"
	"testing"
)

func TestRemovedRoundTrip(t *testing.T) {
	t.Parallel()
	st := NewState()
	pr := NewPR(13269, "1d23364b8c652d6107e2dc685f918551fda5d327")
	pr.Title, pr.PullLatestSHA = "Test PR", "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
	off := false
	pr.PendingActive = &off
	st.Removed = []RemovedPR{{PR: pr, RemovedAt: "2026-08-06T15:00:00+00:00", RemovedBy: "openlibrary"}}
	data := st.Marshal()
	if !strings.Contains(string(data), `"testingd_removed": [`) {
		t.Fatalf("Marshal = %s; want the removed rows under testingd_removed", data)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Marshal()) != string(data) {
		t.Errorf("round trip changed the bytes:\n%s\nvs\n%s", back.Marshal(), data)
	}
	got := back.Removed[0]
	if got.RemovedBy != "openlibrary" || got.PR.PullLatestSHA != pr.PullLatestSHA || got.PR.PendingActive == nil || *got.PR.PendingActive {
		t.Errorf("removed row = %+v; want it exactly as stored", got)
	}
	// Once empty, the key disappears, even from a file that had it.
	back.Removed = nil
	if strings.Contains(string(back.Marshal()), "testingd_removed") {
		t.Errorf("an empty removed list is still written: %s", back.Marshal())
	}
}

func TestRemovedCorrupt(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"not an array":   `{"prs": [], "testingd_removed": {}}`,
		"not an object":  `{"prs": [], "testingd_removed": [1]}`,
		"missing row":    `{"prs": [], "testingd_removed": [{"removed_by": "x"}]}`,
		"row without pr": `{"prs": [], "testingd_removed": [{"row": {"commit": "abc"}}]}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse(%s) succeeded; want a corrupt-file error", name, in)
		}
	}
}
