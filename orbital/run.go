package orbital

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/segmentio/stats/v4"
)

// MaxAbandonedRuns bounds the test goroutines of one case that the service
// abandoned after their timeout and that have still not returned. While that
// many are alive, the case's scheduled ticks are skipped (counted in
// orbital_run_overlap_skipped_total and logged): a test that ignores its ctx
// forever holds at most this many goroutines, and the case stops being
// reported, which the "case has not run" alert catches.
const MaxAbandonedRuns = 3

// The causes of a run's context ending that are not an interruption: the
// case's own timeout, and the test being over. Any other cause (the
// service's, the caller's) interrupts the run, which then cannot conclude.
var (
	errTimedOut error = timeoutCause{}
	errRunEnded       = errors.New("orbital: the test returned")
)

// timeoutCause is the cause of a run's context ending at the case's timeout.
// It reads and matches as context.DeadlineExceeded (errors.Is, Timeout), so
// a test, or a client library that returns context.Cause (net/http does),
// sees its deadline exceeded exactly as with context.WithTimeout.
type timeoutCause struct{}

func (timeoutCause) Error() string        { return context.DeadlineExceeded.Error() }
func (timeoutCause) Is(target error) bool { return target == context.DeadlineExceeded }
func (timeoutCause) Timeout() bool        { return true }
func (timeoutCause) Temporary() bool      { return true }

// abandonGrace is how long a run may take past its deadline (or past the
// cancellation of its parent context) before it is reported as failed and
// its goroutine abandoned: a tenth of the timeout, at least 500ms (a test
// that notices its ctx still needs time for its cleanups on a loaded machine)
// and at most 2s.
func abandonGrace(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 500*time.Millisecond), 2*time.Second)
}

// traceID names a new run: WithTraceIDs, or a random UUID.
func (s *Service) traceID() string {
	if s.newTraceID != nil {
		return s.newTraceID()
	}
	return s.ids.next()
}

// newO prepares a run of cs named name. parent is nil for a top-level run,
// whose context gets the case timeout; a subtest shares its parent's
// deadline.
func (s *Service) newO(cs *caseState, name string, parent *O, parentCtx context.Context) *O {
	o := &O{
		svc:       s,
		cs:        cs,
		name:      name,
		traceID:   s.traceID(),
		parent:    parent,
		parentCtx: parentCtx,
	}
	var timed context.Context
	if parent == nil {
		o.root = o
		o.engine = cs.engine
		o.metrics = cs.metrics
		o.start = time.Now() // a scheduled run's start; execute sets it again
		timed, o.stopTimer = context.WithDeadlineCause(parentCtx, o.start.Add(cs.timeout), errTimedOut)
	} else {
		o.root = parent.root
		tags := make([]stats.Tag, 0, 1+len(cs.tc.Tags))
		tags = append(tags, stats.T("case", name))
		tags = append(tags, cs.tc.Tags...)
		o.engine = s.engine.WithTags(tags...)
		o.metrics = newRunMetrics(o.engine)
		timed = parentCtx // a subtest shares its parent's deadline
	}
	o.ctx, o.endCtx = context.WithCancelCause(timed)
	return o
}

// execute runs f on o to the end (or until it is abandoned), then reports
// the result: metrics, the run-end log line, go test style output for a
// top-level run, the reporters and, for RunOnce, the collected results.
func (s *Service) execute(o *O, f TestFunc) Result {
	o.start = time.Now()
	var inFlight int64 = 1
	if o.parent == nil {
		inFlight = o.cs.inFlight.Add(1)
	}
	o.metrics.started(o.start, inFlight)

	o.bodyDone = make(chan struct{}) // wait's signal (a scheduled run has none: runSet)
	go o.body(f)
	abandoned := o.wait()
	res := o.finish(abandoned)
	if abandoned && o.parent == nil {
		// Count the abandoned goroutine until it returns, if ever (see MaxAbandonedRuns).
		cs := o.cs
		cs.abandoned.Add(1)
		go func() {
			<-o.bodyDone
			cs.abandoned.Add(-1)
		}()
	}

	inFlight = 0
	if o.parent == nil {
		inFlight = o.cs.inFlight.Add(-1)
	}
	s.emit(o, res, inFlight)
	return res
}

