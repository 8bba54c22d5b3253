package main

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"

	testingv1 "github.com/internetarchive/testingd/gen/openlibrary/testing/v1"
	"github.com/internetarchive/testingd/internal/load"
)

// soakResult is the testingd binary held under the everyday mix for minutes.
type soakResult struct {
	res       load.SoakResult
	serverCPU time.Duration // CPU testingd used during the soak (warm-up and settling included)
	clientCPU time.Duration // CPU benchreport (the load generator) used meanwhile
	wall      time.Duration // over which the two were measured
	cpuOK     bool
	others    contention
	ghReqs    int // GitHub requests meanwhile (drift refreshes after the TTL)
}

// soak runs internal/load's Soak (as `loadgen -soak`) against a testingd child of its
// own on a copy of w's state, sampling its /metrics and /proc.
func (b *bench) soak(ctx context.Context, w *world) (soakResult, error) {
	var sr soakResult
	t, err := b.startTestingd(w, "testingd-soak")
	if err != nil {
		return sr, err
	}
	defer t.stop()
	pid := t.c.cmd.Process.Pid
	cfg := b.cfg
	hc := load.NewHTTPClient(cfg.soakReaders + cfg.soakWriters + 1)
	client, err := load.NewClient(hc, t.base, browser)
	if err != nil {
		return sr, err
	}
	watch, err := load.NewClient(load.NewStreamClient(cfg.soakWatchers), t.base, browser)
	if err != nil {
		return sr, err
	}
	// The first (cold) GetStatus, so the soak starts on a server that has resolved once.
	st, err := client.GetStatus(ctx, connect.NewRequest(&testingv1.GetStatusRequest{}))
	if err != nil {
		return sr, fmt.Errorf("first GetStatus: %w", err)
	}
	numbers, err := load.WritableRows(st.Msg, cfg.soakWriters)
	if err != nil {
		return sr, err
	}
	metrics := load.MetricsSampler(hc, t.base+"/metrics", pid)
	m := b.startMeter(pid)
	sample := func(ctx context.Context) (load.ServerSample, error) {
		s, err := metrics(ctx)
		if o, ok := m.others(); ok {
			s.OthersCPU = o
		}
		m = b.startMeter(pid)
		return s, err
	}
	b.waitQuiet("the soak")
	opts := load.SoakOptions{
		Readers: cfg.soakReaders, Writers: cfg.soakWriters, Watchers: cfg.soakWatchers,
		Duration: cfg.soak, Warmup: 10 * time.Second, Interval: cfg.soakSample, WriteEvery: cfg.soakWriteEvery,
		Numbers: numbers, Sample: sample, Settle: 5 * time.Second,
	}
	gh0 := countGH(w.gh)
	whole := b.startMeter(pid)
	began := time.Now()
	s0, ok0 := procCPU(pid)
	c0, ok1 := selfCPU()
	progress("  %d readers, %d writers (one write every %s each), %d WatchStatus streams, %s after 10 s of warm-up, sampled every %s",
		opts.Readers, opts.Writers, opts.WriteEvery, opts.Watchers, opts.Duration, opts.Interval)
	sr.res, err = load.Soak(ctx, client, watch, opts)
	s1, ok2 := procCPU(pid)
	c1, ok3 := selfCPU()
	sr.others = measured(whole.others())
	sr.serverCPU, sr.clientCPU, sr.cpuOK = s1-s0, c1-c0, ok0 && ok1 && ok2 && ok3
	sr.wall = time.Since(began)
	sr.ghReqs = settle(w.gh, gh0).total
	if err != nil {
		return sr, err
	}
	if sr.res.ReadErrors+sr.res.WriteErrors > 0 || sr.res.StreamFails > 0 {
		// Reported (the section shows the counts and the first error), not fatal.
		progress("  soak: %d read errors, %d write errors, %d streams ended early, e.g. %v", sr.res.ReadErrors, sr.res.WriteErrors, sr.res.StreamFails, sr.res.FirstError)
	}
	return sr, nil
}
