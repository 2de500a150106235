package orbital_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// runOne registers f as case name and runs it once.
func runOne(t *testing.T, f *fixture, name string, fn orbital.TestFunc) orbital.Result {
	t.Helper()
	f.register(t, orbital.TestCase{Name: name, Period: time.Hour, Func: fn})
	results := f.svc.RunOnce(context.Background(), func(n string) bool { return n == name })
	if len(results) == 0 {
		t.Fatalf("RunOnce returned no result for %q", name)
	}
	return results[0]
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		fn        orbital.TestFunc
		want      orbital.Outcome
		wantError string // substring of Result.Error
	}{
		{"pass", func(_ context.Context, o *orbital.O) { o.Log("fine") }, orbital.Pass, ""},
		{"error", func(_ context.Context, o *orbital.O) { o.Error("bad", 42) }, orbital.Fail, "bad 42"},
		{"errorf", func(_ context.Context, o *orbital.O) { o.Errorf("got %d", 7) }, orbital.Fail, "got 7"},
		{"fail", func(_ context.Context, o *orbital.O) { o.Fail() }, orbital.Fail, "failed"},
		{"fatal", func(_ context.Context, o *orbital.O) { o.Fatal("stop") }, orbital.Fail, "stop"},
		{"fatalf", func(_ context.Context, o *orbital.O) { o.Fatalf("stop %s", "now") }, orbital.Fail, "stop now"},
		{"failnow", func(_ context.Context, o *orbital.O) { o.FailNow() }, orbital.Fail, "failed"},
		{"first error wins", func(_ context.Context, o *orbital.O) { o.Error("one"); o.Error("two") }, orbital.Fail, "one"},
		{"skip", func(_ context.Context, o *orbital.O) { o.Skip("not today") }, orbital.Skip, ""},
		{"skipf", func(_ context.Context, o *orbital.O) { o.Skipf("not %s", "today") }, orbital.Skip, ""},
		{"skipnow", func(_ context.Context, o *orbital.O) { o.SkipNow() }, orbital.Skip, ""},
		{"fail then skip", func(_ context.Context, o *orbital.O) { o.Error("x"); o.SkipNow() }, orbital.Fail, "x"},
		{"panic", func(context.Context, *orbital.O) { panic("boom") }, orbital.Fail, "panic: boom"},
		{"panic error", func(context.Context, *orbital.O) { panic(fmt.Errorf("wrapped")) }, orbital.Fail, "panic: wrapped"},
		{"goexit", func(context.Context, *orbital.O) { runtime.Goexit() }, orbital.Fail, "Goexit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			res := runOne(t, f, strings.ReplaceAll(tt.name, " ", "_"), tt.fn)
			if res.Outcome != tt.want {
				t.Fatalf("Outcome = %q, want %q\n%s", res.Outcome, tt.want, res.Output)
			}
			if tt.wantError == "" && res.Error != "" {
				t.Errorf("Error = %q, want empty", res.Error)
			}
			if !strings.Contains(res.Error, tt.wantError) {
				t.Errorf("Error = %q, want it to contain %q", res.Error, tt.wantError)
			}
			if res.TimedOut {
				t.Errorf("TimedOut = true, want false")
			}
			verb := map[orbital.Outcome]string{orbital.Pass: "PASS", orbital.Fail: "FAIL", orbital.Skip: "SKIP"}[tt.want]
			if !strings.HasPrefix(res.Output, "--- "+verb+": "+res.Case+" (") {
				t.Errorf("Output does not start with the %s header:\n%s", verb, res.Output)
			}
		})
	}
}

func TestFailNowAndSkipNowEndTheTestGoroutine(t *testing.T) {
	tests := []struct {
		name string
		stop func(o *orbital.O)
		want orbital.Outcome
	}{
		{"FailNow", (*orbital.O).FailNow, orbital.Fail},
		{"Fatal", func(o *orbital.O) { o.Fatal("x") }, orbital.Fail},
		{"SkipNow", (*orbital.O).SkipNow, orbital.Skip},
		{"Skip", func(o *orbital.O) { o.Skip("x") }, orbital.Skip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			reached := false
			var failed, skipped bool
			res := runOne(t, f, tt.name, func(_ context.Context, o *orbital.O) {
				o.Cleanup(func() { failed, skipped = o.Failed(), o.Skipped() })
				tt.stop(o)
				reached = true
			})
			if reached {
				t.Error("code after " + tt.name + " ran")
			}
			if res.Outcome != tt.want {
				t.Errorf("Outcome = %q, want %q", res.Outcome, tt.want)
			}
			if failed != (tt.want == orbital.Fail) || skipped != (tt.want == orbital.Skip) {
				t.Errorf("in cleanup Failed() = %v, Skipped() = %v", failed, skipped)
			}
		})
	}
}

