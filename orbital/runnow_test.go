package orbital_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

func TestRunNowUnknownCase(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "track", Period: time.Hour, Func: func(context.Context, *orbital.O) {}})
	for _, name := range []string{"nope", "track/sub", ""} {
		if _, err := f.svc.RunNow(context.Background(), name); !errors.Is(err, orbital.ErrUnknownCase) {
			t.Errorf("RunNow(%q) error = %v, want ErrUnknownCase", name, err)
		}
	}
}

func TestRunNowReturnsResultWithSubtests(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "track", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		o.Run("a", func(ctx context.Context, o *orbital.O) {
			o.Run("deep", func(context.Context, *orbital.O) {})
		})
		o.Run("b", func(ctx context.Context, o *orbital.O) { o.Error("broken") })
	}})
	res, err := f.svc.RunNow(context.Background(), "track")
	if err != nil {
		t.Fatal(err)
	}
	if res.Case != "track" || res.Parent != "" || res.Outcome != orbital.Fail {
		t.Errorf("result = %s parent %q %s, want track parent \"\" fail", res.Case, res.Parent, res.Outcome)
	}
	want := []struct{ name, parent string }{{"track/a/deep", "track/a"}, {"track/a", "track"}, {"track/b", "track"}}
	if len(res.Subtests) != len(want) {
		t.Fatalf("%d subtests, want %d: %+v", len(res.Subtests), len(want), res.Subtests)
	}
	for i, w := range want {
		if got := res.Subtests[i]; got.Case != w.name || got.Parent != w.parent {
			t.Errorf("subtest %d = %s (parent %q), want %s (parent %q)", i, got.Case, got.Parent, w.name, w.parent)
		}
	}
	// The reporters get every result too, each with its parent.
	for _, w := range append(want, struct{ name, parent string }{"track", ""}) {
		if got := f.next(t, w.name); got.Parent != w.parent {
			t.Errorf("reported %s with parent %q, want %q", w.name, got.Parent, w.parent)
		}
	}
}

// A manual run and a scheduled run of one case never overlap, whichever
// comes first.
func TestRunNowSharesTheOverlapGuard(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	var running, most atomic.Int32
	f.register(t, orbital.TestCase{Name: "slow", Period: 20 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
		if n := running.Add(1); n > most.Load() {
			most.Store(n)
		}
		defer running.Add(-1)
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}})
	startRun(t, f.svc)
	select {
	case <-started: // a scheduled run is going
	case <-time.After(waitFor):
		t.Fatal("no scheduled run started")
	}
	if _, err := f.svc.RunNow(context.Background(), "slow"); !errors.Is(err, orbital.ErrBusy) {
		t.Fatalf("RunNow during a scheduled run: error = %v, want ErrBusy", err)
	}
	close(release)
	// Once the scheduled run is over a manual run goes through; ticks that
	// come during it are skipped as overlaps.
	deadline := time.Now().Add(waitFor)
	for {
		res, err := f.svc.RunNow(context.Background(), "slow")
		if err == nil {
			if res.Outcome != orbital.Pass {
				t.Errorf("manual run outcome %s", res.Outcome)
			}
			break
		}
		if !errors.Is(err, orbital.ErrBusy) || time.Now().After(deadline) {
			t.Fatalf("RunNow: %v", err)
		}
		<-started // the next scheduled run started: wait for it to end and try again
	}
	if got := most.Load(); got != 1 {
		t.Errorf("%d runs of one case at once, want 1", got)
	}
}

func TestRunNowBlocksScheduledTicks(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	inManual := make(chan struct{})
	release := make(chan struct{})
	var manual atomic.Bool
	var overlapped atomic.Bool
	f.register(t, orbital.TestCase{Name: "c", Period: 10 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
		if !manual.Load() {
			return
		}
		if ctx.Value(manualKey{}) == nil {
			overlapped.Store(true)
			return
		}
		close(inManual)
		<-release
	}})
	startRun(t, f.svc)
	f.next(t, "c") // the scheduler runs it
	manual.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.RunNow(context.WithValue(context.Background(), manualKey{}, true), "c")
		done <- err
	}()
	var err error
	select {
	case <-inManual:
	case err = <-done:
		// A scheduled run was going: try again until the manual one gets in.
		for errors.Is(err, orbital.ErrBusy) {
			go func() {
				_, err := f.svc.RunNow(context.WithValue(context.Background(), manualKey{}, true), "c")
				done <- err
			}()
			select {
			case <-inManual:
				err = nil
			case err = <-done:
			}
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("RunNow: %v", err)
		}
	}
	// While the manual run holds the case, ticks are skipped and counted.
	f.waitMetric(t, "orbital.run.overlap_skipped_total")
	f.waitMetric(t, "orbital.run.overlap_skipped_total")
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if overlapped.Load() {
		t.Error("a scheduled run started while the manual run was going")
	}
}

type manualKey struct{}

