package orbital

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/stats/v4"
)

// O is the handle a [TestFunc] gets, the testing.T of an end-to-end test.
//
// O is safe for concurrent use by the goroutines the test starts (Log,
// Error, Fail, Measure...). As with testing.T, FailNow, Fatal, Fatalf,
// SkipNow, Skip, Skipf, Inconclusive and Inconclusivef end the calling
// goroutine with runtime.Goexit, so call them from the test's own goroutine. Calls made after the run was
// reported (for example from a goroutine the test left behind) are ignored
// and never panic.
type O struct {
	svc       *Service
	cs        *caseState
	name      string
	traceID   string
	parent    *O
	root      *O // the top-level run; itself for a top-level run
	ctx       context.Context
	endCtx    context.CancelCauseFunc // ends ctx (with errRunEnded when the test is over)
	stopTimer context.CancelFunc      // stops the timeout's timer; nil for a subtest
	parentCtx context.Context
	engine    *stats.Engine
	metrics   *runMetrics // the run's own metrics, on engine
	start     time.Time

	bodyDone chan struct{} // closed when the test goroutine has exited; nil for a scheduled run

	// A scheduled run (runSet): its set, its context (ctx, once armed), when it is abandoned
	// (monotonic nanoseconds; 0 until its deadline passed or it was cut), and whether it was
	// concluded.
	set       *runSet
	rc        runCtx
	armed     atomic.Bool
	abandonAt atomic.Int64
	concluded atomic.Bool
	endCause  atomic.Pointer[error] // why its context was ended (see cause)

	mu     sync.Mutex
	failed bool
	// conclusive: a failure was recorded before the run was interrupted (or
	// is one whatever the interruption: a panic, a failed subtest).
	conclusive   bool
	skipped      bool
	inconclusive bool   // Inconclusive was called or a subtest was inconclusive
	inconMsg     string // why, for Result.Error
	finished     bool   // FailNow/SkipNow or a normal return ended the body
	reported     bool   // the result was taken; later calls are ignored
	errMsg       string
	out          []byte // indented body lines
	cleanups     []func()
	measures     map[string]time.Duration
	tempGone     bool // TempDir's directory was removed
	// x holds what few runs use (subtests, Helper, TempDir, slog): made on first use, so the O
	// of a run that uses none of it is smaller (see extra).
	x atomic.Pointer[oExtra]
}

// oExtra is the part of an O that few runs use. Its fields are guarded by the O's mu, but
// creator (set before the subtest starts) and logger (logOnce).
type oExtra struct {
	creator   []uintptr // subtest: the stack of the parent's Run call, for Helper
	logger    *slog.Logger
	logOnce   sync.Once
	helpers   map[string]struct{}
	collected []Result       // root only: results of subtests, for RunOnce
	collect   bool           // root only: collect subtest results
	subNames  map[string]int // subtest names used so far, for the #01 suffixes
	tempRoot  string         // TempDir's directory, removed after the cleanups
	tempSeq   int
	tempErr   error
}

// extra returns o's oExtra, making it on first use.
func (o *O) extra() *oExtra {
	if x := o.x.Load(); x != nil {
		return x
	}
	o.x.CompareAndSwap(nil, new(oExtra))
	return o.x.Load()
}

// Name returns the case name, "name/sub" for a subtest.
func (o *O) Name() string { return o.name }

// TraceID returns the run's trace id, a UUID that also tags every log line
// of the run. Tests use it as the messageId of the event they send.
func (o *O) TraceID() string { return o.traceID }

// Log formats its arguments as fmt.Sprintln does and records them in the
// run's output, with the caller's file:line.
func (o *O) Log(args ...any) { o.log(fmt.Sprintln(args...), false) }

// Logf formats its arguments as fmt.Sprintf does and records them in the
// run's output, with the caller's file:line.
func (o *O) Logf(format string, args ...any) { o.log(fmt.Sprintf(format, args...), false) }

// Error is Log followed by Fail.
func (o *O) Error(args ...any) {
	o.log(fmt.Sprintln(args...), true)
	o.Fail()
}

// Errorf is Logf followed by Fail.
func (o *O) Errorf(format string, args ...any) {
	o.log(fmt.Sprintf(format, args...), true)
	o.Fail()
}

// Fatal is Log followed by FailNow.
func (o *O) Fatal(args ...any) {
	o.log(fmt.Sprintln(args...), true)
	o.FailNow()
}

// Fatalf is Logf followed by FailNow.
func (o *O) Fatalf(format string, args ...any) {
	o.log(fmt.Sprintf(format, args...), true)
	o.FailNow()
}

// Fail marks the run as failed and lets it continue.
func (o *O) Fail() { o.failWith("failed") }