func TestPanicIsReportedWithStackAndServiceKeepsGoing(t *testing.T) {
	f := newFixture(t)
	res := runOne(t, f, "panics", func(context.Context, *orbital.O) {
		var got []string
		_ = got[len(got)] // a real runtime panic
	})
	if res.Outcome != orbital.Fail {
		t.Fatalf("Outcome = %q, want fail", res.Outcome)
	}
	if !strings.Contains(res.Error, "panic: runtime error: index out of range") {
		t.Errorf("Error = %q", res.Error)
	}
	if !strings.Contains(res.Output, "TestPanicIsReportedWithStackAndServiceKeepsGoing") || !strings.Contains(res.Output, "o_test.go:") {
		t.Errorf("Output has no stack naming the panicking function:\n%s", res.Output)
	}
	// The service still runs cases.
	if res := runOne(t, f, "after", noop); res.Outcome != orbital.Pass {
		t.Errorf("run after a panic: Outcome = %q", res.Outcome)
	}
}

func TestCleanups(t *testing.T) {
	tests := []struct {
		name string
		end  func(o *orbital.O)
		want orbital.Outcome
	}{
		{"return", func(*orbital.O) {}, orbital.Pass},
		{"FailNow", (*orbital.O).FailNow, orbital.Fail},
		{"SkipNow", (*orbital.O).SkipNow, orbital.Skip},
		{"panic", func(*orbital.O) { panic("boom") }, orbital.Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var mu sync.Mutex
			var order []string
			record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
			var ctxErrInBody, ctxErrInCleanup error
			res := runOne(t, f, tt.name, func(ctx context.Context, o *orbital.O) {
				o.Cleanup(func() { record("first"); ctxErrInCleanup = ctx.Err() })
				o.Cleanup(func() { record("second"); panic("cleanup boom") })
				o.Cleanup(func() { record("third"); o.FailNow() })
				o.Cleanup(func() { record("fourth") })
				ctxErrInBody = ctx.Err()
				tt.end(o)
			})
			if want := []string{"fourth", "third", "second", "first"}; !slices.Equal(order, want) {
				t.Errorf("cleanup order = %v, want %v", order, want)
			}
			if ctxErrInBody != nil {
				t.Errorf("ctx done during the body: %v", ctxErrInBody)
			}
			if ctxErrInCleanup == nil {
				t.Error("ctx not cancelled when cleanups ran")
			}
			// Cleanups that panic or FailNow fail the run.
			if res.Outcome != orbital.Fail {
				t.Errorf("Outcome = %q, want fail", res.Outcome)
			}
			if !strings.Contains(res.Output, "cleanup panicked: cleanup boom") {
				t.Errorf("Output lacks the cleanup panic:\n%s", res.Output)
			}
		})
	}
}

func TestCleanupRunsWithoutFailingAPassingRun(t *testing.T) {
	f := newFixture(t)
	ran := false
	res := runOne(t, f, "clean", func(_ context.Context, o *orbital.O) { o.Cleanup(func() { ran = true }) })
	if !ran || res.Outcome != orbital.Pass {
		t.Errorf("cleanup ran = %v, Outcome = %q; want true, pass", ran, res.Outcome)
	}
}

// checkStatus is a helper as users write them.
func checkStatus(o *orbital.O, code int) {
	o.Helper()
	if code != 200 {
		o.Errorf("status %d", code)
	}
}

// deeperHelper calls another helper.
func deeperHelper(o *orbital.O) {
	o.Helper()
	checkStatus(o, 500)
}

func TestHelperReportsCallerLine(t *testing.T) {
	f := newFixture(t)
	var line1, line2, line3 int
	res := runOne(t, f, "helper", func(_ context.Context, o *orbital.O) {
		_, _, line1, _ = runtime.Caller(0)
		checkStatus(o, 500)
		_, _, line2, _ = runtime.Caller(0)
		deeperHelper(o)
		_, _, line3, _ = runtime.Caller(0)
		o.Log("direct")
	})
	for _, want := range []string{
		fmt.Sprintf("o_test.go:%d: status 500", line1+1),
		fmt.Sprintf("o_test.go:%d: status 500", line2+1),
		fmt.Sprintf("o_test.go:%d: direct", line3+1),
	} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("Output lacks %q:\n%s", want, res.Output)
		}
	}
}

