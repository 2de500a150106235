package orbital

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/stats/v4"
)

// Default settings of a Service.
const (
	DefaultTimeout     = 10 * time.Minute
	DefaultDrainGrace  = 30 * time.Second
	DefaultStartSpread = 5 * time.Second
)

// errDrained is the cancellation cause of runs still going when the drain
// grace of Run expired.
var errDrained = errors.New("service stopped and the drain grace expired")

// Service holds registered test cases and runs them: forever on their
// periods with Run, or once with RunOnce. It is safe for concurrent use.
type Service struct {
	engine      *stats.Engine
	timeout     time.Duration
	drainGrace  time.Duration
	startSpread time.Duration
	logger      *slog.Logger
	passLevel   slog.Level // of a passing or skipped run's "run finished" line
	out         io.Writer
	reporters   atomic.Pointer[[]Reporter] // copy on write, under mu
	owns        func(caseName string) bool
	newTraceID  func() string // nil: ids
	ids         *traceIDs
	lastStartOf func(caseName string) (time.Time, bool)

	outMu  sync.Mutex // serialises writes to out
	warmed int        // what warm read; the scheduler goroutine's

	mu         sync.Mutex
	cases      map[string]*caseState
	running    bool
	runSince   time.Time         // when Run started
	cancelRuns func(cause error) // cuts the runs Run started short, while Run is going
	queue      caseQueue         // scheduled cases while Run is going
	wake       chan struct{}     // tells the scheduler the queue changed
}

// caseState is a registered case with its run bookkeeping.
type caseState struct {
	tc      TestCase
	timeout time.Duration
	engine  *stats.Engine // the service engine tagged with case and Tags
	metrics *runMetrics   // the run metrics on engine: &runMetrics
	// runMetrics is here rather than in an object of its own: a run reads it at its start,
	// and at 10,000 cases each object a run reads is a cache miss.
	runMetrics runMetrics
	busy       atomic.Bool // a scheduled run is going
	inFlight   atomic.Int64
	// abandoned counts this case's runs given up after their timeout whose
	// test goroutine has still not returned.
	abandoned atomic.Int64
	// notOwned: at its last tick this replica did not own the case
	// (WithAssignment); see Reassigned.
	notOwned atomic.Bool
	// lateSkips are ticks popDue dropped (the scheduler was late by more than a period) that
	// tick has not counted yet; skippedLate and skippedOverlap are the totals (SkippedTicks).
	lateSkips      atomic.Int64
	skippedLate    atomic.Int64
	skippedOverlap atomic.Int64
	// current is the scheduled run of the case in flight, if any (see runSet); timed is the
	// one armed with the case's timer (deadline, then abandonment: onTimer), until concluded.
	current atomic.Pointer[O]
	timed   atomic.Pointer[O]
	timer   *time.Timer  // stopped until a scheduled run arms it
	timerAt atomic.Int64 // when timer fires (monotonic; 0: it is not set); see wakeBy
	timerMu sync.Mutex   // serialises setting timer and timerAt
	// lastStart is when the scheduler last started a run of the case (Unix
	// nanoseconds; 0 before the first), for Health.
	lastStart atomic.Int64
	// watchSince is when Health started watching the case (Unix
	// nanoseconds): when it was scheduled for this Run, or last became owned.
	watchSince atomic.Int64

	// Scheduling, guarded by Service.mu.
	next time.Time
	key  int64 // next as nanoseconds since epoch: what the heap orders by
}

