package orbital_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
)

// wantInconclusive checks that res is inconclusive with an Error holding
// every one of reasons and the INCONCLUSIVE header.
func wantInconclusive(t *testing.T, res orbital.Result, reasons ...string) {
	t.Helper()
	if res.Outcome != orbital.Inconclusive || res.TimedOut {
		t.Errorf("%s: Outcome %q TimedOut %v Error %q, want inconclusive, not timed out", res.Case, res.Outcome, res.TimedOut, res.Error)
	}
	for _, r := range reasons {
		if !strings.Contains(res.Error, r) {
			t.Errorf("%s: Error %q lacks %q", res.Case, res.Error, r)
		}
	}
	if !strings.HasPrefix(res.Output, "--- INCONCLUSIVE: "+res.Case+" (") {
		t.Errorf("%s: Output does not start with an INCONCLUSIVE header:\n%s", res.Case, res.Output)
	}
}

// blockUntilDone is a test that checks nothing: it waits for its ctx and
// returns, as a test whose send was cut short does.
func blockUntilDone(started chan<- struct{}) orbital.TestFunc {
	return func(ctx context.Context, o *orbital.O) {
		started <- struct{}{}
		<-ctx.Done()
		o.Log("gave up: ", ctx.Err())
	}
}

// A run the service's shutdown cuts short is inconclusive, not a pass (the
// test returned without checking anything) and not a failure.
func TestShutdownMakesRunsInconclusive(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0), orbital.WithDrainGrace(0))
	started := make(chan struct{}, 1)
	f.register(t, orbital.TestCase{Name: "cut", Period: time.Hour, Func: blockUntilDone(started)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	recv(t, started, "the run to start")
	cancel()
	if err := recv(t, done, "Run to return"); err == nil {
		t.Error("Run() = nil, want the drain grace error")
	}
	res := f.next(t, "cut")
	wantInconclusive(t, res, "service stopped")
	f.waitMetric(t, "orbital.runs_total")
	if got := f.measures("orbital", "runs_total", caseTag("cut"), stats.T("outcome", "inconclusive")); len(got) != 1 {
		t.Errorf("runs_total{outcome=inconclusive} counted %d times, want 1", len(got))
	}
	for _, oc := range []string{"pass", "fail"} {
		for _, m := range f.measures("orbital", "runs_total", caseTag("cut"), stats.T("outcome", oc)) {
			if m.Fields[0].Value.Int() != 0 {
				t.Errorf("runs_total{outcome=%s} = %v after an inconclusive run", oc, m.Fields[0].Value)
			}
		}
	}
	if !strings.Contains(f.logs.String(), `"level":"WARN","msg":"run finished"`) {
		t.Errorf("the run-end log line is not a warning:\n%s", f.logs.String())
	}
}

// The caller of RunNow (a manual run's request) or RunOnce (the gate)
// cancelling interrupts the run: inconclusive, even when the test then fails
// on its cancelled ctx, as WaitNone does with "context canceled".
func TestCallerCancellingMakesRunsInconclusive(t *testing.T) {
	failsOnCtx := func(started chan<- struct{}) orbital.TestFunc {
		return func(ctx context.Context, o *orbital.O) {
			started <- struct{}{}
			<-ctx.Done()
			o.Fatalf("WaitNone: %v", ctx.Err())
		}
	}
	for _, tt := range []struct {
		name string
		fn   func(chan<- struct{}) orbital.TestFunc
		run  func(ctx context.Context, svc *orbital.Service) orbital.Result
	}{
		{"RunNow returns", blockUntilDone, func(ctx context.Context, svc *orbital.Service) orbital.Result {
			res, err := svc.RunNow(ctx, "c")
			if err != nil {
				t.Errorf("RunNow: %v", err)
			}
			return res
		}},
		{"RunNow fails on ctx", failsOnCtx, func(ctx context.Context, svc *orbital.Service) orbital.Result {
			res, _ := svc.RunNow(ctx, "c")
			return res
		}},
		{"RunOnce fails on ctx", failsOnCtx, func(ctx context.Context, svc *orbital.Service) orbital.Result {
			return svc.RunOnce(ctx, nil)[0]
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			started := make(chan struct{}, 1)
			f.register(t, orbital.TestCase{Name: "c", Period: time.Hour, Func: tt.fn(started)})
			ctx, cancel := context.WithCancel(context.Background())
			got := make(chan orbital.Result, 1)
			go func() { got <- tt.run(ctx, f.svc) }()
			recv(t, started, "the run to start")
			cancel()
			res := recv(t, got, "the result")
			wantInconclusive(t, res, "run interrupted (context canceled)")
			if strings.HasPrefix(tt.name, "RunNow fails") && !strings.Contains(res.Error, "WaitNone: context canceled") {
				t.Errorf("Error %q does not say which failure was not counted", res.Error)
			}
		})
	}
}

// A failure recorded before the interruption stays a failure.
func TestFailureBeforeInterruptionStillFails(t *testing.T) {
	f := newFixture(t)
	failed := make(chan struct{})
	f.register(t, orbital.TestCase{Name: "broken", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		o.Error("event lost")
		close(failed)
		<-ctx.Done()
		o.Fatal(ctx.Err())
	}})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan orbital.Result, 1)
	go func() { res, _ := f.svc.RunNow(ctx, "broken"); got <- res }()
	recv(t, failed, "the failure")
	cancel()
	res := recv(t, got, "the result")
	if res.Outcome != orbital.Fail || res.Error != "event lost" {
		t.Errorf("Outcome %q Error %q, want fail, event lost", res.Outcome, res.Error)
	}
}

