package main

// A clean-room model of the run path of Segment's original Orbital (github.com/segmentio/orbital,
// files orbital/service.go and orbital/orbital.go), written from a reading of what it does, not
// from its code: that module cannot be fetched here and is not part of this repository. What it
// does per case and per run, and what this model does the same way:
//
//   - Run starts one goroutine per case, each with a time.Ticker on the case's period (all
//     started together, no spread);
//   - on every tick: a cancellable context from context.Background, a completion channel, a
//     WaitGroup.Add, one goroutine running the case and a second one that waits for either the
//     service closing (then cancels the run) or the run completing;
//   - the run: its start time, a new O holding the writer and the stats engine, the timeout
//     (the service default of 10 minutes unless the case sets more than 10 ms),
//     context.WithTimeout, the test function, a check of the context's error, the duration, a
//     tag slice (case, result=pass|fail, then the case's tags), one stats Observe of "case",
//     and one unbuffered fmt.Fprintf of "--- PASS: name (duration)" to the service's writer
//     (os.Stderr by default).
//
// The original uses segmentio/stats (v1-v3); the model uses stats/v4 on the same handler as
// the orbital variant, and writes to the same sink, so the backends cost the same for both.

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/stats/v4"
)

// origCase is a registered case of the model.
type origCase struct {
	name    string
	period  time.Duration
	timeout time.Duration
	tags    []stats.Tag
	fn      func(ctx context.Context, o *origO)
}

// origO is the model's per-run handle: a writer, an engine and a failed flag.
type origO struct {
	w      io.Writer
	eng    *stats.Engine
	mu     sync.Mutex
	failed bool
}

// origService is the model's service.
type origService struct {
	eng     *stats.Engine
	w       io.Writer
	timeout time.Duration
	done    chan struct{}
	wg      sync.WaitGroup
	runs    atomic.Int64
}

// runOriginal runs c.cases no-op cases through the model for c.duration.
func runOriginal(c config) childReport {
	s := &origService{
		eng:     stats.NewEngine("orbital", statsHandler()),
		w:       sink, // the original's default is os.Stderr; every variant writes to the sink
		timeout: 10 * time.Minute,
		done:    make(chan struct{}),
	}
	cases := make([]origCase, c.cases)
	for i := range cases {
		cases[i] = origCase{name: fmt.Sprintf("noop-%05d", i), period: c.period,
			fn: func(context.Context, *origO) { noop() }}
	}
	for _, tc := range cases {
		s.wg.Add(1)
		go s.loop(tc)
	}
	setup := selfCPU()
	time.Sleep(c.duration) // the measured window
	close(s.done)
	s.wg.Wait()
	return childReport{Runs: s.runs.Load(), SetupMS: setup}
}

// loop is a case's ticker goroutine: two goroutines per tick, as the original.
func (s *origService) loop(tc origCase) {
	defer s.wg.Done()
	t := time.NewTicker(tc.period)
	defer t.Stop()
	var runs sync.WaitGroup
	defer runs.Wait()
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		complete := make(chan struct{})
		runs.Add(1)
		go func() {
			defer runs.Done()
			s.handle(ctx, tc)
			s.runs.Add(1)
			close(complete)
		}()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-complete:
			}
		}()
	}
}

// handle is one run: timeout context, the test, one histogram observation, one output line.
func (s *origService) handle(ctx context.Context, tc origCase) {
	start := time.Now()
	o := &origO{w: s.w, eng: s.eng}
	timeout := s.timeout
	if tc.timeout > 10*time.Millisecond {
		timeout = tc.timeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc.fn(rctx, o)
	o.mu.Lock()
	if rctx.Err() != nil && !o.failed {
		o.failed = true
		fmt.Fprintf(o.w, "failed on context error: %v\n", rctx.Err())
	}
	failed := o.failed
	o.mu.Unlock()
	dur := time.Since(start)
	result, verb := "pass", "PASS"
	if failed {
		result, verb = "fail", "FAIL"
	}
	tags := append([]stats.Tag{stats.T("case", tc.name), stats.T("result", result)}, tc.tags...)
	s.eng.Observe("case", dur, tags...)
	fmt.Fprintf(s.w, "--- %s: %s (%s)\n", verb, tc.name, dur)
}
