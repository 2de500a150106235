package orbitaltest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/orbitaltest"
)

// fakeTB records what orbitaltest.Run does to a test. Methods it does not
// implement panic through the nil embedded interface.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	logs    []string
	failed  bool
	skipped bool
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Name() string                   { return "TestFake/with space" }
func (f *fakeTB) Context() context.Context       { return context.Background() }
func (f *fakeTB) Fatalf(format string, a ...any) { f.Log(fmt.Sprintf(format, a...)); f.Fail() }
func (f *fakeTB) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprint(args...))
}
func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}
func (f *fakeTB) SkipNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skipped = true
}

func TestRunReplaysOutcome(t *testing.T) {
	tests := []struct {
		name        string
		fn          orbital.TestFunc
		wantFailed  bool
		wantSkipped bool
		wantLog     string
	}{
		{"pass", func(_ context.Context, o *orbital.O) { o.Log("all good") }, false, false, "all good"},
		{"error", func(_ context.Context, o *orbital.O) { o.Errorf("got %d", 500) }, true, false, "got 500"},
		{"fatal", func(_ context.Context, o *orbital.O) { o.Fatal("stop") }, true, false, "stop"},
		{"panic", func(context.Context, *orbital.O) { panic("boom") }, true, false, "panic: boom"},
		{"skip", func(_ context.Context, o *orbital.O) { o.Skip("not here") }, false, true, "not here"},
		{"inconclusive", func(_ context.Context, o *orbital.O) { o.Inconclusive("chrome crashed") }, false, true, "orbital: inconclusive: chrome crashed"},
		{"failed subtest", func(_ context.Context, o *orbital.O) {
			o.Run("child", func(_ context.Context, o *orbital.O) { o.Error("child broke") })
		}, true, false, "child broke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTB{}
			orbitaltest.Run(fake, tt.fn)
			if fake.failed != tt.wantFailed || fake.skipped != tt.wantSkipped {
				t.Errorf("failed = %v, skipped = %v; want %v, %v", fake.failed, fake.skipped, tt.wantFailed, tt.wantSkipped)
			}
			all := strings.Join(fake.logs, "\n")
			if !strings.Contains(all, tt.wantLog) {
				t.Errorf("t.Log got %q, want a line containing %q", all, tt.wantLog)
			}
			if strings.Contains(all, "--- ") && !strings.Contains(tt.name, "subtest") {
				t.Errorf("t.Log got the go test header line:\n%s", all)
			}
		})
	}
}

func TestRunLogsNameCallerLine(t *testing.T) {
	fake := &fakeTB{}
	orbitaltest.Run(fake, func(_ context.Context, o *orbital.O) { o.Log("where") })
	if len(fake.logs) != 1 || !strings.Contains(fake.logs[0], "orbitaltest_test.go:") {
		t.Errorf("logs = %q, want one line naming orbitaltest_test.go", fake.logs)
	}
}

// The same function serves go test and the service.
func checkPipeline(ctx context.Context, o *orbital.O) {
	if ctx.Err() != nil {
		o.Fatal(ctx.Err())
	}
	o.Logf("sent %s", o.TraceID())
}

func TestRunUnderGoTest(t *testing.T) {
	orbitaltest.Run(t, checkPipeline)
}

// deadlineTB is a fakeTB with a go test deadline.
type deadlineTB struct {
	fakeTB
	deadline time.Time
}

func (d *deadlineTB) Deadline() (time.Time, bool) { return d.deadline, true }

func TestResultDoesNotFailT(t *testing.T) {
	f := &fakeTB{}
	res := orbitaltest.Result(f, func(_ context.Context, o *orbital.O) { o.Error("my check caught it") })
	if res.Outcome != orbital.Fail || !strings.Contains(res.Error, "my check caught it") {
		t.Errorf("Result = %s %q, want the failure", res.Outcome, res.Error)
	}
	if f.failed || f.skipped {
		t.Error("Result failed or skipped t")
	}
	// The service's own log line reached t.Log.
	f.mu.Lock()
	logs := strings.Join(f.logs, "\n")
	f.mu.Unlock()
	if !strings.Contains(logs, "run finished") || !strings.Contains(logs, "outcome=fail") {
		t.Errorf("service logs not on t.Log:\n%s", logs)
	}
	if res := orbitaltest.Result(&fakeTB{}, func(_ context.Context, o *orbital.O) {
		o.Run("sub", func(_ context.Context, o *orbital.O) {})
	}); res.Outcome != orbital.Pass || len(res.Subtests) != 1 || res.Subtests[0].Parent != res.Case {
		t.Errorf("Result with a subtest = %+v", res)
	}
}

// A test waiting for a delivery that never comes fails with orbital's own message well
// before go test's deadline.
func TestRunTimesOutBeforeGoTestDeadline(t *testing.T) {
	f := &deadlineTB{deadline: time.Now().Add(3 * time.Second)}
	start := time.Now()
	orbitaltest.Run(f, func(ctx context.Context, o *orbital.O) {
		<-ctx.Done() // waiting for a lost delivery
		o.Fatalf("messageId x: %v", context.Cause(ctx))
	})
	if !f.failed {
		t.Fatal("the run did not fail")
	}
	if took := time.Since(start); took >= 3*time.Second {
		t.Errorf("the run ended after %s, not before the go test deadline", took)
	}
}
