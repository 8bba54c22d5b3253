package load

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/gen/openlibrary/testing/v1/testingv1connect"
)

// fakeService is just enough of TestingService for a soak: a version that every write
// checks and moves on, and a stream that pushes the status after every write.
type fakeService struct {
	testingv1connect.UnimplementedTestingServiceHandler
	mu      sync.Mutex
	version int
	changed chan struct{} // closed and replaced on every write
}

func (f *fakeService) status() *testingv1.GetStatusResponse {
	return &testingv1.GetStatusResponse{Version: strconv.Itoa(f.version), Prs: []*testingv1.PullRequest{
		{Number: 1, InSet: true, Active: true},
		{Number: 2, InSet: true, Active: true},
		{Number: 3, InSet: true, Merged: true},
	}}
}

func (f *fakeService) GetStatus(context.Context, *connect.Request[testingv1.GetStatusRequest]) (*connect.Response[testingv1.GetStatusResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(f.status()), nil
}

func (f *fakeService) write(expected string) (*testingv1.GetStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if expected != strconv.Itoa(f.version) {
		return nil, connect.NewError(connect.CodeAborted, errors.New("version mismatch"))
	}
	f.version++
	close(f.changed)
	f.changed = make(chan struct{})
	return f.status(), nil
}

var done = []*testingv1.ItemResult{{Applied: true}}

func (f *fakeService) StagePRs(_ context.Context, r *connect.Request[testingv1.StagePRsRequest]) (*connect.Response[testingv1.StagePRsResponse], error) {
	st, err := f.write(r.Msg.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.StagePRsResponse{Results: done, Status: st}), nil
}

func (f *fakeService) RemovePRs(_ context.Context, r *connect.Request[testingv1.RemovePRsRequest]) (*connect.Response[testingv1.RemovePRsResponse], error) {
	st, err := f.write(r.Msg.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.RemovePRsResponse{Results: done, Status: st}), nil
}

func (f *fakeService) RestorePRs(_ context.Context, r *connect.Request[testingv1.RestorePRsRequest]) (*connect.Response[testingv1.RestorePRsResponse], error) {
	st, err := f.write(r.Msg.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&testingv1.RestorePRsResponse{Results: done, Status: st}), nil
}

func (f *fakeService) WatchStatus(ctx context.Context, _ *connect.Request[testingv1.WatchStatusRequest], s *connect.ServerStream[testingv1.WatchStatusResponse]) error {
	for {
		f.mu.Lock()
		st, changed := f.status(), f.changed
		f.mu.Unlock()
		if err := s.Send(&testingv1.WatchStatusResponse{Status: st}); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func TestSoakAgainstAFakeService(t *testing.T) {
	t.Parallel()
	svc := &fakeService{changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle(testingv1connect.NewTestingServiceHandler(svc))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("# HELP go_goroutines x\ngo_goroutines 42\ngo_memstats_heap_inuse_bytes 1.048576e+06\nprocess_resident_memory_bytes 8388608\n"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	enc := Encoding{Codec: CodecJSON, Gzip: true}
	client, err := NewClient(NewHTTPClient(4), srv.URL, enc)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := NewClient(NewStreamClient(5), srv.URL, enc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := client.GetStatus(t.Context(), connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := WritableRows(st.Msg, 2)
	if err != nil || len(numbers) != 2 || numbers[0] != 1 || numbers[1] != 2 {
		t.Fatalf("WritableRows = %v, %v; want [1 2]", numbers, err)
	}
	res, err := Soak(t.Context(), client, watch, SoakOptions{
		Readers: 2, Writers: 2, Watchers: 5, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond,
		Interval: 50 * time.Millisecond, WriteEvery: 0, Numbers: numbers,
		Sample: MetricsSampler(http.DefaultClient, srv.URL+"/metrics", 0), Settle: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reads.N == 0 || res.Writes.N == 0 || res.Pushes == 0 {
		t.Errorf("reads %d, writes %d, pushes %d; want some of each", res.Reads.N, res.Writes.N, res.Pushes)
	}
	if res.ReadErrors+res.WriteErrors+res.StreamFails != 0 || res.StreamsOpen != 5 {
		t.Errorf("%d read errors, %d write errors, %d streams failed, %d open; want 0, 0, 0, 5 (first error %v)", res.ReadErrors, res.WriteErrors, res.StreamFails, res.StreamsOpen, res.FirstError)
	}
	if n := len(res.Intervals); n < 1 || n > 7 {
		t.Errorf("%d intervals of 50ms in 300ms, want 1 to 7 (fewer when the machine is busy)", n)
	}
	want := ServerSample{RSS: 8 << 20, HeapInuse: 1 << 20, Goroutines: 42}
	if res.Before != want || res.Intervals[0].Server != want {
		t.Errorf("samples %+v, %+v; want %+v", res.Before, res.Intervals[0].Server, want)
	}
	if !strings.Contains(res.String(), "verdict") {
		t.Errorf("String() lacks the verdict:\n%s", res)
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	soak := func(heap ...int64) SoakResult {
		var r SoakResult
		for i, h := range heap {
			r.Intervals = append(r.Intervals, SoakInterval{At: time.Duration(i) * time.Minute, Server: ServerSample{RSS: 30 << 20, HeapInuse: h << 20, Goroutines: 400 + i%2}})
		}
		return r
	}
	if v := soak(10, 11, 10, 12, 10, 11); !v.Verdict().OK() {
		t.Errorf("flat soak: %s", v.Verdict().Text())
	}
	if v := soak(10, 12, 14, 16, 18, 20).Verdict(); v.OK() || v.HeapOK || !v.GoroutinesOK || !strings.Contains(v.Text(), "GROWTH of heap in use") || v.HeapSlope != 2<<20 {
		t.Errorf("growing heap: %+v, %s", v, v.Text())
	}
	if v := soak(10, 10, 10); v.Verdict().Enough {
		t.Errorf("3 samples were enough for a verdict")
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	in := "# TYPE go_goroutines gauge\ngo_goroutines 12\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\nprocess_resident_memory_bytes 2.5e+07 1700000000000\n"
	m, err := ParseMetrics(bufio.NewScanner(strings.NewReader(in)), "go_goroutines", "process_resident_memory_bytes", "absent")
	if err != nil || len(m) != 2 || m["go_goroutines"] != 12 || m["process_resident_memory_bytes"] != 2.5e7 {
		t.Errorf("ParseMetrics = %v, %v", m, err)
	}
}

func TestGrowth(t *testing.T) {
	t.Parallel()
	flat := GrowthOf([]float64{100, 101, 99, 100, 102, 100, 99, 101, 100})
	if !flat.Within(0.05, 0) {
		t.Errorf("flat series %+v not within 5%%", flat)
	}
	leak := GrowthOf([]float64{100, 110, 120, 130, 140, 150, 160, 170, 180})
	if leak.First != 140 || leak.Last != 170 || leak.Within(0.2, 10) {
		t.Errorf("growing series: %+v, within 20%% = %v; want 140 → 170 (middle and last thirds), not within", leak, leak.Within(0.2, 10))
	}
	// A step during the warm-up third (a connection pool filling) is not growth.
	step := GrowthOf([]float64{420, 420, 516, 500, 480, 470, 465, 464, 464})
	if !step.Within(0.05, 10) {
		t.Errorf("a warm-up step then a decline %+v counted as growth", step)
	}
	if s := Slope([]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}); s != 2 {
		t.Errorf("Slope = %v, want 2", s)
	}
}
