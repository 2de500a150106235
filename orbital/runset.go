package orbital

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runSet is the scheduled runs of one Service.Run: their parent context, the WaitGroup of the
// drain and how to cut them short.
//
// A scheduled run costs no goroutine of its own: the runs due on one wake of the scheduler
// form a batch, handed to one worker goroutine (an idle one from earlier runs, or a new one)
// that runs them one after the other. Waking one goroutine per wake instead of one per run
// spares most of the runtime's cost of a run (readying a goroutine, waking a thread to steal
// it). A test may block for seconds, so a batch that its worker has not got through after
// handoffAfter is spread: each run it has not started yet gets a worker of its own (see
// spread); a run starts at most about handoffAfter later than it would have alone.
//
// Whichever comes first concludes the run (result, metrics, log line, output, reporters)
// exactly once: the test goroutine when it is done, or the run's abandonment timer (a grace
// period after the deadline, or after the run was cut short) when it is not. The runs'
// contexts derive from Run's context without its cancellation (a shared cancellable parent
// would register every run in one map under one lock); cut cancels each case's run in flight
// instead.
type runSet struct {
	svc    *Service
	parent context.Context // Run's context without its cancellation: values only
	wg     sync.WaitGroup  // runs not yet concluded
	cause  atomic.Pointer[error]
	// jobs hands batches to idle workers (goroutines that ran a batch and wait for the next,
	// up to maxIdleWorkers of them); closed when Run is done, which ends them.
	jobs chan *batch
	idle atomic.Int32

	// The scheduler goroutine's own: the batch it is filling, and the batches handed out whose
	// runs may not all have started, with when they were handed out.
	filling []job
	pending []pendingBatch
}

// job is a scheduled run for a worker.
type job struct {
	o *O
	f TestFunc
}

// batch is runs handed to a worker at once; the worker and spread claim them in order, each
// exactly once.
type batch struct {
	jobs []job
	next atomic.Int32 // jobs[next] is the next unclaimed one
}

// claim takes the next run of b that nobody has taken yet.
func (b *batch) claim() (job, bool) {
	i := int(b.next.Add(1)) - 1
	if i >= len(b.jobs) {
		return job{}, false
	}
	j := b.jobs[i]
	b.jobs[i] = job{} // the worker does not keep a finished run alive
	return j, true
}

// started reports whether every run of b has been claimed.
func (b *batch) started() bool { return int(b.next.Load()) >= len(b.jobs) }

type pendingBatch struct {
	b     *batch
	at    time.Time     // when spread gives its runs not started yet a goroutine each
	slack time.Duration // the smallest slack of its cases: at is that long after the hand-out
}

// maxIdleWorkers bounds the goroutines kept waiting for the next batch. Reusing them spares a
// goroutine start and its stack growth per batch.
const maxIdleWorkers = 64

// handoffAfter is how long the runs of a batch wait at most behind a run of the same batch
// that is still going before each gets a goroutine of its own: the scheduler's slack, as the
// runs of a batch are due within it (less when a case of the batch has a smaller slack).
const handoffAfter = scheduleSlack

// newRunSet returns the run set of a Run on s whose context is ctx.
func newRunSet(s *Service, ctx context.Context) *runSet {
	return &runSet{svc: s, parent: context.WithoutCancel(ctx), jobs: make(chan *batch)}
}

// close ends the idle workers; call it once no run will start any more and flush was called.
func (set *runSet) close() { close(set.jobs) }

// work runs the runs of b it can claim, then those of the batches handed to it while it is
// idle. A test that ends its goroutine with runtime.Goexit (FailNow, SkipNow...) ends the
// worker too (its run is concluded all the same); the rest of its batch goes on at once on a
// new worker rather than waiting for spread.
func (set *runSet) work(b *batch) {
	defer func() {
		if b != nil && !b.started() { // only after a Goexit: every other return claimed b
			go set.work(b)
		}
	}()
	for {
		for j, ok := b.claim(); ok; j, ok = b.claim() {
			j.o.runScheduled(j.f)
		}
		if set.idle.Add(1) > maxIdleWorkers {
			set.idle.Add(-1)
			return
		}
		var ok bool
		b, ok = <-set.jobs
		if !ok {
			return
		}
	}
}

// hand gives b to an idle worker, or to a new one.
func (set *runSet) hand(b *batch) {
	select {
	case set.jobs <- b: // an idle worker takes it
		set.idle.Add(-1)
	default:
		go set.work(b)
	}
}