// body runs the test function in the test goroutine, like testing's
// tRunner: it recovers a panic, cancels the run's context and runs the
// cleanups, whether f returned, panicked or called runtime.Goexit.
func (o *O) body(f TestFunc) {
	if o.bodyDone != nil {
		defer close(o.bodyDone)
	}
	defer func() {
		r := recover()
		if r != nil {
			o.panicked("panic", r, debug.Stack())
		} else {
			o.mu.Lock()
			finished := o.finished
			o.mu.Unlock()
			if !finished {
				o.failLine("test called runtime.Goexit without FailNow or SkipNow")
				o.mu.Lock()
				o.conclusive = true // a bug in the test, interrupted or not
				o.mu.Unlock()
			}
		}
		o.endCtx(errRunEnded) // before the cleanups, as testing does
		if o.stopTimer != nil {
			o.stopTimer()
		}
		o.runCleanups()
		o.removeTempDir()
	}()
	f(o.ctx, o)
	o.mu.Lock()
	o.finished = true
	o.mu.Unlock()
}

// panicked records a recovered panic with its stack as a failure.
func (o *O) panicked(what string, r any, stack []byte) {
	msg := fmt.Sprintf("%s: %v", what, r)
	o.mu.Lock()
	if o.reported {
		o.mu.Unlock()
		return
	}
	o.failed = true
	if o.errMsg == "" {
		o.errMsg = msg
	}
	o.out = o.appendRaw(o.out, msg+"\n\n"+string(stack))
	o.mu.Unlock()
	// Logged without o.mu: a slow log handler must not block the test's
	// other goroutines.
	o.runLogger().Error("test panicked", "panic", fmt.Sprint(r), "stack", string(stack))
}

// failLine records a failure message of the service's own.
func (o *O) failLine(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failLocked(msg) {
		o.out = o.appendRaw(o.out, msg)
	}
}

// runCleanups runs the registered cleanups last-in-first-out. A cleanup
// that panics or calls runtime.Goexit (FailNow) does not stop the others.
func (o *O) runCleanups() {
	for {
		o.mu.Lock()
		n := len(o.cleanups)
		if n == 0 {
			o.mu.Unlock()
			return
		}
		f := o.cleanups[n-1]
		o.cleanups = o.cleanups[:n-1]
		o.mu.Unlock()
		o.callCleanup(f)
	}
}

func (o *O) callCleanup(f func()) {
	normal := false
	defer func() {
		if normal {
			return
		}
		if r := recover(); r != nil {
			o.panicked("cleanup panicked", r, debug.Stack())
		}
		// A panic (now recovered) or runtime.Goexit: run the remaining
		// cleanups before the goroutine unwinds further.
		o.runCleanups()
	}()
	f()
	normal = true
}

// wait blocks until the test goroutine is done, or reports that it must be
// abandoned: it is still going a grace period after the run's deadline or
// after the parent context was cancelled.
func (o *O) wait() (abandoned bool) {
	grace := abandonGrace(o.root.cs.timeout)
	deadline, _ := o.ctx.Deadline()
	t := time.NewTimer(time.Until(deadline) + grace)
	defer t.Stop()
	parentDone := o.parentCtx.Done()
	for {
		select {
		case <-o.bodyDone:
			return false
		case <-t.C:
			return true
		case <-parentDone:
			parentDone = nil
			if time.Until(deadline) > 0 {
				t.Reset(grace)
			}
		}
	}
}