func TestOutputFormat(t *testing.T) {
	f := newFixture(t)
	res := runOne(t, f, "fmt", func(_ context.Context, o *orbital.O) {
		o.Log("one")
		o.Logf("multi\nline")
	})
	tid := regexp.QuoteMeta(res.TraceID)
	want := regexp.MustCompile(`^--- PASS: fmt \(\d+\.\d\ds\)\n` +
		`    \[` + tid + `\] o_test\.go:\d+: one\n` +
		`    \[` + tid + `\] o_test\.go:\d+: multi\n` +
		`        line\n$`)
	if !want.MatchString(res.Output) {
		t.Errorf("Output =\n%s\nwant it to match %s", res.Output, want)
	}
	if got := f.out.String(); got != res.Output {
		t.Errorf("WithOutput writer got\n%q\nwant the run's Output\n%q", got, res.Output)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(res.TraceID) {
		t.Errorf("TraceID %q is not a UUID", res.TraceID)
	}
}

func TestOIsSafeForConcurrentUse(t *testing.T) {
	f := newFixture(t)
	const workers, each = 8, 50
	res := runOne(t, f, "concurrent", func(_ context.Context, o *orbital.O) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					o.Logf("w%d i%d", w, i)
					o.Measure("m", time.Duration(i))
					_ = o.Failed()
					if i == each-1 {
						o.Errorf("w%d done", w)
					}
				}
			})
		}
		wg.Wait()
	})
	if res.Outcome != orbital.Fail {
		t.Errorf("Outcome = %q, want fail", res.Outcome)
	}
	if got := strings.Count(res.Output, "\n") - 1; got != workers*(each+1) {
		t.Errorf("Output has %d log lines, want %d", got, workers*(each+1))
	}
}

func TestSubtests(t *testing.T) {
	f := newFixture(t)
	var okPass, okFail bool
	var names []string
	f.register(t, orbital.TestCase{Name: "parent", Period: time.Hour, Func: func(_ context.Context, o *orbital.O) {
		okPass = o.Run("passes", func(_ context.Context, o *orbital.O) {
			names = append(names, o.Name())
			o.Log("in passes")
		})
		okFail = o.Run("fails here", func(_ context.Context, o *orbital.O) {
			names = append(names, o.Name())
			o.Run("nested", func(_ context.Context, o *orbital.O) {
				names = append(names, o.Name())
				o.Fatal("deep failure")
			})
		})
		o.Run("skips", func(_ context.Context, o *orbital.O) { o.Skip("later") })
		o.Log("parent continues")
	}})
	results := f.svc.RunOnce(context.Background(), nil)

	if !okPass || okFail {
		t.Errorf("Run returned %v for the passing and %v for the failing subtest", okPass, okFail)
	}
	if want := []string{"parent/passes", "parent/fails_here", "parent/fails_here/nested"}; !slices.Equal(names, want) {
		t.Errorf("subtest names = %v, want %v", names, want)
	}
	got := map[string]orbital.Outcome{}
	traceIDs := map[string]bool{}
	for _, r := range results {
		got[r.Case] = r.Outcome
		traceIDs[r.TraceID] = true
	}
	want := map[string]orbital.Outcome{
		"parent":                   orbital.Fail,
		"parent/passes":            orbital.Pass,
		"parent/fails_here":        orbital.Fail,
		"parent/fails_here/nested": orbital.Fail,
		"parent/skips":             orbital.Skip,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RunOnce outcomes = %v, want %v", got, want)
	}
	if len(traceIDs) != len(results) {
		t.Errorf("trace ids are not unique per run: %d ids for %d results", len(traceIDs), len(results))
	}
	if results[0].Case != "parent" {
		t.Errorf("first result is %q, want the parent first", results[0].Case)
	}
	parent := results[0]
	if !strings.Contains(parent.Error, "parent/fails_here") {
		t.Errorf("parent Error = %q, want it to name the failed subtest", parent.Error)
	}
	// Subtests are nested in the parent's output, go test style.
	for _, want := range []string{
		"\n    --- PASS: parent/passes (",
		"\n    --- FAIL: parent/fails_here (",
		"\n        --- FAIL: parent/fails_here/nested (",
		"deep failure\n",
		"\n    --- SKIP: parent/skips (",
		"parent continues\n",
	} {
		if !strings.Contains(parent.Output, want) {
			t.Errorf("parent Output lacks %q:\n%s", want, parent.Output)
		}
	}
	// Reporters get every subtest before its parent.
	var reported []string
	for range len(results) {
		reported = append(reported, recv(t, f.results, "a result").Case)
	}
	if reported[len(reported)-1] != "parent" {
		t.Errorf("reported order %v: parent is not last", reported)
	}
}