// dispatch hands the runs started since the last dispatch to a worker as one batch. Only the
// scheduler goroutine calls it.
func (set *runSet) dispatch(now time.Time) {
	if len(set.filling) == 0 {
		return
	}
	b := &batch{jobs: slices.Clone(set.filling)}
	clear(set.filling)
	set.filling = set.filling[:0]
	after := handoffAfter
	for _, j := range b.jobs { // before the worker has them: it clears what it claims
		after = min(after, slackOf(j.o.cs.tc.Period))
	}
	set.hand(b)
	if len(b.jobs) > 1 {
		set.pending = append(set.pending, pendingBatch{b, now.Add(after), after})
	}
}

// spread gives every run of a batch that its worker has not started yet a worker of its own
// once the batch was handed out handoffAfter ago, or its shortest-period case's slack if that
// is less (every batch at once when now is zero), and returns when it must look again, with
// that batch's slack (zero: no batch is pending). Only the scheduler goroutine calls it.
func (set *runSet) spread(now time.Time) (again time.Time, slack time.Duration) {
	kept := set.pending[:0]
	for _, p := range set.pending {
		if p.b.started() {
			continue
		}
		if !now.IsZero() && now.Before(p.at) {
			kept = append(kept, p)
			if again.IsZero() || p.at.Before(again) {
				again, slack = p.at, p.slack
			}
			continue
		}
		for j, ok := p.b.claim(); ok; j, ok = p.b.claim() {
			set.hand(&batch{jobs: []job{j}})
		}
	}
	clear(set.pending[len(kept):])
	set.pending = kept
	return again, slack
}

// runScheduled is the test goroutine of a scheduled run: the test, then the run's conclusion.
func (o *O) runScheduled(f TestFunc) {
	o.arm()
	defer o.conclude(false) // also when f ends the goroutine with runtime.Goexit
	o.body(f)
}

// start prepares o, a top-level run of a case whose busy flag the caller set, to run in the
// next batch (dispatch); the busy flag is cleared when the run is concluded. Only the
// scheduler goroutine calls it.
func (set *runSet) start(o *O, f TestFunc) {
	cs := o.cs
	set.wg.Add(1)
	o.set = set
	cs.lastStart.Store(o.start.UnixNano()) // newScheduledO's; arm sets o.start again
	o.metrics.started(o.start, cs.inFlight.Add(1))
	cs.current.Store(o)
	set.filling = append(set.filling, job{o, f}) // dispatch hands it to a worker
}

// arm starts the clock of the scheduled run o, in its test goroutine just before the test:
// its start, its context with the case's deadline, and the case's timer for the deadline and
// then the abandonment. They are made here rather than by the scheduler so that the
// scheduler's own timer is not disturbed (a timer added on the scheduler's P while it is not
// waiting drops its ticker from the runtime's heap, and re-adding that wakes the network
// poller) and so that the deadline counts from the run's start. A run cut before it started
// is cut now.
func (o *O) arm() {
	cs := o.cs
	o.start = time.Now()
	o.rc.parent, o.rc.deadline = o.parentCtx, monotonic(o.start.Add(cs.timeout))
	o.ctx = &o.rc
	cs.timed.Store(o)
	cs.wakeBy(o.rc.deadline)
	o.armed.Store(true)
	if p := o.endCause.Load(); p != nil {
		o.cutShort(*p)
	} else if p := o.set.cause.Load(); p != nil {
		o.cutShort(*p)
	}
}

// onTimer is the case's timer: at the deadline of its run in flight it ends the run's context
// (the run timed out) and waits for the abandonment; at the abandonment it concludes the run.
// A fire before the time of the run in flight (the timer was set for an earlier run of the
// case) sets it again for that time.
func (cs *caseState) onTimer() {
	cs.timerMu.Lock()
	cs.timerAt.Store(0) // before timed is read: see wakeBy
	cs.timerMu.Unlock()
	o := cs.timed.Load()
	if o == nil {
		return
	}
	now := time.Now()
	at := o.abandonAt.Load()
	if at == 0 {
		if monotonic(now) < o.rc.deadline {
			cs.wakeBy(o.rc.deadline)
			return
		}
		at = o.rc.deadline + int64(abandonGrace(cs.timeout))
		if o.abandonAt.CompareAndSwap(0, at) {
			o.endCause.CompareAndSwap(nil, &errTimedOut)
			o.rc.end(endedDeadline)
		} else {
			at = o.abandonAt.Load()
		}
	}
	if monotonic(now) < at {
		cs.wakeBy(at)
		return
	}
	o.conclude(true)
}

