package orbital_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// startRun runs svc.Run(ctx) in a goroutine and returns a channel with its
// result. The test's cleanup cancels ctx and waits for Run to return.
func startRun(t *testing.T, svc *orbital.Service) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return within %s of cancel", waitFor)
		}
	})
	return cancel, done
}

func TestRunRepeatsOnPeriod(t *testing.T) {
	f := newFixture(t)
	const period = 30 * time.Millisecond
	f.register(t, orbital.TestCase{Name: "tick", Period: period, Func: noop})
	start := time.Now()
	startRun(t, f.svc)

	var starts []time.Time
	for range 4 {
		res := f.next(t, "tick")
		if res.Outcome != orbital.Pass {
			t.Fatalf("Outcome = %q", res.Outcome)
		}
		starts = append(starts, res.Start)
	}
	if first := starts[0].Sub(start); first > period+100*time.Millisecond {
		t.Errorf("first run started %s after Run, want within about one period (%s)", first, period)
	}
	// Ticks keep the case's phase: a late run does not push the next ones
	// back, and runs are a period apart on average, not back to back.
	if span := starts[len(starts)-1].Sub(starts[0]); span < time.Duration(len(starts)-2)*period {
		t.Errorf("%d runs within %s, want them about %s apart", len(starts), span, period)
	}
}

func TestFirstRunIsPromptNotAPeriodLater(t *testing.T) {
	tests := []struct {
		name   string
		spread time.Duration
	}{
		{"no spread", 0},
		{"small spread", 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, orbital.WithStartSpread(tt.spread))
			const n = 20
			for i := range n {
				f.register(t, orbital.TestCase{Name: "hourly" + string(rune('a'+i)), Period: time.Hour, Func: noop})
			}
			start := time.Now()
			startRun(t, f.svc)
			var last time.Time
			for range n {
				res := recv(t, f.results, "a first run")
				if res.Start.After(last) {
					last = res.Start
				}
			}
			if lag := last.Sub(start); lag > tt.spread+time.Second {
				t.Errorf("last first run started %s after Run, want within the spread %s", lag, tt.spread)
			}
		})
	}
}

