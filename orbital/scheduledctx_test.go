package orbital_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

type ctxKey struct{}

// TestScheduledRunContext checks the context of a scheduled run as a test and the libraries
// it calls use it: it carries Run's values and the case's deadline, ends with
// context.DeadlineExceeded at the timeout (Err, Cause, and contexts derived from it with
// WithCancel, WithTimeout and AfterFunc all see it), and is cancelled once the test returns.
func TestScheduledRunContext(t *testing.T) {
	const timeout = 150 * time.Millisecond
	f := newFixture(t, orbital.WithStartSpread(time.Millisecond))
	got := make(chan seenContext, 1)
	f.register(t, orbital.TestCase{Name: "waits", Period: time.Hour, Timeout: timeout,
		Func: func(ctx context.Context, o *orbital.O) { got <- waitAndLook(ctx) }})
	ended := make(chan context.Context, 1)
	f.register(t, orbital.TestCase{Name: "returns", Period: time.Hour,
		Func: func(ctx context.Context, o *orbital.O) {
			if ctx.Err() != nil {
				o.Errorf("context ended before the test returned: %v", ctx.Err())
			}
			ended <- ctx
		}})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "from Run"))
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	if res := f.next(t, "returns"); res.Outcome != orbital.Pass {
		t.Fatalf("returns: outcome %q: %s", res.Outcome, res.Output)
	}
	if err := (<-ended).Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after the test returned its context's Err is %v, want context.Canceled", err)
	}
	res := f.next(t, "waits")
	if res.Outcome != orbital.Fail || !res.TimedOut {
		t.Errorf("waits: outcome %q timed out %v, want a failure for the timeout", res.Outcome, res.TimedOut)
	}
	s := <-got
	if s.value != "from Run" {
		t.Errorf("ctx.Value = %v, want Run's context's value", s.value)
	}
	if !s.hasDeadline || s.deadline <= 0 || s.deadline > timeout {
		t.Errorf("Deadline: %v after the start (set %v), want at most the timeout %v", s.deadline, s.hasDeadline, timeout)
	}
	for name, err := range map[string]error{"Err": s.err, "WithCancel child Err": s.child, "WithTimeout child Err": s.timed} {
		if err != context.DeadlineExceeded {
			t.Errorf("%s = %v, want context.DeadlineExceeded", name, err)
		}
	}
	if !errors.Is(s.cause, context.DeadlineExceeded) || !errors.Is(s.childCause, context.DeadlineExceeded) {
		t.Errorf("Cause = %v, child's %v: want context.DeadlineExceeded", s.cause, s.childCause)
	}
	if !s.afterFunc {
		t.Error("context.AfterFunc was not called when the context ended")
	}
}

// seenContext is what a test saw of its context once it ended.
type seenContext struct {
	value                    any
	deadline                 time.Duration // after the test started
	hasDeadline              bool
	err, cause, child, timed error
	childCause               error
	afterFunc                bool
}

// waitAndLook derives contexts from ctx as libraries do, waits for ctx to end and says what
// ctx and the derived contexts said then.
func waitAndLook(ctx context.Context) seenContext {
	started := time.Now()
	var s seenContext
	s.value = ctx.Value(ctxKey{})
	dl, ok := ctx.Deadline()
	s.deadline, s.hasDeadline = dl.Sub(started), ok
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	timed, cancelTimed := context.WithTimeout(ctx, time.Hour)
	defer cancelTimed()
	called := make(chan struct{})
	context.AfterFunc(ctx, func() { close(called) })
	<-child.Done()
	<-timed.Done()
	select {
	case <-called:
		s.afterFunc = true
	case <-time.After(waitFor):
	}
	s.err, s.cause, s.child, s.timed = ctx.Err(), context.Cause(ctx), child.Err(), timed.Err()
	s.childCause = context.Cause(child)
	return s
}