func TestMeasureAndStats(t *testing.T) {
	f := newFixture(t)
	res := runOne(t, f, "measured", func(_ context.Context, o *orbital.O) {
		o.Measure("delivery.latency", time.Second)
		o.Measure("delivery.latency", 250*time.Millisecond)
		o.Measure("send", 3*time.Millisecond)
		o.Stats().Incr("custom.events_total")
	})
	want := map[string]time.Duration{"delivery.latency": 250 * time.Millisecond, "send": 3 * time.Millisecond}
	if fmt.Sprint(res.Measures) != fmt.Sprint(want) {
		t.Errorf("Measures = %v, want %v", res.Measures, want)
	}
	if got := f.measures("orbital.delivery", "latency_seconds", caseTag("measured")); len(got) != 2 {
		t.Errorf("delivery.latency_seconds observed %d times with the case tag, want 2", len(got))
	}
	if got := f.measures("orbital.custom", "events_total", caseTag("measured")); len(got) != 1 {
		t.Errorf("o.Stats() metric with the case tag recorded %d times, want 1", len(got))
	}
}

// TestFatalFromAGoroutineTheTestStarted: testing.T forbids FailNow outside
// the test goroutine; O must not crash on it. The calling goroutine ends,
// the run fails, and the test goroutine carries on.
func TestFatalFromAGoroutineTheTestStarted(t *testing.T) {
	tests := []struct {
		name string
		stop func(o *orbital.O)
		want orbital.Outcome
	}{
		{"Fatal", func(o *orbital.O) { o.Fatal("from a goroutine") }, orbital.Fail},
		{"FailNow", (*orbital.O).FailNow, orbital.Fail},
		{"SkipNow", (*orbital.O).SkipNow, orbital.Skip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			var afterStop, testGoroutineGoesOn bool
			res := runOne(t, f, tt.name, func(_ context.Context, o *orbital.O) {
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					tt.stop(o)
					afterStop = true
				}()
				wg.Wait()
				testGoroutineGoesOn = true
			})
			if afterStop {
				t.Errorf("code after %s ran in the goroutine", tt.name)
			}
			if !testGoroutineGoesOn {
				t.Error("the test goroutine was ended by another goroutine's " + tt.name)
			}
			if res.Outcome != tt.want {
				t.Errorf("Outcome = %q, want %q\n%s", res.Outcome, tt.want, res.Output)
			}
			if res := runOne(t, f, "after_"+tt.name, noop); res.Outcome != orbital.Pass {
				t.Errorf("next run: Outcome = %q, want pass", res.Outcome)
			}
		})
	}
}

// blockingHandler is a slog handler that blocks on the record with message
// block until release is closed, announcing it on entered.
type blockingHandler struct {
	slog.Handler
	block            string
	entered, release chan struct{}
}

func (h blockingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.block {
		close(h.entered)
		<-h.release
	}
	return nil
}
func (h blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h blockingHandler) WithGroup(string) slog.Handler            { return h }

// TestSlowLoggerDoesNotBlockTheTest: while the service logs a panic through
// a slow handler, the test's other goroutines can still use O.
func TestSlowLoggerDoesNotBlockTheTest(t *testing.T) {
	h := blockingHandler{Handler: slog.DiscardHandler, block: "test panicked", entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	svc := orbital.New(orbital.WithLogger(slog.New(h)), orbital.WithOutput(&syncBuffer{}))
	logged := make(chan struct{})
	err := svc.Register(orbital.TestCase{Name: "slowlog", Period: time.Hour, Timeout: time.Minute,
		Func: func(ctx context.Context, o *orbital.O) {
			go func() {
				<-h.entered
				o.Log("from another goroutine while the panic is logged")
				close(logged)
			}()
			panic("boom")
		}})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan []orbital.Result, 1)
	go func() { results <- svc.RunOnce(context.Background(), nil) }()
	recv(t, h.entered, "the panic log record")
	select {
	case <-logged:
	case <-time.After(waitFor):
		t.Error("O.Log blocked while the service logged the panic")
	}
	release()
	res := recv(t, results, "the result")
	if res[0].Outcome != orbital.Fail {
		t.Errorf("Outcome = %q, want fail", res[0].Outcome)
	}
}