// wakeBy makes sure the case's timer fires by at (monotonic). A timer set for an earlier time
// is left alone: when it fires, onTimer sets it again for the run then in flight. So a case
// whose runs are shorter than its timeout resets its timer about once per timeout rather
// than once per run (a timer reset is a cache miss or two on a timer the runtime keeps with
// every other, and is a good part of a no-op run's cost at 10,000 cases).
//
// The lock-free check is safe: onTimer clears timerAt before it reads timed and a run stores
// timed before it calls wakeBy, so either wakeBy sees the timer cleared or onTimer sees the
// run.
func (cs *caseState) wakeBy(at int64) {
	if cur := cs.timerAt.Load(); cur != 0 && cur <= at {
		return
	}
	cs.timerMu.Lock()
	if cur := cs.timerAt.Load(); cur == 0 || at < cur {
		cs.timerAt.Store(at)
		cs.timer.Reset(time.Duration(at - monotonic(time.Now())))
	}
	cs.timerMu.Unlock()
}

// monotonic is t as nanoseconds since epoch, by the monotonic clock.
func monotonic(t time.Time) int64 { return int64(t.Sub(epoch)) }

// newScheduledO prepares a scheduled run of cs due at now (the scheduler's wake); its test
// goroutine arms it. Its context is
// one context.WithDeadlineCause (errTimedOut at the deadline), where a run of RunNow or
// RunOnce has a second context to end with a cause: that second context's registration with
// the first costs more than the rest of the run's contexts together. Why a scheduled run's
// context ended (the test was over, the drain grace expired, Abort) is kept beside it instead
// (see cause); context.Cause of the run's context then reads context.Canceled, and
// errTimedOut at the deadline as for any run.
func (s *Service) newScheduledO(cs *caseState, parentCtx context.Context, now time.Time) *O {
	o := &O{svc: s, cs: cs, name: cs.tc.Name, traceID: s.traceID(), parentCtx: parentCtx,
		engine: cs.engine, metrics: cs.metrics, start: now}
	o.root = o
	o.endCtx = o.endScheduled
	return o
}

// endScheduled ends a scheduled run's context, remembering cause unless it already ended.
func (o *O) endScheduled(cause error) {
	p := &errRunEnded // the usual cause, without allocating
	if cause != errRunEnded {
		p = &cause
	}
	o.endCause.CompareAndSwap(nil, p)
	if o.armed.Load() {
		o.rc.end(endedCanceled)
	}
}

// cause is why o's context ended (nil while it has not): its context's cause or, for a
// scheduled run and its subtests, whose contexts end without one, the cause endScheduled kept.
func (o *O) cause() error {
	var c error
	if o.ctx == context.Context(&o.rc) {
		c = o.rc.Err() // what context.Cause would say, without its lookup of the parents
	} else {
		c = context.Cause(o.ctx)
	}
	if (c == context.Canceled || c == context.DeadlineExceeded) && o.root.set != nil {
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
// gives it the abandonment grace from now, as wait does when the parent context is done. A
// run not armed yet keeps the cause; arm cuts it.
func (o *O) cutShort(cause error) {
	o.endCause.CompareAndSwap(nil, &cause)
	if !o.armed.Load() {
		return
	}
	o.rc.end(endedCanceled)
	at := monotonic(time.Now().Add(abandonGrace(o.cs.timeout)))
	if o.abandonAt.CompareAndSwap(0, at) {
		o.cs.wakeBy(at)
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
	// The case's timer is left to fire for nothing (onTimer finds no run) rather than stopped:
	// the next run's Reset then only moves it later, which the runtime does without touching
	// its heap of timers.
	cs.timed.CompareAndSwap(o, nil)
	cs.current.CompareAndSwap(o, nil)
	res := o.finish(abandoned)
	if abandoned {
		cs.abandoned.Add(1) // until its goroutine returns, if ever (see MaxAbandonedRuns)
	}
	o.svc.emit(o, res, cs.inFlight.Add(-1))
	cs.busy.Store(false)
	o.set.wg.Done()
}