// The case's own timeout is a failure, not an interruption, unless the test
// then says it ran out of time for a reason of the prober's own.
func TestTimeoutIsNotInconclusive(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "slow", Period: time.Hour, Timeout: 20 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) { <-ctx.Done() }})
	f.register(t, orbital.TestCase{Name: "relay", Period: time.Hour, Timeout: 20 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			o.Inconclusive("not delivered: the cluster relay is unreachable")
		}})
	f.register(t, orbital.TestCase{Name: "both", Period: time.Hour, Timeout: 20 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			o.Error("wrong body")
			o.Inconclusive("and the relay is unreachable")
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := f.svc.RunNow(ctx, "slow")
	if err != nil || res.Outcome != orbital.Fail || !res.TimedOut {
		t.Errorf("slow: RunNow = %q timed out %v, %v; want a timed out failure", res.Outcome, res.TimedOut, err)
	}
	res, _ = f.svc.RunNow(ctx, "relay")
	wantInconclusive(t, res, "cluster relay is unreachable")
	if !strings.Contains(res.Output, "test timed out after 20ms; it declared the run inconclusive") {
		t.Errorf("relay: Output does not say it timed out:\n%s", res.Output)
	}
	if res, _ = f.svc.RunNow(ctx, "both"); res.Outcome != orbital.Fail || !res.TimedOut {
		t.Errorf("both: %q timed out %v, want a timed out failure", res.Outcome, res.TimedOut)
	}
}

func TestInconclusiveCalls(t *testing.T) {
	tests := []struct {
		name    string
		fn      orbital.TestFunc
		outcome orbital.Outcome
		err     string
	}{
		{"Inconclusive", func(_ context.Context, o *orbital.O) {
			o.Inconclusive("chrome crashed:", "signal: killed")
			o.Error("not reached")
		}, orbital.Inconclusive, "chrome crashed: signal: killed"},
		{"Inconclusivef", func(_ context.Context, o *orbital.O) {
			o.Inconclusivef("relay unreachable: %v", errors.New("dial tcp: refused"))
			o.Error("not reached")
		}, orbital.Inconclusive, "relay unreachable: dial tcp: refused"},
		{"after a failure", func(_ context.Context, o *orbital.O) {
			o.Error("wrong body")
			o.Inconclusive("and then the relay went away")
		}, orbital.Fail, "wrong body"},
		{"a cleanup fails after it", func(_ context.Context, o *orbital.O) {
			o.Cleanup(func() { o.Error("leak") })
			o.Inconclusive("gave up")
		}, orbital.Fail, "leak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			cleaned := false
			res := runOne(t, f, "c", func(ctx context.Context, o *orbital.O) {
				o.Cleanup(func() { cleaned = true })
				tt.fn(ctx, o)
			})
			if res.Outcome != tt.outcome || res.Error != tt.err {
				t.Errorf("Outcome %q Error %q, want %q %q", res.Outcome, res.Error, tt.outcome, tt.err)
			}
			if strings.Contains(res.Output, "not reached") || !cleaned {
				t.Errorf("the run did not end at the call (cleanups ran: %v):\n%s", cleaned, res.Output)
			}
			if tt.outcome == orbital.Inconclusive && !strings.Contains(res.Output, "inconclusive_test.go:") {
				t.Errorf("the message is not logged with its line:\n%s", res.Output)
			}
		})
	}
}