// New returns a Service configured by opts.
func New(opts ...Option) *Service {
	s := &Service{
		engine:      stats.NewEngine("orbital", stats.Discard),
		timeout:     DefaultTimeout,
		drainGrace:  DefaultDrainGrace,
		startSpread: DefaultStartSpread,
		logger:      slog.Default(),
		passLevel:   slog.LevelDebug,
		out:         os.Stderr,
		cases:       make(map[string]*caseState),
		ids:         newTraceIDs(),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// AddReporter adds a reporter that receives every result from now on, after
// the reporters added before it. It may be called at any time, also while
// runs are going, so a reporter that needs the Service (such as a status
// page) can be created after it. Adding a reporter that was already added
// (the same pointer) does nothing; nil is ignored. Safe for concurrent use.
func (s *Service) AddReporter(r Reporter) {
	if r == nil {
		return
	}
	if isNil(r) {
		s.logger.Warn(fmt.Sprintf("orbital: AddReporter: a nil %T would receive nothing; ignored (create the reporter first, then add it)", r))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur []Reporter
	if p := s.reporters.Load(); p != nil {
		cur = *p
	}
	for _, have := range cur {
		if sameReporter(have, r) {
			return
		}
	}
	next := append(slices.Clip(cur), r)
	s.reporters.Store(&next)
}

// ErrUnknownCase is wrapped by the error [Service.RunNow] returns for a name
// that is not registered.
var ErrUnknownCase = errors.New("unknown case")

// ErrBusy is wrapped by the error [Service.RunNow] returns while a run of
// the case is in flight (scheduled or manual).
var ErrBusy = errors.New("a run of this case is in flight")

// RunNow runs the registered case name once now and returns its Result,
// with the results of its subtests in Result.Subtests. It goes through the
// same overlap guard as the scheduler: while a run of the case is in flight
// (a scheduled one, or another RunNow) it returns at once with an error
// wrapping ErrBusy, and while it runs the scheduler skips the case's ticks
// (counted as overlaps). A name that is not registered (subtests run with
// their parent) gives an error wrapping ErrUnknownCase. ctx bounds the run
// (ctx ending before the run failed makes it Inconclusive, where the case's
// timeout fails it); the result also goes to the reporters, the
// metrics and the output. It does not consult WithAssignment: a manual run
// runs here.
func (s *Service) RunNow(ctx context.Context, name string) (Result, error) {
	s.mu.Lock()
	cs := s.cases[name]
	s.mu.Unlock()
	if cs == nil {
		return Result{}, fmt.Errorf("orbital: run %q: %w", name, ErrUnknownCase)
	}
	if n := cs.abandoned.Load(); n >= MaxAbandonedRuns {
		return Result{}, fmt.Errorf("orbital: run %q: %d earlier runs timed out and have not returned: %w", name, n, ErrBusy)
	}
	if !cs.busy.CompareAndSwap(false, true) {
		return Result{}, fmt.Errorf("orbital: run %q: %w", name, ErrBusy)
	}
	defer cs.busy.Store(false)
	o := s.newO(cs, cs.tc.Name, nil, ctx)
	o.extra().collect = true
	res := s.execute(o, cs.tc.Func)
	o.mu.Lock()
	res.Subtests = slices.Clone(o.extra().collected)
	o.mu.Unlock()
	return res, nil
}

// Register adds a test case. It returns an error wrapping ErrInvalidCase
// when the name is not valid (see [ValidateName]) or already registered,
// the Period is negative, the Timeout is negative, the Func is nil, or a Tag has an empty
// or repeated name or one the service sets itself ("case", "outcome"). A
// case registered while Run is going is scheduled too.
func (s *Service) Register(tc TestCase) error {
	if err := tc.validate(); err != nil {
		return err
	}
	tc.Tags = slices.Clone(tc.Tags)
	cs := &caseState{tc: tc, timeout: tc.Timeout}
	if cs.timeout == 0 {
		cs.timeout = s.timeout
	}
	tags := make([]stats.Tag, 0, 1+len(tc.Tags))
	tags = append(tags, stats.T("case", tc.Name))
	tags = append(tags, tc.Tags...)
	cs.engine = s.engine.WithTags(tags...)
	cs.runMetrics = *newRunMetrics(cs.engine)
	cs.metrics = &cs.runMetrics
	cs.timer = time.AfterFunc(time.Hour, cs.onTimer) // armed by each scheduled run (arm)
	cs.timer.Stop()

	s.mu.Lock()
	if _, dup := s.cases[tc.Name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("orbital: register %q: name already registered: %w", tc.Name, ErrInvalidCase)
	}
	s.cases[tc.Name] = cs
	if s.running && tc.Period > 0 {
		s.schedule(cs, time.Now())
	}
	s.mu.Unlock()

	if tc.Period == 0 {
		return nil // gate-only: no schedule, so nothing for "has not run" to watch
	}
	cs.engine.Set("case.period_seconds", tc.Period)
	cs.engine.Set("case.timeout_seconds", cs.timeout)
	// With the period and the timeout, this lets "has not finished a run within its bound"
	// alert on a case that never ran.
	cs.engine.Set("case.registered_timestamp_seconds", time.Now().Unix())
	s.pretouch(cs)
	return nil
}

// pretouch creates every counter of a newly registered case at 0, so that Prometheus
// sees each series before its first event and increase() or rate() count that event
// (a series that appears at 1 looks like no change).
func (s *Service) pretouch(cs *caseState) {
	for _, oc := range outcomes {
		cs.engine.Add("runs_total", 0, stats.T("outcome", string(oc)))
	}
	cs.engine.Add("run.timeouts_total", 0)
	cs.engine.Add("run.overlap_skipped_total", 0)
	cs.engine.Add("run.ticks_skipped_total", 0)
}

// SkippedTicks counts the scheduled ticks of a case that did not start a run on this replica
// since it was registered.
type SkippedTicks struct {
	// Late: ticks dropped because the scheduler came more than a period late (a loaded
	// machine); the case ran once for them, on its next tick. Metric
	// orbital_run_ticks_skipped_total.
	Late int64
	// Overlap: ticks that came while the case's previous run was still going (or too many
	// of its abandoned runs had not returned). Metric orbital_run_overlap_skipped_total.
	Overlap int64
}

// SkippedTicks returns the ticks of the registered case name that did not start a run
// (ticks of cases another replica owns are not counted), and whether name is registered.
// Safe for concurrent use.
func (s *Service) SkippedTicks(name string) (SkippedTicks, bool) {
	s.mu.Lock()
	cs := s.cases[name]
	s.mu.Unlock()
	if cs == nil {
		return SkippedTicks{}, false
	}
	return SkippedTicks{Late: cs.skippedLate.Load(), Overlap: cs.skippedOverlap.Load()}, true
}

// Cases returns the registered cases sorted by name.
func (s *Service) Cases() []TestCase {
	s.mu.Lock()
	out := make([]TestCase, 0, len(s.cases))
	for _, cs := range s.cases {
		tc := cs.tc
		tc.Tags = slices.Clone(tc.Tags)
		out = append(out, tc)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b TestCase) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Case returns the registered case name (a copy) and whether it is
// registered.
func (s *Service) Case(name string) (TestCase, bool) {
	s.mu.Lock()
	cs := s.cases[name]
	s.mu.Unlock()
	if cs == nil {
		return TestCase{}, false
	}
	tc := cs.tc
	tc.Tags = slices.Clone(tc.Tags)
	return tc, true
}

// RunOnce runs every case whose name match accepts (all cases when match is
// nil) once, concurrently, and returns their results sorted by case name,
// each top-level result followed by the results of its subtests. Results
// also go to the reporters, the metrics and the output. ctx bounds every
// run; a run still going a grace period after ctx is done is reported as
// failed.
func (s *Service) RunOnce(ctx context.Context, match func(name string) bool) []Result {
	s.mu.Lock()
	var picked []*caseState
	for name, cs := range s.cases {
		if match == nil || match(name) {
			picked = append(picked, cs)
		}
	}
	s.mu.Unlock()
	if len(picked) == 0 {
		s.logger.Warn("orbital: RunOnce selected no case; nothing ran")
		return nil
	}
	slices.SortFunc(picked, func(a, b *caseState) int { return strings.Compare(a.tc.Name, b.tc.Name) })

	per := make([][]Result, len(picked))
	var wg sync.WaitGroup
	for i, cs := range picked {
		wg.Go(func() {
			o := s.newO(cs, cs.tc.Name, nil, ctx)
			o.extra().collect = true
			res := s.execute(o, cs.tc.Func)
			o.mu.Lock()
			per[i] = append([]Result{res}, o.extra().collected...)
			o.mu.Unlock()
		})
	}
	wg.Wait()
	var out []Result
	for _, rs := range per {
		out = append(out, rs...)
	}
	return out
}

// Run runs every registered case on its period until ctx is done. A case's
// first run starts after a random offset of at most min(Period, start
// spread); a tick that comes while the case's previous run is still going is
// skipped, counted and logged. A run abandoned after its timeout no longer
// counts as going, but once MaxAbandonedRuns of a case's abandoned test
// goroutines are still alive its ticks are skipped the same way until one
// returns, so a test that hangs forever cannot pile up goroutines. When ctx is done Run stops scheduling, waits
// for in-flight runs up to the drain grace, then cancels the ones left and
// waits for them to be reported (as Inconclusive, unless they had failed
// before). It returns nil after a clean drain, an
// error if the drain grace expired, and an error at once if Run is already
// going on this Service.
func (s *Service) Run(ctx context.Context) error {
	now := time.Now()
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("orbital: Run is already going on this Service")
	}
	s.running = true
	s.wake = make(chan struct{}, 1)
	s.queue.reset()
	for _, cs := range s.cases {
		if cs.tc.Period > 0 {
			s.schedule(cs, now)
		}
	}
	wake := s.wake
	s.mu.Unlock()

	set := newRunSet(s, ctx)
	defer set.close() // after the loop: no run starts any more
	s.mu.Lock()
	s.runSince, s.cancelRuns = now, set.cut
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelRuns = nil
		s.mu.Unlock()
	}()
	s.loop(ctx, set, wake)

	s.mu.Lock()
	s.running = false
	s.queue.reset()
	s.mu.Unlock()
	_, _ = set.spread(time.Time{}) // a run waiting behind a blocked one starts now, to be drained
	return s.drain(set)
}

// loop starts the due runs on every wake until ctx is done.
func (s *Service) loop(ctx context.Context, set *runSet, wake <-chan struct{}) {
	var (
		alarm alarm
		due   []*caseState
	)
	defer alarm.stop()
	for {
		// A ctx done while the timer fired (or before Run) starts nothing.
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		due = s.popDue(due[:0], now)
		s.warm(due)
		for _, cs := range due {
			s.tick(set, cs, now)
		}
		set.dispatch(now)
		again, againSlack := set.spread(now)
		wait, slack := s.nextWake()
		if !again.IsZero() && time.Until(again) < wait {
			// Woken by the ticker within its period after again: runs behind a blocked one
			// start within twice the slack of their batch's shortest-period case.
			wait, slack = time.Until(again), min(slack, againSlack)
		}
		select {
		case <-ctx.Done():
			return
		case <-alarm.set(wait, slack):
		case <-wake:
		}
	}
}

// nextWake is how long the scheduler may sleep, and how late it may wake (the slack of the
// case it wakes for).
func (s *Service) nextWake() (wait, slack time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A little late on purpose: the cases due within the slack start together on one wake
	// of the scheduler instead of one wake each.
	key, slack, ok := s.queue.wakeKey()
	if !ok {
		return time.Hour, 0
	}
	return time.Until(epoch.Add(time.Duration(key))), slack
}

// drain waits for the runs in flight up to the drain grace, then cuts them short and waits for
// them to be reported.
func (s *Service) drain(set *runSet) error {
	drained := make(chan struct{})
	go func() {
		set.wg.Wait()
		close(drained)
	}()
	grace := time.NewTimer(s.drainGrace)
	defer grace.Stop()
	select {
	case <-drained:
		return nil
	case <-grace.C:
	}
	n := 0
	s.mu.Lock()
	for _, cs := range s.cases {
		if cs.busy.Load() {
			n++
		}
	}
	s.mu.Unlock()
	s.logger.Warn("drain grace expired; cancelling in-flight runs", "runs", n, "grace", s.drainGrace)
	set.cut(errDrained) // no effect when Abort cancelled them first
	<-drained
	return fmt.Errorf("orbital: drain grace %s expired: cancelled %d in-flight runs", s.drainGrace, n)
}

// scheduleSlack is how late the scheduler lets itself wake for a case, at most a 20th of its
// period (slackOf): the cases due meanwhile start on the same wake. At 10,000 runs a second
// that is about fifty runs per wake instead of one, and a wake of the scheduler (the threads
// the runtime wakes and puts back to sleep for it) costs more than a run.
const scheduleSlack = 5 * time.Millisecond

// slackOf is how late a run of a case with period p may start.
func slackOf(p time.Duration) time.Duration { return min(scheduleSlack, p/20) }

// alarm is how the scheduler sleeps: on a timer reset for each wait or, while it is busy (the
// next case is due within two slacks), on a ticker at the slack, which the runtime re-arms
// without waking its network poller as it must when a timer is reset earlier than the poller
// sleeps.
type alarm struct {
	timer  *time.Timer
	ticker *time.Ticker
	every  time.Duration // the ticker's period
}

// set returns the channel to wait on to wake in about wait, at most slack late.
func (a *alarm) set(wait, slack time.Duration) <-chan time.Time {
	if slack > 0 && wait <= 2*slack {
		// A ticker faster than the slack serves it too: kept, so that cases of several
		// periods do not make a new ticker on every wake.
		if a.ticker == nil || a.every > slack {
			a.stopTicker()
			a.ticker, a.every = time.NewTicker(slack), slack
		}
		return a.ticker.C
	}
	a.stopTicker()
	if a.timer == nil {
		a.timer = time.NewTimer(wait)
	} else {
		a.timer.Reset(wait)
	}
	return a.timer.C
}

func (a *alarm) stopTicker() {
	if a.ticker != nil {
		a.ticker.Stop()
		a.ticker = nil
	}
}

func (a *alarm) stop() {
	a.stopTicker()
	if a.timer != nil {
		a.timer.Stop()
	}
}

// schedule queues cs for its first run. Call with s.mu held.
func (s *Service) schedule(cs *caseState, now time.Time) {
	cs.watchSince.Store(now.UnixNano())
	next := now
	if spread := min(cs.tc.Period, s.startSpread); spread > 0 {
		next = now.Add(rand.N(spread))
	}
	s.setNext(cs, next)
	s.queue.push(cs)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// warm reads, for every due case, the memory its run reads first that popDue did not: its
// metrics and its name (the run's output starts with it). At 10,000 cases each is a cache
// miss; read here, in a loop whose reads do not depend on each other, the misses of a batch
// overlap instead of coming one after the other. Only the scheduler goroutine calls it.
func (s *Service) warm(due []*caseState) {
	n := s.warmed
	for _, cs := range due {
		n += len(cs.metrics.root) + len(cs.metrics.tags) + int(cs.tc.Name[0])
	}
	s.warmed = n
}

// popDue appends the cases due at now to due and moves each to its next
// tick, keeping its phase; ticks missed while the scheduler lagged by more
// than a period are dropped.
func (s *Service) popDue(due []*caseState, now time.Time) []*caseState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queue.popDue(monotonic(now), due, func(cs *caseState) {
		p := cs.tc.Period
		next := cs.next.Add(p)
		if !next.After(now) {
			missed := now.Sub(next)/p + 1
			cs.lateSkips.Add(int64(missed))
			next = next.Add(missed * p)
		}
		s.setNext(cs, next)
	})
}

// setNext sets when cs runs next. Call with s.mu held.
func (s *Service) setNext(cs *caseState, next time.Time) {
	cs.next = next
	cs.key = monotonic(next)
}

// epoch is the origin of caseState.key: a time with a monotonic clock reading, so the keys of
// times read from the clock order as their monotonic readings do (Sub uses them).
var epoch = time.Now()

// tick starts a scheduled run of cs (the scheduler woke at now) unless this replica does not own it or
// its previous run is still going, and counts the ticks popDue dropped.
func (s *Service) tick(set *runSet, cs *caseState, now time.Time) {
	late := cs.lateSkips.Swap(0)
	if s.owns != nil && !s.owned(cs.tc.Name) {
		cs.notOwned.Store(true)
		return // another replica's ticks: not ours to count
	}
	if late > 0 {
		cs.skippedLate.Add(late)
		cs.engine.Add("run.ticks_skipped_total", late)
		s.logger.Warn("ticks skipped: the scheduler was late by more than a period",
			"case", cs.tc.Name, "skipped", late, "period", cs.tc.Period)
	}
	if cs.notOwned.Load() && s.gainedRunAt(cs, time.Now()).After(time.Now()) {
		// Just gained, and it ran elsewhere less than a period ago: Reassigned
		// schedules it at that start plus its period.
		return
	}
	if cs.notOwned.Swap(false) {
		cs.watchSince.Store(time.Now().UnixNano()) // owned from now on: watched from now on
	}
	if n := cs.abandoned.Load(); n >= MaxAbandonedRuns {
		cs.skippedOverlap.Add(1)
		cs.engine.Incr("run.overlap_skipped_total")
		s.logger.Warn("tick skipped: earlier runs timed out and their test goroutines still have not returned",
			"case", cs.tc.Name, "abandoned", n, "period", cs.tc.Period)
		return
	}
	if !cs.busy.CompareAndSwap(false, true) {
		cs.skippedOverlap.Add(1)
		cs.engine.Incr("run.overlap_skipped_total")
		s.logger.Warn("tick skipped: the previous run is still going", "case", cs.tc.Name, "period", cs.tc.Period)
		return
	}
	set.start(s.newScheduledO(cs, set.parent, now), cs.tc.Func)
}

// errAborted is the cancellation cause of runs cut short by Abort.
var errAborted = errors.New("service aborted: runs in flight cut short")

// Abort cuts the runs in flight of Run short at once, as an expired drain
// grace would: their contexts are cancelled and they are reported as usual.
// A process that got a second SIGTERM during its drain calls it. It does
// nothing while Run is not going. Safe for concurrent use.
func (s *Service) Abort() {
	s.mu.Lock()
	cancel := s.cancelRuns
	s.mu.Unlock()
	if cancel != nil {
		s.logger.Warn("aborting: cancelling the runs in flight now")
		cancel(errAborted)
	}
}

// StuckAfter is how long Health lets a case that is due go without a
// scheduled run starting: two periods plus the case's timeout and abandon grace, plus 1s (a
// run may legitimately take up to its timeout, during which ticks are
// skipped, and a tick may come up to a period late).
func StuckAfter(tc TestCase, defaultTimeout time.Duration) time.Duration {
	timeout := tc.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return 2*tc.Period + timeout + abandonGrace(timeout) + time.Second
}

// Health reports whether the scheduler still does its job: while Run is
// going, it returns an error naming the first case this replica runs (its
// assignment owns it) that has not had a scheduled run start for longer than
// StuckAfter. A stuck scheduler, or runs that never end (a test that hangs
// forever, MaxAbandonedRuns times), make the process unable to test by
// itself: wire Health to a liveness check so it is restarted. It returns nil
// while Run is not going, and for gate-only cases (Period 0).
func (s *Service) Health() error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	for _, cs := range s.cases {
		if cs.tc.Period <= 0 || cs.notOwned.Load() {
			continue
		}
		// The latest of: this Run's start, when the case was scheduled or became
		// owned, its last scheduled start (a start of an earlier Run counts for nothing).
		since := max(s.runSince.UnixNano(), cs.watchSince.Load(), cs.lastStart.Load())
		if bound, idle := StuckAfter(cs.tc, s.timeout), now.Sub(time.Unix(0, since)); idle > bound {
			return fmt.Errorf("scheduler: case %s has not started a run for %s (bound %s)",
				cs.tc.Name, idle.Round(time.Second), bound)
		}
	}
	return nil
}

// Reassigned tells the service that the answers of its assignment function
// (WithAssignment) may have changed, for example after a cluster rebalance.
// Every case that this replica did not own at its last tick and owns now
// runs at once, then on its period from there: a case taken over from a
// replica that left or died runs as soon as the takeover is known, not up to
// a period later. It is safe for concurrent use and does nothing without
// WithAssignment or while Run is not going.
func (s *Service) Reassigned() {
	if s.owns == nil {
		return
	}
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	var candidates []*caseState
	for _, cs := range s.cases {
		if cs.notOwned.Load() {
			candidates = append(candidates, cs)
		}
	}
	s.mu.Unlock()

	var gained []*caseState // asked without s.mu: the functions may take locks of their own
	var at []time.Time
	now := time.Now()
	for _, cs := range candidates {
		if s.owned(cs.tc.Name) {
			gained = append(gained, cs)
			at = append(at, s.gainedRunAt(cs, now))
		}
	}
	if len(gained) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	moved := gained[:0]
	for i, cs := range gained {
		if !cs.next.Equal(at[i]) && (cs.next.After(at[i]) || at[i].After(now)) {
			s.setNext(cs, at[i])
			moved = append(moved, cs)
		}
	}
	s.queue.moved(moved...)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// gainedRunAt is when a case this replica just gained runs: now, or its last
// start anywhere plus its period when that is later (WithLastStart).
func (s *Service) gainedRunAt(cs *caseState, now time.Time) time.Time {
	if s.lastStartOf == nil || cs.tc.Period <= 0 {
		return now
	}
	t, ok := s.lastStartOf(cs.tc.Name)
	if !ok {
		return now
	}
	if next := t.Add(cs.tc.Period); next.After(now) {
		return next
	}
	return now
}

// owned asks the assignment function whether this replica runs name; if it
// panics, the panic is logged and the case runs.
func (s *Service) owned(name string) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("assignment function panicked; running the case", "case", name, "panic", fmt.Sprint(p))
			ok = true
		}
	}()
	return s.owns(name)
}

// isNil reports whether r is nil or a nil pointer, map, func, chan or slice
// inside the interface: a typed nil reporter (var page *status.Status passed
// before it is set) would otherwise swallow every result.
func isNil(r Reporter) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// sameReporter reports whether a and b are the same reporter: equal
// comparable values (pointers, mostly). Values of types that cannot be
// compared are never the same.
func sameReporter(a, b Reporter) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || !ta.Comparable() {
		return false
	}
	return a == b
}
