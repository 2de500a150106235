package orbital_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/orbital"
)

// TestWithTimeoutZeroKeepsTheDefault: WithTimeout(0) leaves the default
// per-run timeout of 10 minutes, rather than a deadline already past.
func TestWithTimeoutZeroKeepsTheDefault(t *testing.T) {
	f := newFixture(t, orbital.WithTimeout(0))
	f.register(t, orbital.TestCase{Name: "deadline", Period: time.Minute, Func: func(ctx context.Context, o *orbital.O) {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) < 9*time.Minute {
			o.Errorf("deadline %v from now, want about 10m", time.Until(dl))
		}
	}})
	res := f.svc.RunOnce(context.Background(), nil)
	if len(res) != 1 || res[0].Outcome != orbital.Pass {
		t.Fatalf("results %+v", res)
	}
}

// TestSubtestFailureCarriesItsError: a parent failed by its subtest says
// which subtest failed and why.
func TestSubtestFailureCarriesItsError(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "parent", Period: time.Minute, Func: func(_ context.Context, o *orbital.O) {
		o.Run("child", func(_ context.Context, o *orbital.O) { o.Error("the delivery never came") })
	}})
	res := resultOf(t, f.svc.RunOnce(context.Background(), nil), "parent")
	if res.Outcome != orbital.Fail {
		t.Fatalf("result %+v", res)
	}
	if e := res.Error; !strings.Contains(e, "parent/child") || !strings.Contains(e, "the delivery never came") {
		t.Fatalf("parent's error %q, want the subtest's name and error", e)
	}
}

// TestSubtestOfACaseWithTags: a subtest's metrics carry every tag of its
// case, however many.
func TestSubtestOfACaseWithTags(t *testing.T) {
	f := newFixture(t)
	tags := []stats.Tag{stats.T("team", "pipeline"), stats.T("tier", "1"), stats.T("region", "eu")}
	f.register(t, orbital.TestCase{Name: "tagged", Period: time.Minute, Tags: tags, Func: func(_ context.Context, o *orbital.O) {
		o.Run("child", noop)
	}})
	if res := resultOf(t, f.svc.RunOnce(context.Background(), nil), "tagged"); res.Outcome != orbital.Pass {
		t.Fatalf("result %+v", res)
	}
	want := append([]stats.Tag{caseTag("tagged/child"), stats.T("outcome", "pass")}, tags...)
	if got := f.measures("orbital", "runs_total", want...); len(got) != 1 {
		t.Fatalf("runs_total%v: %d measures, want 1", want, len(got))
	}
}

// TestRunsInFlightAcrossRuns: runs_in_flight goes back to 0 after each run,
// so the next run starts from 1 again.
func TestRunsInFlightAcrossRuns(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "twice", Period: time.Minute, Func: noop})
	for range 2 {
		f.svc.RunOnce(context.Background(), nil)
	}
	var got []int64
	for _, m := range f.measures("orbital", "runs_in_flight", caseTag("twice")) {
		got = append(got, m.Fields[0].Value.Int())
	}
	if want := []int64{1, 0, 1, 0}; !slicesEqual(got, want) {
		t.Fatalf("runs_in_flight went %v, want %v", got, want)
	}
}

// resultOf returns the result of case name among results.
func resultOf(t *testing.T, results []orbital.Result, name string) orbital.Result {
	t.Helper()
	for _, r := range results {
		if r.Case == name {
			return r
		}
	}
	t.Fatalf("no result for %q in %+v", name, results)
	return orbital.Result{}
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResultMeasuresNilWhenNone: Result.Measures is nil for a run that
// measured nothing, as documented.
func TestResultMeasuresNilWhenNone(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "plain", Period: time.Minute, Func: noop})
	f.register(t, orbital.TestCase{Name: "measured", Period: time.Minute, Func: func(_ context.Context, o *orbital.O) {
		o.Measure("step", time.Millisecond)
	}})
	results := f.svc.RunOnce(context.Background(), nil)
	if m := resultOf(t, results, "plain").Measures; m != nil {
		t.Errorf("Measures of a run that measured nothing: %#v, want nil", m)
	}
	if m := resultOf(t, results, "measured").Measures; m["step"] != time.Millisecond {
		t.Errorf("Measures = %v, want step=1ms", m)
	}
}

// TestPanickingReporterIsContained: a reporter that panics is logged; the
// other reporters still get the result and the service goes on.
func TestPanickingReporterIsContained(t *testing.T) {
	f := newFixture(t, orbital.WithReporter(reporterFunc(func(orbital.Result) { panic("reporter bug") })))
	f.register(t, orbital.TestCase{Name: "ok", Period: time.Minute, Func: noop})
	for range 2 {
		if res := resultOf(t, f.svc.RunOnce(context.Background(), nil), "ok"); res.Outcome != orbital.Pass {
			t.Fatalf("result %+v", res)
		}
		f.next(t, "ok")
	}
	// Logged once per run, with its value; the reporter that did not panic
	// is not reported as panicking.
	logs := f.logs.String()
	if n := strings.Count(logs, `"reporter panicked"`); n != 2 || strings.Count(logs, `"panic":"reporter bug"`) != 2 {
		t.Errorf("want 2 \"reporter panicked\" lines with the panic value, got %d:\n%s", n, logs)
	}
}

type reporterFunc func(orbital.Result)

func (r reporterFunc) Report(res orbital.Result) { r(res) }

// TestRunAbandonedSoonAfterParentCancel: when the service's context ends
// while a test ignores its own, the run is abandoned a grace period later,
// not at its (much later) deadline.
func TestRunAbandonedSoonAfterParentCancel(t *testing.T) {
	f := newFixture(t)
	started := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.register(t, orbital.TestCase{Name: "stubborn", Period: time.Minute, Timeout: time.Minute, Func: func(context.Context, *orbital.O) {
		close(started)
		<-release // ignores its context
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []orbital.Result, 1)
	go func() { done <- f.svc.RunOnce(ctx, nil) }()
	recv(t, started, "the run to start")
	cancel()
	// The grace for a 1 minute timeout is 2s; waitFor is 5s.
	results := recv(t, done, "RunOnce to give up on the abandoned run")
	if res := resultOf(t, results, "stubborn"); res.Outcome == orbital.Pass {
		t.Fatalf("abandoned run passed: %+v", res)
	}
}

// TestRunWithoutCases: a service with nothing registered runs until its
// context ends.
func TestRunWithoutCases(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned before its context ended: %v", err)
	case <-time.After(50 * time.Millisecond): // a few scheduler loops with an empty queue
	}
	cancel()
	if err := recv(t, done, "Run to return"); err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// TestReassignedRunsTheOnlyCase: the gained case is the only one scheduled
// (the head of the queue) and still runs at once.
func TestReassignedRunsTheOnlyCase(t *testing.T) {
	var mine atomic.Bool
	asked := make(chan struct{}, 100)
	f := newFixture(t, orbital.WithStartSpread(0), orbital.WithAssignment(func(string) bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return mine.Load()
	}))
	f.register(t, orbital.TestCase{Name: "only", Period: time.Hour, Func: noop})
	startRun(t, f.svc)
	recv(t, asked, "the first tick to ask about the case")
	mine.Store(true)
	// The tick records "not owned" just after asking; repeat Reassigned
	// until the run comes (a run resets that, so it runs once).
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for {
		f.svc.Reassigned()
		select {
		case res := <-f.results:
			if res.Case != "only" || res.Outcome != orbital.Pass {
				t.Fatalf("result %+v", res)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the gained case did not run within %s of Reassigned", waitFor)
		}
	}
}