func TestNoOverlappingRuns(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	var running, maxRunning atomic.Int32
	f.register(t, orbital.TestCase{Name: "slow", Period: 10 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
		n := running.Add(1)
		defer running.Add(-1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	startRun(t, f.svc)
	// Wait for two ticks skipped while the first run is still going.
	f.waitMetric(t, "orbital.run.overlap_skipped_total")
	f.waitMetric(t, "orbital.run.overlap_skipped_total")
	close(release)
	if res := f.next(t, "slow"); res.Outcome != orbital.Pass {
		t.Errorf("Outcome = %q", res.Outcome)
	}
	// The case runs again after its run ended.
	f.next(t, "slow")
	if got := maxRunning.Load(); got != 1 {
		t.Errorf("%d runs of one case at once, want 1", got)
	}
	if got := f.measures("orbital.run", "overlap_skipped_total", caseTag("slow")); len(got) < 2 {
		t.Errorf("overlap_skipped_total with the case tag counted %d times, want >= 2", len(got))
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"msg":"tick skipped: the previous run is still going","case":"slow"`) {
		t.Errorf("skipped tick not logged:\n%s", logs)
	}
}

func TestRegisterWhileRunning(t *testing.T) {
	f := newFixture(t)
	startRun(t, f.svc)
	f.register(t, orbital.TestCase{Name: "late", Period: 20 * time.Millisecond, Func: noop})
	f.next(t, "late")
	f.next(t, "late")
}

func TestRunDrainsInFlightRuns(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var ctxErr atomic.Value
	f.register(t, orbital.TestCase{Name: "long", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		started <- struct{}{}
		<-release
		ctxErr.Store(ctx.Err() == nil)
	}})
	f2 := f.svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f2.Run(ctx) }()
	recv(t, started, "the run to start")
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a run was in flight", err)
	default:
	}
	close(release)
	if err := recv(t, done, "Run to return"); err != nil {
		t.Errorf("Run() = %v, want nil after a clean drain", err)
	}
	res := f.next(t, "long")
	if res.Outcome != orbital.Pass {
		t.Errorf("drained run Outcome = %q, want pass", res.Outcome)
	}
	if ok, _ := ctxErr.Load().(bool); !ok {
		t.Error("the in-flight run's ctx was cancelled during the drain grace")
	}
}

func TestDrainGraceCancelsAndReports(t *testing.T) {
	f := newFixture(t, orbital.WithDrainGrace(20*time.Millisecond), orbital.WithStartSpread(0))
	started := make(chan string, 2)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	f.register(t, orbital.TestCase{Name: "polite", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		started <- o.Name()
		<-ctx.Done()
		o.Fatal("cancelled: ", ctx.Err())
	}})
	// Timeout 1s: abandoned a grace of 100ms after the drain cancels it.
	f.register(t, orbital.TestCase{Name: "stubborn", Period: time.Hour, Timeout: time.Second, Func: func(ctx context.Context, o *orbital.O) {
		started <- o.Name()
		<-block // ignores ctx
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	recv(t, started, "a run to start")
	recv(t, started, "a run to start")
	cancel()
	err := recv(t, done, "Run to return")
	if err == nil || !strings.Contains(err.Error(), "drain grace") || !strings.Contains(err.Error(), "cancelled 2 in-flight runs") {
		t.Errorf("Run() = %v, want a drain grace error that cancelled 2 in-flight runs", err)
	}
	// Both runs were reported before Run returned.
	got := map[string]orbital.Result{}
	for range 2 {
		res := recv(t, f.results, "a result")
		got[res.Case] = res
	}
	// Cut short by the shutdown: neither run reached a verdict, and the
	// failure recorded after the cancellation does not count.
	if r := got["polite"]; r.Outcome != orbital.Inconclusive || !strings.Contains(r.Error, "drain grace expired") ||
		!strings.Contains(r.Error, "context canceled") || r.TimedOut {
		t.Errorf("polite: Outcome %q Error %q TimedOut %v; want inconclusive, drain grace expired, context canceled, not timed out", r.Outcome, r.Error, r.TimedOut)
	}
	if r := got["stubborn"]; r.Outcome != orbital.Inconclusive || !strings.Contains(r.Error, "abandoned") {
		t.Errorf("stubborn: Outcome %q Error %q; want inconclusive, abandoned", r.Outcome, r.Error)
	}
}

func TestTimeouts(t *testing.T) {
	const timeout = 50 * time.Millisecond
	tests := []struct {
		name string
		fn   orbital.TestFunc
	}{
		{"returns on ctx", func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			o.Log("giving up")
		}},
		{"fatal on ctx", func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			o.Fatal(ctx.Err())
		}},
		{"ignores ctx", func(ctx context.Context, o *orbital.O) {
			select {} // never returns
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.register(t, orbital.TestCase{Name: "to", Period: time.Hour, Timeout: timeout, Func: tt.fn})
			start := time.Now()
			results := f.svc.RunOnce(context.Background(), nil)
			took := time.Since(start)
			res := results[0]
			if res.Outcome != orbital.Fail || !res.TimedOut {
				t.Errorf("Outcome %q TimedOut %v, want fail and timed out", res.Outcome, res.TimedOut)
			}
			if res.Error == "" || !strings.Contains(res.Output, "timed out") && !strings.Contains(res.Output, "deadline exceeded") {
				t.Errorf("Error %q, Output:\n%s", res.Error, res.Output)
			}
			if took > timeout+time.Second {
				t.Errorf("reported %s after start, want soon after the %s deadline", took, timeout)
			}
			if got := f.measures("orbital.run", "timeouts_total", caseTag("to")); len(got) != 1 {
				t.Errorf("run.timeouts_total counted %d times, want 1", len(got))
			}
		})
	}
}

func TestServiceDefaultTimeout(t *testing.T) {
	f := newFixture(t, orbital.WithTimeout(30*time.Millisecond))
	res := runOne(t, f, "deflt", func(ctx context.Context, o *orbital.O) { <-ctx.Done() })
	if !res.TimedOut {
		t.Errorf("TimedOut = false with the service default timeout")
	}
}

// TestCallsOnAFinishedO checks that a goroutine left behind by an abandoned
// run can keep using its O without panics or races.
func TestCallsOnAFinishedO(t *testing.T) {
	f := newFixture(t)
	resume := make(chan struct{})
	finished := make(chan bool)
	f.register(t, orbital.TestCase{Name: "zombie", Period: time.Hour, Timeout: 20 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			<-resume
			o.Log("late")
			o.Errorf("late %d", 1)
			o.Fail()
			o.Measure("late", time.Second)
			o.Cleanup(func() {})
			o.Helper()
			ok := o.Run("late-sub", noop)
			_, _ = o.Failed(), o.Skipped()
			_ = o.Stats()
			finished <- ok
			o.FailNow()
		}})
	res := f.svc.RunOnce(context.Background(), nil)[0]
	if !res.TimedOut || res.Outcome != orbital.Fail {
		t.Fatalf("Outcome %q TimedOut %v, want a timed out failure", res.Outcome, res.TimedOut)
	}
	close(resume)
	if ok := recv(t, finished, "the abandoned goroutine"); ok {
		t.Error("Run on a finished O returned true")
	}
	if strings.Contains(res.Output, "late") {
		t.Errorf("late calls changed the reported output:\n%s", res.Output)
	}
}

func TestRunOnceMatchAndCancel(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"a.1", "a.2", "b.1"} {
		f.register(t, orbital.TestCase{Name: name, Period: time.Hour, Func: noop})
	}
	results := f.svc.RunOnce(context.Background(), func(name string) bool { return strings.HasPrefix(name, "a.") })
	if len(results) != 2 || results[0].Case != "a.1" || results[1].Case != "a.2" {
		t.Errorf("RunOnce(match a/) = %v", results)
	}
	if got := f.svc.RunOnce(context.Background(), nil); len(got) != 3 {
		t.Errorf("RunOnce(nil) ran %d cases, want 3", len(got))
	}

	// Runs are concurrent: each waits for all three to have started.
	g := newFixture(t)
	var started atomic.Int32
	all := make(chan struct{})
	for _, name := range []string{"x", "y", "z"} {
		g.register(t, orbital.TestCase{Name: name, Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
			if started.Add(1) == 3 {
				close(all)
			}
			select {
			case <-all:
			case <-ctx.Done():
				o.Fatal("cases did not run concurrently")
			}
		}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, r := range g.svc.RunOnce(ctx, nil) {
		if r.Outcome != orbital.Pass {
			t.Errorf("%s: %s %s", r.Case, r.Outcome, r.Error)
		}
	}

	// A cancelled ctx cancels the runs, which are still reported, as
	// inconclusive: the failure came after the interruption.
	h := newFixture(t)
	h.register(t, orbital.TestCase{Name: "c", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		<-ctx.Done()
		o.Fatal(ctx.Err())
	}})
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if r := h.svc.RunOnce(cctx, nil); len(r) != 1 || r[0].Outcome != orbital.Inconclusive {
		t.Errorf("RunOnce(cancelled ctx) = %v", r)
	}
}

func TestRunTwiceFails(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	startRun(t, f.svc)
	f.register(t, orbital.TestCase{Name: "ready", Period: time.Hour, Func: noop})
	f.next(t, "ready") // the first Run is going
	if err := f.svc.Run(context.Background()); err == nil {
		t.Error("a second concurrent Run returned nil")
	}
}

func TestWithAssignment(t *testing.T) {
	f := newFixture(t, orbital.WithAssignment(func(name string) bool { return name != "theirs" }))
	ran := make(chan string, 10)
	for _, name := range []string{"mine", "theirs"} {
		f.register(t, orbital.TestCase{Name: name, Period: 10 * time.Millisecond, Func: func(_ context.Context, o *orbital.O) {
			ran <- o.Name()
		}})
	}
	startRun(t, f.svc)
	for range 3 {
		if got := recv(t, ran, "a run"); got != "mine" {
			t.Fatalf("ran %q, which this replica does not own", got)
		}
	}
	if got := f.measures("orbital.run", "overlap_skipped_total", caseTag("theirs")); len(got) != 0 {
		t.Errorf("unowned ticks counted as overlap skips: %d", len(got))
	}
}

func TestRunLogs(t *testing.T) {
	f := newFixture(t)
	res := runOne(t, f, "logged", func(_ context.Context, o *orbital.O) { o.Error("nope") })
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["case"] != "logged" || rec["trace_id"] != res.TraceID {
			t.Errorf("log line without the run's case and trace_id: %s", line)
		}
		if rec["msg"] == "run finished" {
			found = true
			if rec["level"] != "ERROR" || rec["outcome"] != "fail" || rec["duration"] == nil || rec["error"] != "nope" {
				t.Errorf("run-end line = %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no run-end log line in:\n%s", f.logs.String())
	}
}

// TestRunWithDoneContextStartsNothing: Run on a context that is already done
// returns at once without starting a run, even for cases due immediately.
func TestRunWithDoneContextStartsNothing(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	var ran atomic.Int32
	f.register(t, orbital.TestCase{Name: "due", Period: time.Millisecond, Func: func(context.Context, *orbital.O) { ran.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.svc.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if n := ran.Load(); n != 0 {
		t.Errorf("%d runs started after ctx was done, want 0", n)
	}
}

// TestHungTestsDoNotPileUp: a test that ignores its ctx is abandoned after each timeout, but
// once MaxAbandonedRuns of its goroutines are still alive the case's ticks are skipped, so a
// test that hangs forever holds a bounded number of goroutines. When they return, runs resume.
func TestHungTestsDoNotPileUp(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	var started atomic.Int32
	f.register(t, orbital.TestCase{Name: "hung", Period: 5 * time.Millisecond, Timeout: 10 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			started.Add(1)
			<-release // ignores ctx
		}})
	startRun(t, f.svc)
	for i := 0; i < orbital.MaxAbandonedRuns; i++ {
		if res := f.next(t, "hung"); res.Outcome != orbital.Fail || !res.TimedOut {
			t.Fatalf("run %d: Outcome %q TimedOut %v, want a timed-out failure", i, res.Outcome, res.TimedOut)
		}
	}
	// Ticks are now skipped: each skip is counted; wait until the skips give the abandoned runs
	// as their reason, then a few more.
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(f.logs.String(), "still have not returned") {
		if time.Now().After(deadline) {
			t.Fatalf("skip for abandoned runs not logged:\n%s", f.logs.String())
		}
		f.waitMetric(t, "orbital.run.overlap_skipped_total")
	}
	for i := 0; i < 5; i++ {
		f.waitMetric(t, "orbital.run.overlap_skipped_total")
	}
	if got := started.Load(); got != orbital.MaxAbandonedRuns {
		t.Fatalf("%d runs started while %d abandoned goroutines were alive, want %d",
			got, orbital.MaxAbandonedRuns, orbital.MaxAbandonedRuns)
	}
	close(release) // the hung goroutines return; the case runs (and passes) again
	for {
		res := f.next(t, "hung")
		if res.Outcome == orbital.Pass {
			break
		}
	}
}

// TestReassignedRunsGainedCasesAtOnce: a case this replica did not own at its last tick and owns
// after a reassignment runs at once, not a whole period later; one it keeps owning does not.
func TestReassignedRunsGainedCasesAtOnce(t *testing.T) {
	var mine atomic.Bool
	asked := make(chan string, 100)
	f := newFixture(t, orbital.WithStartSpread(0), orbital.WithAssignment(func(name string) bool {
		select {
		case asked <- name:
		default:
		}
		return name == "kept" || mine.Load()
	}))
	f.register(t, orbital.TestCase{Name: "gained", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {}})
	f.register(t, orbital.TestCase{Name: "kept", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {}})
	f.svc.Reassigned() // before Run: nothing to do, and no panic
	startRun(t, f.svc)
	// The first ticks: "kept" runs, "gained" is not ours yet.
	if res := f.next(t, "kept"); res.Outcome != orbital.Pass {
		t.Fatalf("kept: %q", res.Outcome)
	}
	for seen := map[string]bool{}; !seen["gained"]; {
		select {
		case name := <-asked:
			seen[name] = true
		case <-time.After(waitFor):
			t.Fatal("the assignment function was never asked about the gained case")
		}
	}
	mine.Store(true)
	f.svc.Reassigned()
	if res := f.next(t, "gained"); res.Outcome != orbital.Pass {
		t.Fatalf("gained: %q", res.Outcome)
	}
	// Both are now owned and ran within their period: another reassignment runs neither again.
	f.svc.Reassigned()
	f.register(t, orbital.TestCase{Name: "marker", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {}})
	select {
	case res := <-f.results:
		if res.Case != "marker" {
			t.Fatalf("after a second Reassigned, %q ran again before the marker case", res.Case)
		}
	case <-time.After(waitFor):
		t.Fatal("the marker case did not run")
	}
}

// TestReassignedWaitsForLastStart: with WithLastStart, a gained case that ran
// elsewhere less than a period ago runs at that start plus its period, never
// before; one whose last start is older runs at once.
func TestReassignedWaitsForLastStart(t *testing.T) {
	const period = time.Second
	var mine atomic.Bool
	asked := make(chan string, 100)
	lastElsewhere := time.Now()
	f := newFixture(t, orbital.WithStartSpread(0),
		orbital.WithAssignment(func(name string) bool {
			select {
			case asked <- name:
			default:
			}
			return mine.Load()
		}),
		orbital.WithLastStart(func(name string) (time.Time, bool) {
			if name == "recent" {
				return lastElsewhere, true
			}
			return time.Now().Add(-time.Hour), true
		}))
	f.register(t, orbital.TestCase{Name: "recent", Period: period, Func: func(ctx context.Context, o *orbital.O) {}})
	f.register(t, orbital.TestCase{Name: "stale", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {}})
	startRun(t, f.svc)
	for seen := map[string]bool{}; !seen["recent"] || !seen["stale"]; {
		select {
		case name := <-asked:
			seen[name] = true
		case <-time.After(waitFor):
			t.Fatal("the assignment function was never asked about both cases")
		}
	}
	mine.Store(true)
	f.svc.Reassigned()
	got := map[string]orbital.Result{}
	for len(got) < 2 {
		select {
		case res := <-f.results:
			if _, dup := got[res.Case]; !dup {
				got[res.Case] = res
			}
		case <-time.After(waitFor):
			t.Fatalf("gained cases did not both run: %v", got)
		}
	}
	if start := got["recent"].Start; start.Before(lastElsewhere.Add(period)) {
		t.Errorf("recent ran %s after its last start elsewhere, within its period %s", start.Sub(lastElsewhere), period)
	}
	if got["stale"].Start.After(got["recent"].Start) {
		t.Errorf("stale (last run an hour ago) ran after recent; want at once")
	}
}
