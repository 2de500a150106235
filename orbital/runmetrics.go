package orbital

import (
	"slices"
	"sync"
	"time"

	"github.com/segmentio/stats/v4"
)

// runMetrics emits the metrics of a run's start and end on an engine in one HandleMeasures
// call each, with the names, fields and tags the engine's Set, Incr and Observe calls of
// docs/metrics.md would give them. One handler call per event instead of one per metric
// matters: stats/v4's Prometheus handler sweeps all its series every 10,000 calls, so at
// 10,000 cases the per-metric calls cost more than the run itself. Tags are computed once
// (a case's runMetrics is made at Register). Handlers only read what they are given, as the
// engine's own pooled measures require, so the tag slices are shared by concurrent runs.
type runMetrics struct {
	h         stats.Handler
	root      string // the engine's prefix: measures without a dot ("runs_total")
	run       string // prefix.run ("run.duration_seconds")
	cas       string // prefix.case ("case.period_seconds")
	tags      []stats.Tag
	byOutcome [len(outcomes)][]stats.Tag // tags plus outcome
}

// newRunMetrics prepares the run metrics of engine e (tagged with the case already).
func newRunMetrics(e *stats.Engine) *runMetrics {
	m := &runMetrics{
		h:    e.Handler,
		root: e.Prefix,
		run:  joinName(e.Prefix, "run"),
		cas:  joinName(e.Prefix, "case"),
		tags: slices.Clip(slices.Clone(e.Tags)),
	}
	for i, oc := range outcomes {
		t := append(slices.Clone(e.Tags), stats.T("outcome", string(oc)))
		if !e.AllowDuplicateTags && !stats.TagsAreSorted(t) {
			stats.SortTags(t) // as the engine does: sorted in place
		}
		m.byOutcome[i] = slices.Clip(t)
	}
	return m
}

// joinName is stats/v4's name of measure name on an engine with prefix.
func joinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// measureBuf holds the measures of one handler call: pooled, as the engine pools its own,
// since measures handed to an interface method escape to the heap.
type measureBuf struct {
	fields [7]stats.Field
	ms     [7]stats.Measure
	n      int
}

var measureBufs = sync.Pool{New: func() any { return new(measureBuf) }}

// add appends a measure of one field.
func (b *measureBuf) add(name string, tags []stats.Tag, f stats.Field) {
	b.fields[b.n] = f
	b.ms[b.n] = stats.Measure{Name: name, Tags: tags, Fields: b.fields[b.n : b.n+1 : b.n+1]}
	b.n++
}

// send hands the measures to h and returns b to the pool.
func (b *measureBuf) send(h stats.Handler, now time.Time) {
	h.HandleMeasures(now, b.ms[:b.n]...)
	*b = measureBuf{}
	measureBufs.Put(b)
}

// started sets runs_in_flight when a run starts.
func (m *runMetrics) started(now time.Time, inFlight int64) {
	b := measureBufs.Get().(*measureBuf)
	b.add(m.root, m.tags, stats.MakeField("runs_in_flight", inFlight, stats.Gauge))
	b.send(m.h, now)
}

// ended counts a finished run: runs_total and run.duration_seconds by outcome,
// run.timeouts_total when it timed out, runs_in_flight, case.last_run_timestamp_seconds and,
// when scheduled is set, case.period_seconds and case.timeout_seconds.
func (m *runMetrics) ended(now time.Time, res Result, inFlight int64, scheduled bool, period, timeout time.Duration) {
	byOutcome := m.tags
	if i := slices.Index(outcomes[:], res.Outcome); i >= 0 {
		byOutcome = m.byOutcome[i]
	}
	// One field per measure, as the engine's calls make them.
	b := measureBufs.Get().(*measureBuf)
	b.add(m.root, byOutcome, stats.MakeField("runs_total", 1, stats.Counter))
	b.add(m.run, byOutcome, stats.MakeField("duration_seconds", res.Duration, stats.Histogram))
	if res.TimedOut {
		b.add(m.run, m.tags, stats.MakeField("timeouts_total", 1, stats.Counter))
	}
	b.add(m.root, m.tags, stats.MakeField("runs_in_flight", inFlight, stats.Gauge))
	b.add(m.cas, m.tags, stats.MakeField("last_run_timestamp_seconds", now.Unix(), stats.Gauge))
	if scheduled {
		b.add(m.cas, m.tags, stats.MakeField("period_seconds", period, stats.Gauge))
		b.add(m.cas, m.tags, stats.MakeField("timeout_seconds", timeout, stats.Gauge))
	}
	b.send(m.h, now)
}