// failWith marks the run failed, remembering msg as its error when it is the
// first failure.
func (o *O) failWith(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failLocked(msg)
}

// failLocked is failWith with o.mu held; it reports false when the run was
// already reported (calls on a finished O are ignored).
func (o *O) failLocked(msg string) bool {
	if o.reported {
		return false
	}
	o.failed = true
	if !o.interrupted() {
		o.conclusive = true
	}
	if o.errMsg == "" {
		o.errMsg = msg
	}
	return true
}

// interrupted reports whether the run's context ended before the test did,
// for another reason than the case's own timeout: the service shutting down,
// the caller of RunNow or RunOnce cancelling. The cause of a context never
// changes once it is done, so the answer never flips back.
func (o *O) interrupted() bool {
	c := o.cause()
	return c != nil && c != errRunEnded && !errors.Is(c, errTimedOut)
}

// Failed reports whether the run has failed (a failed subtest fails its
// parent). A failure recorded after the run's context was interrupted
// counts here, but the run then ends Inconclusive, not Fail.
func (o *O) Failed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed
}

// FailNow marks the run as failed and stops it by calling runtime.Goexit;
// cleanups still run. Call it from the test's goroutine.
func (o *O) FailNow() {
	o.Fail()
	o.mu.Lock()
	o.finished = true
	o.mu.Unlock()
	runtime.Goexit()
}

// Skip is Log followed by SkipNow.
func (o *O) Skip(args ...any) {
	o.log(fmt.Sprintln(args...), false)
	o.SkipNow()
}

// Skipf is Logf followed by SkipNow.
func (o *O) Skipf(format string, args ...any) {
	o.log(fmt.Sprintf(format, args...), false)
	o.SkipNow()
}

// SkipNow marks the run as skipped and stops it by calling runtime.Goexit;
// cleanups still run. A run that failed before it skipped stays failed.
func (o *O) SkipNow() {
	o.mu.Lock()
	if !o.reported {
		o.skipped = true
	}
	o.finished = true
	o.mu.Unlock()
	runtime.Goexit()
}

// Inconclusive is Log followed by ending the run as [Inconclusive], the way
// SkipNow ends it: the test could not reach a verdict through no fault of the
// system under test (the prober's own browser crashed, its cluster relay is
// unreachable). The message is the run's Result.Error. A run that failed
// before stays failed.
func (o *O) Inconclusive(args ...any) {
	msg := fmt.Sprintln(args...)
	o.log(msg, false)
	o.inconclusiveNow(msg)
}

// Inconclusivef is Logf followed by ending the run as [Inconclusive]; see
// [O.Inconclusive].
func (o *O) Inconclusivef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	o.log(msg, false)
	o.inconclusiveNow(msg)
}

// inconclusiveNow marks the run inconclusive for msg and stops it by calling
// runtime.Goexit; cleanups still run.
func (o *O) inconclusiveNow(msg string) {
	o.mu.Lock()
	o.markInconclusiveLocked(strings.TrimSuffix(msg, "\n"))
	o.finished = true
	o.mu.Unlock()
	runtime.Goexit()
}

// markInconclusiveLocked records that the run cannot reach a verdict, and
// why (the first reason is kept). Call with o.mu held.
func (o *O) markInconclusiveLocked(why string) {
	if o.reported {
		return
	}
	o.inconclusive = true
	if o.inconMsg == "" {
		o.inconMsg = why
	}
}

// Skipped reports whether the run was skipped.
func (o *O) Skipped() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.skipped
}

// Helper marks the calling function as a helper: log lines then name the
// file:line of its caller instead. As with testing.T, when the test function
// itself is marked, lines name the test function's own line for a top-level
// run and the parent's Run line for a subtest.
func (o *O) Helper() {
	var pc [1]uintptr
	if runtime.Callers(2, pc[:]) == 0 {
		return
	}
	frame, _ := runtime.CallersFrames(pc[:]).Next()
	name := frame.Function
	o.mu.Lock()
	defer o.mu.Unlock()
	x := o.extra()
	if x.helpers == nil {
		x.helpers = make(map[string]struct{})
	}
	x.helpers[name] = struct{}{}
}

// Cleanup registers f to run when the test and its subtests are done.
// Cleanups run last-in-first-out, after the run's context is cancelled, even
// when the test failed, skipped or panicked; a panicking cleanup fails the run
// and the remaining cleanups still run.
func (o *O) Cleanup(f func()) {
	if f == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reported {
		return
	}
	o.cleanups = append(o.cleanups, f)
}

// Stats returns the service's stats engine tagged with case=<name> and the
// case's Tags, for metrics of the test's own.
func (o *O) Stats() *stats.Engine { return o.engine }

