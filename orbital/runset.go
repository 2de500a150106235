package orbital

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// runSet is the scheduled runs of one Service.Run: their parent context, the WaitGroup of the
// drain and how to cut them short.
//
// A scheduled run costs one goroutine, the test's own (a worker reused from an earlier run
// when one is idle): nobody waits for it. Whichever comes
// first concludes the run (result, metrics, log line, output, reporters) exactly once: the
// test goroutine when it is done, or the run's abandonment timer (a grace period after the
// deadline, or after the run was cut short) when it is not. The runs' contexts derive from
// Run's context without its cancellation (a shared cancellable parent would register every run
// in one map under one lock); cut cancels each case's run in flight instead.
type runSet struct {
	svc    *Service
	parent context.Context // Run's context without its cancellation: values only
	wg     sync.WaitGroup  // runs not yet concluded
	cause  atomic.Pointer[error]
	// jobs hands runs to idle workers (goroutines that ran a scheduled run and wait for the
	// next, up to maxIdleWorkers of them); closed when Run is done, which ends them.
	jobs chan job
	idle atomic.Int32
}

// job is a scheduled run for a worker.
type job struct {
	o *O
	f TestFunc
}

// maxIdleWorkers bounds the goroutines kept waiting for the next scheduled run. Reusing them
// spares a goroutine start and its stack growth per run.
const maxIdleWorkers = 64

// newRunSet returns the run set of a Run on s whose context is ctx.
func newRunSet(s *Service, ctx context.Context) *runSet {
	return &runSet{svc: s, parent: context.WithoutCancel(ctx), jobs: make(chan job)}
}

// close ends the idle workers; call it once no run will start any more.
func (set *runSet) close() { close(set.jobs) }

// work runs j, then the runs handed to it while it is idle. A test that ends its goroutine
// with runtime.Goexit ends the worker too (its run is concluded all the same).
func (set *runSet) work(j job) {
	for {
		j.o.runScheduled(j.f)
		if set.idle.Add(1) > maxIdleWorkers {
			set.idle.Add(-1)
			return
		}
		var ok bool
		j, ok = <-set.jobs
		if !ok {
			return
		}
	}
}

// runScheduled is the test goroutine of a scheduled run: the test, then the run's conclusion.
func (o *O) runScheduled(f TestFunc) {
	defer o.conclude(false) // also when f ends the goroutine with runtime.Goexit
	o.body(f)
}

// start runs o, a top-level run of a case whose busy flag the caller set, in a goroutine of
// its own; the busy flag is cleared when the run is concluded.
func (set *runSet) start(o *O, f TestFunc) {
	cs := o.cs
	set.wg.Add(1)
	o.set = set
	cs.lastStart.Store(o.start.UnixNano()) // newO's start, also the deadline's origin
	o.metrics.started(o.start, cs.inFlight.Add(1))
	o.abandonAt = time.AfterFunc(cs.timeout+abandonGrace(cs.timeout), func() { o.conclude(true) })
	cs.current.Store(o)
	if cause := set.cause.Load(); cause != nil { // cut while it started
		o.cutShort(*cause)
	}
	select {
	case set.jobs <- job{o, f}: // an idle worker takes it
		set.idle.Add(-1)
	default:
		go set.work(job{o, f})
	}
}

// newScheduledO prepares a scheduled run of cs. Its context is one context.WithDeadlineCause
// (errTimedOut at the deadline), where a run of RunNow or RunOnce has a second context to end
// with a cause: that second context's registration with the first costs more than the rest of
// the run's contexts together. Why a scheduled run's context ended (the test was over, the
// drain grace expired, Abort) is kept beside it instead (see cause); context.Cause of the
// run's context then reads context.Canceled, and errTimedOut at the deadline as for any run.
func (s *Service) newScheduledO(cs *caseState, parentCtx context.Context) *O {
	o := &O{svc: s, cs: cs, name: cs.tc.Name, traceID: s.traceID(), parentCtx: parentCtx,
		engine: cs.engine, metrics: cs.metrics, start: time.Now()}
	o.root = o
	o.ctx, o.stopTimer = context.WithDeadlineCause(parentCtx, o.start.Add(cs.timeout), errTimedOut)
	o.endCtx = o.endScheduled
	return o
}

// endScheduled ends a scheduled run's context, remembering cause unless it already ended.
func (o *O) endScheduled(cause error) {
	o.endCause.CompareAndSwap(nil, &cause)
	o.stopTimer()
}

// cause is why o's context ended (nil while it has not): its context's cause or, for a
// scheduled run and its subtests, whose contexts end without one, the cause endScheduled kept.
func (o *O) cause() error {
	c := context.Cause(o.ctx)
	if c == context.Canceled && o.root.set != nil {
		if p := o.root.endCause.Load(); p != nil {
			return *p
		}
	}
	return c
}

// cut cancels every scheduled run in flight with cause (the first cause given wins), as the
// cancellation of a parent context would, and runs started later are cut at their start.
func (set *runSet) cut(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	if !set.cause.CompareAndSwap(nil, &cause) {
		return
	}
	s := set.svc
	s.mu.Lock()
	var live []*O
	for _, cs := range s.cases {
		if o := cs.current.Load(); o != nil && o.set == set {
			live = append(live, o)
		}
	}
	s.mu.Unlock()
	for _, o := range live {
		o.cutShort(cause)
	}
}

// cutShort cancels the scheduled run o with cause and, when its deadline is still ahead,
// gives it the abandonment grace from now, as wait does when the parent context is done.
func (o *O) cutShort(cause error) {
	o.endCtx(cause)
	if deadline, _ := o.ctx.Deadline(); time.Until(deadline) > 0 {
		o.abandonAt.Reset(abandonGrace(o.cs.timeout))
	}
}

// conclude ends the scheduled run o: from its test goroutine (abandoned false) once the test
// is done, or from its abandonment timer (abandoned true). The first call reports the run;
// a test goroutine returning after its run was abandoned stops being counted as abandoned.
func (o *O) conclude(abandoned bool) {
	if !o.concluded.CompareAndSwap(false, true) {
		if !abandoned {
			o.cs.abandoned.Add(-1) // the abandoned test goroutine returned at last
		}
		return
	}
	cs := o.cs
	o.abandonAt.Stop()
	cs.current.CompareAndSwap(o, nil)
	res := o.finish(abandoned)
	if abandoned {
		cs.abandoned.Add(1) // until its goroutine returns, if ever (see MaxAbandonedRuns)
	}
	o.svc.emit(o, res, cs.inFlight.Add(-1))
	cs.busy.Store(false)
	o.set.wg.Done()
}