func TestGateOnlyCaseIsNeverScheduled(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	var runs atomic.Int32
	f.register(t, orbital.TestCase{Name: "gate-only", Func: func(context.Context, *orbital.O) { runs.Add(1) }})
	f.register(t, orbital.TestCase{Name: "ticker", Period: 5 * time.Millisecond, Func: func(context.Context, *orbital.O) {}})
	startRun(t, f.svc)
	for range 5 {
		f.next(t, "ticker") // the scheduler is going
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("a case with Period 0 was scheduled %d times", n)
	}
	if res, err := f.svc.RunNow(context.Background(), "gate-only"); err != nil || res.Outcome != orbital.Pass {
		t.Fatalf("RunNow(gate-only) = %v, %v", res.Outcome, err)
	}
	if got := f.svc.RunOnce(context.Background(), func(n string) bool { return n == "gate-only" }); len(got) != 1 {
		t.Fatalf("RunOnce ran %d results", len(got))
	}
}

type countReporter struct{ n atomic.Int32 }

func (c *countReporter) Report(orbital.Result) { c.n.Add(1) }

func TestAddReporterAfterNew(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "c", Period: time.Hour, Func: func(context.Context, *orbital.O) {}})
	late := &countReporter{}
	f.svc.AddReporter(late)
	f.svc.AddReporter(late) // the same reporter twice is one reporter
	f.svc.AddReporter(nil)
	var typedNil *countReporter
	f.svc.AddReporter(typedNil) // ignored (and logged), not a reporter that swallows results
	f.svc.RunOnce(context.Background(), nil)
	if n := late.n.Load(); n != 1 {
		t.Errorf("reporter added after New got %d results, want 1", n)
	}
	f.next(t, "c") // the reporter given to New still gets it
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "_",
		"track":            "track",
		"TestFoo/with sp":  "TestFoo_with_sp",
		"café":             "caf_",
		"a:b\"c":           "a_b_c",
		"ok.name_with-dot": "ok.name_with-dot",
	} {
		got := orbital.CleanName(in)
		if got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
		if err := orbital.ValidateName(got); err != nil {
			t.Errorf("CleanName(%q) = %q is not valid: %v", in, got, err)
		}
	}
	if err := orbital.ValidateName("a/b"); !errors.Is(err, orbital.ErrInvalidCase) {
		t.Errorf("ValidateName(a/b) = %v, want ErrInvalidCase", err)
	}
}

func TestRunOnceSelectingNothingSaysSo(t *testing.T) {
	f := newFixture(t)
	f.register(t, orbital.TestCase{Name: "track", Period: time.Hour, Func: func(context.Context, *orbital.O) {}})
	if got := f.svc.RunOnce(context.Background(), func(string) bool { return false }); got != nil {
		t.Errorf("RunOnce selecting nothing = %v, want nil", got)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "RunOnce selected no case") {
		t.Errorf("no warning logged:\n%s", logs)
	}
}

// A case whose runs never end (its test ignores ctx) stops being run once
// MaxAbandonedRuns are abandoned: Health says so, so an orchestrator can
// restart the process.
func TestHealthCatchesAStuckCase(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0))
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	f.register(t, orbital.TestCase{Name: "ok", Period: 10 * time.Millisecond, Func: func(context.Context, *orbital.O) {}})
	f.register(t, orbital.TestCase{Name: "hangs", Period: 10 * time.Millisecond, Timeout: 20 * time.Millisecond,
		Func: func(context.Context, *orbital.O) { <-block }})
	if err := f.svc.Health(); err != nil {
		t.Fatalf("Health before Run: %v", err)
	}
	startRun(t, f.svc)
	f.next(t, "ok")
	if err := f.svc.Health(); err != nil {
		t.Fatalf("Health right after start: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f.svc.Health()
		if err != nil {
			if !strings.Contains(err.Error(), "hangs") {
				t.Fatalf("Health blames the wrong case: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Health never reported the stuck case")
		}
		f.next(t, "ok") // wait on the scheduler's own progress
	}
}

func TestAbortCutsRunsShort(t *testing.T) {
	f := newFixture(t, orbital.WithStartSpread(0), orbital.WithDrainGrace(time.Hour))
	started := make(chan struct{}, 1)
	f.register(t, orbital.TestCase{Name: "slow", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		started <- struct{}{}
		<-ctx.Done()
		o.Log("cut short:", context.Cause(ctx))
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	<-started
	cancel() // the drain would wait an hour
	f.svc.Abort()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Run did not return after Abort")
	}
	res := f.next(t, "slow")
	if !strings.Contains(res.Output, "aborted") {
		t.Errorf("the run was not reported as cut short by the abort:\n%s", res.Output)
	}
}

// Health watches a case from when this Run scheduled it: the last start of an
// earlier Run on the same Service does not make it "stuck" in the next one.
func TestHealthHasNoFalsePositives(t *testing.T) {
	g := newFixture(t, orbital.WithStartSpread(0))
	short := orbital.TestCase{Name: "s", Period: 10 * time.Millisecond, Timeout: time.Millisecond, Func: func(context.Context, *orbital.O) {}}
	g.register(t, short)
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { done1 <- g.svc.Run(ctx1) }()
	g.next(t, "s")
	cancel1()
	<-done1
	idle := time.NewTimer(orbital.StuckAfter(short, time.Minute) + 100*time.Millisecond)
	<-idle.C // outwait the bound: the waiting is what is tested, not a synchronisation
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { done1 <- g.svc.Run(ctx2) }()
	t.Cleanup(func() { cancel2(); <-done1 })
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if err := g.svc.Health(); err != nil {
			t.Fatalf("Health in a second Run, counted from the first Run's last start: %v", err)
		}
		select {
		case <-g.results:
			return // the second Run started s: watched from then on
		default:
		}
	}
}