// Measure records a named duration of this run: it is observed on the run's
// engine as the histogram name+"_seconds" (so "delivery.latency" becomes
// orbital_delivery_latency_seconds{case=...} on an engine with prefix
// orbital) and kept in the run's Result.Measures (last value per name).
func (o *O) Measure(name string, d time.Duration) {
	o.mu.Lock()
	if o.reported {
		o.mu.Unlock()
		return
	}
	if o.measures == nil {
		o.measures = make(map[string]time.Duration)
	}
	o.measures[name] = d
	o.mu.Unlock()
	o.engine.Observe(name+"_seconds", d)
}

// Run runs f as a subtest named name in its own goroutine and blocks until it
// is done. The subtest has its own Result, trace id and metrics (case
// "parent/name", where characters not allowed in case names become '_';
// as in go test, a name already used by a sibling gets a "#01", "#02"...
// suffix), shares the parent's deadline, and fails its parent when it
// fails; an inconclusive subtest makes its parent inconclusive unless the
// parent fails. Run reports whether the subtest did not fail.
func (o *O) Run(name string, f TestFunc) bool {
	if f == nil {
		o.Errorf("orbital: subtest %q has a nil TestFunc", name)
		return false
	}
	var pcs [50]uintptr
	n := runtime.Callers(2, pcs[:]) // from Run's caller on, for Helper
	o.mu.Lock()
	if o.reported {
		o.mu.Unlock()
		return false
	}
	sub := o.uniqueSubLocked(subtestName(name))
	o.mu.Unlock()
	child := o.svc.newO(o.cs, o.name+"/"+sub, o, o.ctx)
	child.extra().creator = pcs[:n]
	res := o.svc.execute(child, f)
	o.mu.Lock()
	switch res.Outcome {
	case Fail:
		msg := "subtest " + res.Case + " failed"
		if res.Error != "" {
			msg += ": " + res.Error
		}
		if o.failLocked(msg) {
			o.conclusive = true // the subtest's own verdict, whenever it came
		}
	case Inconclusive:
		msg := "subtest " + res.Case + " inconclusive"
		if res.Error != "" {
			msg += ": " + res.Error
		}
		o.markInconclusiveLocked(msg)
	}
	if !o.reported {
		o.out = appendIndented(o.out, res.Output)
	}
	o.mu.Unlock()
	return res.Outcome != Fail
}

// uniqueSubLocked returns sub, or sub#01, sub#02... when a sibling already
// took that name, as go test's matcher does. Call with o.mu held.
func (o *O) uniqueSubLocked(sub string) string {
	x := o.extra()
	if x.subNames == nil {
		x.subNames = make(map[string]int)
	}
	for {
		next, used := x.subNames[sub]
		if !used {
			x.subNames[sub] = 1
			return sub
		}
		x.subNames[sub] = next + 1
		sub = fmt.Sprintf("%s#%02d", sub, next)
	}
}

// TempDir returns a new temporary directory for the test to use, as
// testing.T's does: every call returns a fresh directory, and all of them
// are removed after the run's cleanups (a test's subtests have their own).
// When the directory cannot be made, the run fails with FailNow. Call it
// while the run is going; called after the run ended it ends the calling
// goroutine like FailNow on a finished O.
func (o *O) TempDir() string {
	o.Helper()
	o.mu.Lock()
	if o.tempGone || o.reported {
		o.mu.Unlock()
		o.Fatalf("TempDir called after the run ended")
		return ""
	}
	x := o.extra()
	if x.tempRoot == "" && x.tempErr == nil {
		x.tempRoot, x.tempErr = os.MkdirTemp("", tempPattern(o.name))
	}
	root, err := x.tempRoot, x.tempErr
	x.tempSeq++
	seq := x.tempSeq
	o.mu.Unlock()
	if err != nil {
		o.Fatalf("TempDir: %v", err)
	}
	dir := filepath.Join(root, fmt.Sprintf("%03d", seq))
	if err := os.Mkdir(dir, 0o777); err != nil {
		o.Fatalf("TempDir: %v", err)
	}
	return dir
}

// tempPattern is os.MkdirTemp's pattern for the directories of a run of name.
func tempPattern(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !nameByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return "orbital-" + string(b) + "-"
}

// removeTempDir removes TempDir's directory once the cleanups ran. Processes
// the test started (a browser's helpers) may still write there for a moment
// after they were stopped, so it retries for up to two seconds.
func (o *O) removeTempDir() {
	o.mu.Lock()
	var root string
	if x := o.x.Load(); x != nil {
		root = x.tempRoot
	}
	o.tempGone = true
	o.mu.Unlock()
	if root == "" {
		return
	}
	var err error
	wait := 5 * time.Millisecond
	for give := time.Now().Add(2 * time.Second); ; {
		if err = os.RemoveAll(root); err == nil {
			return
		}
		if time.Now().After(give) {
			break
		}
		time.Sleep(wait) // not synchronisation: a bounded retry of a filesystem race
		wait = min(2*wait, 200*time.Millisecond)
	}
	o.failLine("TempDir RemoveAll cleanup: " + err.Error())
	o.runLogger().Warn("could not remove the run's temporary directory", "dir", root, "err", err)
}