// finish takes the run's result. From here on calls on o are ignored.
//
// The outcome: fail when the case's timeout expired (unless the test then
// declared the run inconclusive) or a failure was recorded before any
// interruption; else inconclusive when the run's context was interrupted
// (see interrupted) or the test declared it; else skip or pass.
func (o *O) finish(abandoned bool) Result {
	now := time.Now()
	cause := o.cause() // fixed once set: body's cancel, the timeout or the parent
	timedOut := errors.Is(cause, errTimedOut)
	interrupted := o.interrupted()

	o.mu.Lock()
	defer o.mu.Unlock()
	fail := func(msg string) {
		o.failed, o.conclusive = true, true
		o.out = o.appendRaw(o.out, msg)
		if o.errMsg == "" {
			o.errMsg = msg
		}
	}
	switch {
	case abandoned && timedOut:
		fail(fmt.Sprintf("test timed out after %s and did not return; abandoned", o.root.cs.timeout))
	case timedOut && o.inconclusive && !o.conclusive:
		// The test itself said why it ran out of time (its relay was down...).
		o.out = o.appendRaw(o.out, fmt.Sprintf("test timed out after %s; it declared the run inconclusive", o.root.cs.timeout))
		timedOut = false
	case timedOut:
		fail(fmt.Sprintf("test timed out after %s", o.root.cs.timeout))
	case interrupted:
		msg := fmt.Sprintf("run interrupted (%v) before it reached a verdict", cause)
		if abandoned {
			msg = fmt.Sprintf("run interrupted (%v) and did not return; abandoned", cause)
		}
		o.out = o.appendRaw(o.out, msg)
		if !o.conclusive {
			if o.failed && o.errMsg != "" {
				msg += "; not counted, as it came after the interruption: " + leadWithMessage(o.errMsg)
			}
			o.inconMsg = msg // the interruption explains it all
		}
	case abandoned: // a subtest started after its parent's body ended
		fail(fmt.Sprintf("run cancelled (%v) and did not return; abandoned", cause))
	}
	o.reported = true

	outcome := Pass
	switch {
	case o.conclusive:
		outcome = Fail
	case interrupted || o.inconclusive:
		outcome = Inconclusive
	case o.failed: // not reached: a failure is conclusive unless interrupted
		outcome = Fail
	case o.skipped:
		outcome = Skip
	}
	dur := now.Sub(o.start)
	res := Result{
		Case:     o.name,
		Parent:   o.parentName(),
		TraceID:  o.traceID,
		Start:    o.start,
		Duration: dur,
		Outcome:  outcome,
		TimedOut: timedOut,
		Output:   runOutput(outcome, o.name, dur, o.out),
	}
	switch outcome {
	case Fail:
		res.Error = leadWithMessage(o.errMsg)
	case Inconclusive:
		res.Error = o.inconMsg
	}
	if len(o.measures) > 0 {
		res.Measures = make(map[string]time.Duration, len(o.measures))
		for k, v := range o.measures {
			res.Measures[k] = v
		}
	}
	return res
}

// runOutput is a run's go test style output: "--- PASS: name (0.01s)" and the body, in one
// allocation.
func runOutput(outcome Outcome, name string, dur time.Duration, body []byte) string {
	verb := "PASS"
	switch outcome {
	case Fail:
		verb = "FAIL"
	case Skip:
		verb = "SKIP"
	case Inconclusive:
		verb = "INCONCLUSIVE"
	}
	out := make([]byte, 0, len("--- : ()s\n")+len(verb)+len(name)+8+len(body))
	out = append(append(append(append(out, "--- "...), verb...), ": "...), name...)
	out = append(strconv.AppendFloat(append(out, " ("...), dur.Seconds(), 'f', 2, 64), "s)\n"...)
	return string(append(out, body...))
}

// parentName is the name of o's parent, "" for a top-level run.
func (o *O) parentName() string {
	if o.parent == nil {
		return ""
	}
	return o.parent.name
}

// emit turns a finished run into metrics, a log line, output and reports.
func (s *Service) emit(o *O, res Result, inFlight int64) {
	o.metrics.ended(res.Start.Add(res.Duration), res, inFlight, o.parent == nil && o.cs.tc.Period > 0, o.cs.tc.Period, o.cs.timeout)

	level := s.passLevel
	switch res.Outcome {
	case Fail:
		level = slog.LevelError
	case Inconclusive:
		level = slog.LevelWarn
	}
	if s.logger.Enabled(context.Background(), level) {
		// The attributes runLogger carries, then the run's: the line a logger made by
		// Logger.With would write, without making one per run.
		attrs := []slog.Attr{
			slog.String("case", o.name),
			slog.String("trace_id", o.traceID),
			slog.String("outcome", string(res.Outcome)),
			slog.Duration("duration", res.Duration),
		}
		if res.TimedOut {
			attrs = append(attrs, slog.Bool("timed_out", true))
		}
		if res.Error != "" {
			attrs = append(attrs, slog.String("error", res.Error))
		}
		s.logger.LogAttrs(context.Background(), level, "run finished", attrs...)
	}

	if o.parent == nil {
		s.outMu.Lock()
		_, _ = io.WriteString(s.out, res.Output)
		s.outMu.Unlock()
	} else if x := o.root.x.Load(); x != nil && x.collect {
		o.root.mu.Lock()
		x.collected = append(x.collected, res)
		o.root.mu.Unlock()
	}
	if rs := s.reporters.Load(); rs != nil {
		for _, r := range *rs {
			s.report(o, r, res)
		}
	}
}

// report hands res to r; a panicking reporter is logged, not fatal.
func (s *Service) report(o *O, r Reporter, res Result) {
	defer func() {
		if p := recover(); p != nil {
			o.runLogger().Error("reporter panicked", "reporter", fmt.Sprintf("%T", r), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	r.Report(res)
}
