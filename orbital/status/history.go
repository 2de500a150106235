package status

import (
	"container/list"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// latencyMeasure is the measure name of send-to-delivery latency.
const latencyMeasure = orbital.DeliveryLatency

// maxErrorLen bounds the error message kept per run.
const maxErrorLen = 4 << 10

// shortErrorLen is what is left of a run's error once the log budget took
// its log; error bytes past it count towards the budget.
const shortErrorLen = 256

// maxReplicaLen bounds the replica name kept per run.
const maxReplicaLen = 128

// maxMeasures bounds the measures kept per run.
const maxMeasures = 16

const (
	minuteBuckets  = 60 // 1 h of one-minute buckets
	quarterBuckets = 96 // 24 h of fifteen-minute buckets
	quarter        = 15 * time.Minute
)

// run is one retained result.
type run struct {
	seq      uint64 // global sequence number, 0 = empty slot
	traceID  string
	replica  string // the process that ran it, "" when unknown
	start    time.Time
	duration time.Duration
	outcome  orbital.Outcome
	timedOut bool
	output   string
	cut      int // bytes cut from output (per-run cap or log budget)
	errMsg   string
	latency  time.Duration
	hasLat   bool
	measures map[string]time.Duration
}

// budgeted returns the bytes of r that count towards the log budget.
func (r *run) budgeted() int {
	return len(r.output) + max(0, len(r.errMsg)-shortErrorLen)
}

// shed drops the log of r and shortens its error, and returns the bytes
// freed from the budget.
func (r *run) shed() int {
	n := r.budgeted()
	r.cut += len(r.output)
	r.output = ""
	r.errMsg = cut(r.errMsg, shortErrorLen)
	return n - r.budgeted()
}

// bucket counts outcomes of one time slot; idx is the slot number since the
// Unix epoch (minutes or quarters).
type bucket struct {
	idx                     int64
	pass, fail, skip, incon uint32
	t                       *timings // nil until a run with a duration or latency
}

func (b *bucket) add(idx int64, o orbital.Outcome) {
	if idx < b.idx {
		return // older than the window this slot holds now (a run fed late)
	}
	if b.idx != idx {
		t := b.t // reuse the histograms' memory
		if t != nil {
			*t = timings{}
		}
		*b = bucket{idx: idx, t: t}
	}
	switch o {
	case orbital.Pass:
		b.pass++
	case orbital.Fail:
		b.fail++
	case orbital.Inconclusive:
		b.incon++
	default:
		b.skip++
	}
}

// entry is the history of one case name.
type entry struct {
	name        string
	parent      string // Result.Parent: the enclosing case of a subtest
	runs        []run  // ring, len == history
	next        int    // slot of the next run
	total       uint64
	lastFailure time.Time
	lastError   string
	minutes     [minuteBuckets]bucket
	quarters    [quarterBuckets]bucket
	incidents   incidentLog   // top-level cases only
	elem        *list.Element // in store.lru
	evicted     bool
}

// latest returns the retained runs, newest first, at most n.
func (e *entry) latest(n int) []run {
	out := make([]run, 0, min(n, len(e.runs)))
	for i := 1; i <= len(e.runs) && len(out) < n; i++ {
		r := e.runs[(e.next-i+len(e.runs))%len(e.runs)]
		if r.seq == 0 {
			break
		}
		out = append(out, r)
	}
	return out
}

// logRef points at a retained run that holds log bytes, in report order.
type logRef struct {
	e    *entry
	slot int // index in e.runs
	seq  uint64
}

// store is the bounded history of every case. Its methods need the Status
// mutex held.
type store struct {
	history     int
	maxCases    int
	maxOutput   int
	maxLogBytes int

	seq      uint64
	cases    map[string]*entry
	lru      list.List // *entry, front = most recently reported
	logBytes int
	logQueue []logRef // FIFO of runs holding budgeted bytes (may hold stale refs)
	live     int      // runs holding budgeted bytes
	evicted  uint64   // case names forgotten to stay under maxCases
}

func newStore(history, maxCases, maxOutput, maxLogBytes int) *store {
	return &store{
		history:     history,
		maxCases:    maxCases,
		maxOutput:   maxOutput,
		maxLogBytes: maxLogBytes,
		cases:       make(map[string]*entry),
	}
}

// add records r, run by replica, reported at now and counted in the buckets
// of at; registered tells whether a name is a registered case (consulted only
// when a name must be evicted).
func (s *store) add(r orbital.Result, replica string, at, now time.Time, registered func() map[string]bool) {
	e := s.cases[r.Case]
	if e == nil {
		if len(s.cases) >= s.maxCases {
			s.evict(registered())
		}
		e = &entry{name: r.Case, parent: r.Parent, runs: make([]run, s.history)}
		e.elem = s.lru.PushFront(e)
		s.cases[r.Case] = e
	} else {
		s.lru.MoveToFront(e.elem)
	}

	s.seq++
	nr := run{
		seq:      s.seq,
		traceID:  r.TraceID,
		replica:  cut(replica, maxReplicaLen),
		start:    r.Start,
		duration: r.Duration,
		outcome:  r.Outcome,
		timedOut: r.TimedOut,
		errMsg:   cut(r.Error, maxErrorLen),
	}
	nr.output, nr.cut = headTail(r.Output, s.maxOutput)
	if d, ok := r.Measures[latencyMeasure]; ok {
		nr.latency, nr.hasLat = d, true
	}
	if len(r.Measures) > 0 {
		nr.measures = make(map[string]time.Duration, min(len(r.Measures), maxMeasures))
		names := make([]string, 0, len(r.Measures))
		for k := range r.Measures {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names[:min(len(names), maxMeasures)] {
			nr.measures[k] = r.Measures[k]
		}
	}

	slot := e.next
	old := &e.runs[slot]
	if n := old.budgeted(); old.seq != 0 && n > 0 {
		s.logBytes -= n
		s.live--
	}
	*old = nr
	e.next = (e.next + 1) % len(e.runs)
	e.total++
	if n := nr.budgeted(); n > 0 {
		s.logBytes += n
		s.live++
		s.logQueue = append(s.logQueue, logRef{e: e, slot: slot, seq: nr.seq})
	}
	if r.Outcome == orbital.Fail {
		e.lastFailure = r.Start.Add(r.Duration)
		if e.lastFailure.IsZero() || r.Start.IsZero() {
			e.lastFailure = now
		}
		e.lastError = nr.errMsg
	}
	mi, qi := minuteIndex(at), quarterIndex(at)
	e.minutes[slot60(mi)].add(mi, r.Outcome)
	e.minutes[slot60(mi)].addTimings(mi, r)
	e.quarters[slot96(qi)].add(qi, r.Outcome)
	e.quarters[slot96(qi)].addTimings(qi, r)
	if e.parent == "" {
		start := r.Start
		if start.IsZero() {
			start = at
		}
		e.incidents.add(r.Outcome, start, nr.errMsg, r.TraceID)
	}
	s.trimLogs()
}

// evict forgets the least recently reported name that is not registered (or
// the least recent one when all are).
func (s *store) evict(registered map[string]bool) {
	var victim *entry
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		if e := el.Value.(*entry); !registered[e.name] {
			victim = e
			break
		}
	}
	if victim == nil {
		if el := s.lru.Back(); el != nil {
			victim = el.Value.(*entry)
		}
	}
	if victim == nil {
		return
	}
	for i := range victim.runs {
		if r := &victim.runs[i]; r.seq != 0 && r.budgeted() > 0 {
			s.logBytes -= r.budgeted()
			s.live--
		}
	}
	victim.evicted = true
	victim.runs = nil
	s.lru.Remove(victim.elem)
	delete(s.cases, victim.name)
	s.evicted++
}

// run returns the retained run ref points at, or nil when it is gone.
func (ref logRef) run() *run {
	if ref.e.evicted || ref.e.runs[ref.slot].seq != ref.seq {
		return nil
	}
	return &ref.e.runs[ref.slot]
}

// trimLogs drops the oldest logs while over the byte budget, and compacts
// the queue when stale references outnumber live ones.
func (s *store) trimLogs() {
	for s.logBytes > s.maxLogBytes && len(s.logQueue) > 0 {
		ref := s.logQueue[0]
		s.logQueue[0] = logRef{}
		s.logQueue = s.logQueue[1:]
		if r := ref.run(); r != nil && r.budgeted() > 0 {
			s.logBytes -= r.shed()
			s.live--
		}
	}
	if len(s.logQueue) > 2*s.live+64 {
		kept := make([]logRef, 0, s.live+64)
		for _, ref := range s.logQueue {
			if r := ref.run(); r != nil && r.budgeted() > 0 {
				kept = append(kept, ref)
			}
		}
		s.logQueue = kept
	}
}

func minuteIndex(t time.Time) int64  { return floorDiv(t.Unix(), 60) }
func quarterIndex(t time.Time) int64 { return floorDiv(t.Unix(), int64(quarter/time.Second)) }

func slot60(idx int64) int { return int(((idx % minuteBuckets) + minuteBuckets) % minuteBuckets) }
func slot96(idx int64) int { return int(((idx % quarterBuckets) + quarterBuckets) % quarterBuckets) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// ratio sums the buckets of the window ending at now.
func ratio(bs []bucket, nowIdx int64) Ratio {
	var r Ratio
	for _, b := range bs {
		if b.idx > nowIdx-int64(len(bs)) && b.idx <= nowIdx {
			r.Pass += int(b.pass)
			r.Fail += int(b.fail)
			r.Skip += int(b.skip)
			r.Inconclusive += int(b.incon)
		}
	}
	if n := r.Pass + r.Fail; n > 0 {
		v := float64(r.Pass) / float64(n)
		r.Ratio = &v
	}
	return r
}

// quantiles returns nearest-rank quantiles of ds (which it sorts).
func quantiles(ds []time.Duration) Quantiles {
	q := Quantiles{Count: len(ds)}
	if len(ds) == 0 {
		return q
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.999999) - 1
		i = min(max(i, 0), len(ds)-1)
		return ds[i].Seconds()
	}
	p50, p95, p99 := at(0.50), at(0.95), at(0.99)
	q.P50, q.P95, q.P99 = &p50, &p95, &p99
	return q
}

// cut shortens s to at most n bytes (n >= 3), ending with "…", on a rune
// boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !startsRune(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// headTail keeps the first and last part of s within n bytes and returns the
// number of bytes left out.
func headTail(s string, n int) (string, int) {
	if len(s) <= n {
		return s, 0
	}
	half := n / 2
	h := half
	for h > 0 && !startsRune(s[h]) {
		h--
	}
	t := len(s) - half
	for t < len(s) && !startsRune(s[t]) {
		t++
	}
	omitted := t - h
	var b strings.Builder
	b.WriteString(s[:h])
	b.WriteString("\n    … ")
	b.WriteString(strconv.Itoa(omitted))
	b.WriteString(" bytes of log left out …\n")
	b.WriteString(s[t:])
	return b.String(), omitted
}

func startsRune(c byte) bool { return c&0xC0 != 0x80 }
