package orbital

import "time"

// Outcome is how a run ended.
type Outcome string

// The outcomes of a run.
const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	Skip Outcome = "skip"
	// Inconclusive: the run could not reach a verdict through no fault of
	// the system under test. A run is inconclusive when its context was
	// cancelled before it failed (the service shutting down, the caller of
	// RunNow or RunOnce cancelling its ctx or reaching its deadline, a
	// manual-run request ending), when the test called [O.Inconclusive] or
	// [O.Inconclusivef], or when a subtest was inconclusive and the run did
	// not fail. A failure recorded before the interruption still makes the
	// run fail, and so does hitting the case's own Timeout, unless the test
	// then declares the run inconclusive itself (it ran out of time because
	// of the prober's own trouble). It never counts as a pass nor against
	// the pipeline's success ratio.
	Inconclusive Outcome = "inconclusive"
)

// outcomes lists every Outcome a run can end with, in display order. It is the one list the
// metrics are pre-created from (orbital_runs_total at 0 for each, from Register on); a new
// outcome is added here and nowhere else.
var outcomes = [...]Outcome{Pass, Fail, Skip, Inconclusive}

// Outcomes returns every outcome a run can end with (pass, fail, skip,
// inconclusive), in display order. The returned slice is a copy.
func Outcomes() []Outcome { return append([]Outcome(nil), outcomes[:]...) }

// Result is the record of one finished run of a case or of one subtest. It
// is a plain value owned by whoever receives it.
type Result struct {
	Case     string        // "name", or "name/sub" for a subtest
	Parent   string        // the parent's Case for a subtest ("name"); "" for a top-level run
	TraceID  string        // a UUID per run, also in every log line of the run
	Start    time.Time     // when the run started
	Duration time.Duration // how long the run took
	Outcome  Outcome       // pass, fail, skip or inconclusive
	TimedOut bool          // the run hit its timeout and failed for it (Outcome is then Fail)
	// Output is the run's log lines in go test style: a "--- PASS: name
	// (0.12s)" header (FAIL, SKIP, INCONCLUSIVE) followed by the indented log
	// lines, each tagged with the trace id, and the blocks of its subtests.
	Output string
	// Error is the first failure message, or the panic or timeout reason,
	// for a failed run; why no verdict was reached for an inconclusive one;
	// "" otherwise. A testify failure (its "Error Trace:" / "Error:" block)
	// leads with its Error and Messages, the trace after them.
	Error string
	// Measures holds the durations recorded with [O.Measure], the last value
	// per name; nil when there are none.
	Measures map[string]time.Duration
	// Subtests holds the results of the run's subtests (nested ones too), in
	// the order they finished, on a Result returned by [Service.RunNow]; nil
	// elsewhere (reporters receive each subtest's Result on its own).
	Subtests []Result
}

// Reporter receives results. Report is called once per finished run and once
// per finished subtest (a subtest before its parent), from the goroutine that
// ran the case; implementations must be safe for concurrent use and should
// return quickly.
type Reporter interface {
	Report(Result)
}

// DeliveryLatency is the name of the send-to-delivery latency measure
// ([O.Measure]): the status page's latency quantiles, the gate's summary and
// the metric orbital_delivery_latency_seconds read it.
const DeliveryLatency = "delivery.latency"