// An inconclusive subtest makes its parent inconclusive unless the parent
// failed; Run reports it as not failed.
func TestInconclusiveSubtest(t *testing.T) {
	f := newFixture(t)
	var ran bool
	f.register(t, orbital.TestCase{Name: "p", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		ran = o.Run("browser", func(_ context.Context, o *orbital.O) { o.Inconclusive("chrome crashed") })
		o.Run("http", func(context.Context, *orbital.O) {})
	}})
	f.register(t, orbital.TestCase{Name: "q", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		o.Run("browser", func(_ context.Context, o *orbital.O) { o.Inconclusive("chrome crashed") })
		o.Run("http", func(_ context.Context, o *orbital.O) { o.Error("lost") })
	}})
	got := map[string]orbital.Result{}
	for _, r := range f.svc.RunOnce(context.Background(), nil) {
		got[r.Case] = r
	}
	if !ran {
		t.Error("Run returned false for an inconclusive subtest")
	}
	wantInconclusive(t, got["p/browser"], "chrome crashed")
	wantInconclusive(t, got["p"], "subtest p/browser inconclusive: chrome crashed")
	if got["p/http"].Outcome != orbital.Pass {
		t.Errorf("p/http = %q, want pass", got["p/http"].Outcome)
	}
	if !strings.Contains(got["p"].Output, "\n    --- INCONCLUSIVE: p/browser (") {
		t.Errorf("parent output lacks the subtest's block:\n%s", got["p"].Output)
	}
	if r := got["q"]; r.Outcome != orbital.Fail || !strings.Contains(r.Error, "q/http failed: lost") {
		t.Errorf("q = %q %q, want fail naming q/http", r.Outcome, r.Error)
	}
}

// A subtest cut short by the parent's interruption is inconclusive too.
func TestInterruptedSubtest(t *testing.T) {
	f := newFixture(t)
	started := make(chan struct{}, 1)
	f.register(t, orbital.TestCase{Name: "p", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		o.Run("sub", blockUntilDone(started))
	}})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan orbital.Result, 1)
	go func() { res, _ := f.svc.RunNow(ctx, "p"); got <- res }()
	recv(t, started, "the subtest to start")
	cancel()
	res := recv(t, got, "the result")
	wantInconclusive(t, res, "context canceled")
	if len(res.Subtests) != 1 {
		t.Fatalf("subtests %+v", res.Subtests)
	}
	wantInconclusive(t, res.Subtests[0], "context canceled")
}

// The case's timeout reaches the test and the libraries it calls as
// context.DeadlineExceeded, also through context.Cause, as with
// context.WithTimeout: net/http, for one, returns the cause.
func TestTimeoutCauseIsDeadlineExceeded(t *testing.T) {
	f := newFixture(t)
	got := make(chan error, 2)
	f.register(t, orbital.TestCase{Name: "slow", Period: time.Hour, Timeout: 10 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			got <- ctx.Err()
			got <- context.Cause(ctx)
		}})
	f.svc.RunOnce(context.Background(), nil)
	for range 2 {
		err := recv(t, got, "the ctx error")
		var timeout interface{ Timeout() bool }
		if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "context deadline exceeded" ||
			!errors.As(err, &timeout) || !timeout.Timeout() {
			t.Errorf("ctx error %#v (%v), want one that is context.DeadlineExceeded", err, err)
		}
	}
}