// log records msg in the run's output and on the run's logger. Its caller
// is one of the exported logging methods, called by the test.
func (o *O) log(msg string, isErr bool) {
	msg = strings.TrimSuffix(msg, "\n")
	o.mu.Lock()
	if o.reported {
		o.mu.Unlock()
		if o.svc.logger.Enabled(o.ctx, slog.LevelDebug) {
			o.runLogger().Debug("log call after the run was reported; dropped", "msg", msg)
		}
		return
	}
	o.mu.Unlock()
	src := o.caller()
	o.mu.Lock()
	o.out = o.appendLine(o.out, src, msg)
	if isErr && o.errMsg == "" {
		o.errMsg = msg
	}
	o.mu.Unlock()
	level := slog.LevelDebug
	if isErr {
		level = slog.LevelWarn
	}
	if o.svc.logger.Enabled(o.ctx, level) {
		o.runLogger().Log(o.ctx, level, msg, "source", src)
	}
}

// runLogger returns the run's logger: the service's, carrying case and trace_id. It is made
// on first use: most runs log only their run-end line, which emit writes without it.
func (o *O) runLogger() *slog.Logger {
	x := o.extra()
	x.logOnce.Do(func() {
		x.logger = o.svc.logger.With(slog.String("case", o.name), slog.String("trace_id", o.traceID))
	})
	return x.logger
}

// caller returns "file.go:line" of the first frame outside this package's
// logging methods and the helpers marked with Helper.
//
// As in testing's frameSkip, reaching the frame that called the test
// function (the test function was marked with Helper) stops at the test
// function's frame for a top-level run, and continues from the parent's Run
// call for a subtest.
func (o *O) caller() string {
	var pcs [50]uintptr
	// Skip runtime.Callers, caller, log and the exported method.
	n := runtime.Callers(4, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var first, prev runtime.Frame
	cur := o
	for i := 0; ; i++ {
		f, more := frames.Next()
		if f.PC == 0 && !more {
			break
		}
		if i == 0 {
			first = f
		}
		if f.Function == bodyFunc {
			if x := cur.x.Load(); cur.parent != nil && x != nil && len(x.creator) > 0 {
				frames = runtime.CallersFrames(x.creator)
				cur = cur.parent
				continue
			}
			if prev.PC != 0 {
				return frameLine(prev)
			}
			break
		}
		if !cur.isHelper(f.Function) {
			return frameLine(f)
		}
		prev = f
		if !more {
			break
		}
	}
	return frameLine(first)
}

// bodyFunc is the name of the function that calls every test function.
var bodyFunc = runtime.FuncForPC(reflect.ValueOf((*O).body).Pointer()).Name()

func frameLine(f runtime.Frame) string {
	return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
}

// isHelper reports whether fn was marked with Helper on o or an ancestor.
func (o *O) isHelper(fn string) bool {
	for p := o; p != nil; p = p.parent {
		p.mu.Lock()
		var ok bool
		if x := p.x.Load(); x != nil {
			_, ok = x.helpers[fn]
		}
		p.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// appendLine appends one tagged, indented log line (continuation lines of a
// multi-line message are indented further).
func (o *O) appendLine(b []byte, src, msg string) []byte {
	b = append(b, "    ["...)
	b = append(b, o.traceID...)
	b = append(b, "] "...)
	b = append(b, src...)
	b = append(b, ": "...)
	return appendMessage(b, msg)
}

// appendRaw appends a message of the service's own (timeout, panic), tagged
// like a log line but without a source.
func (o *O) appendRaw(b []byte, msg string) []byte {
	b = append(b, "    ["...)
	b = append(b, o.traceID...)
	b = append(b, "] "...)
	return appendMessage(b, strings.TrimSuffix(msg, "\n"))
}

// appendMessage appends msg and a newline, indenting the continuation lines
// of a multi-line message as go test does.
func appendMessage(b []byte, msg string) []byte {
	for i, line := range strings.Split(msg, "\n") {
		if i > 0 {
			b = append(b, '\n')
			if line != "" {
				b = append(b, "        "...)
			}
		}
		b = append(b, line...)
	}
	return append(b, '\n')
}

// appendIndented appends block with every line indented by four spaces.
func appendIndented(b []byte, block string) []byte {
	for _, line := range strings.SplitAfter(block, "\n") {
		if line == "" {
			continue
		}
		b = append(b, "    "...)
		b = append(b, line...)
	}
	return b
}
