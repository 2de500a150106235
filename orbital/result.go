package orbital

import "time"

// Outcome is how a run ended.
type Outcome string

// The outcomes of a run.
const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	Skip Outcome = "skip"
)

// Result is the record of one finished run of a case or of one subtest. It
// is a plain value owned by whoever receives it.
type Result struct {
	Case     string        // "name", or "name/sub" for a subtest
	Parent   string        // the parent's Case for a subtest ("name"); "" for a top-level run
	TraceID  string        // a UUID per run, also in every log line of the run
	Start    time.Time     // when the run started
	Duration time.Duration // how long the run took
	Outcome  Outcome       // pass, fail or skip
	TimedOut bool          // the run hit its timeout (Outcome is then Fail)
	// Output is the run's log lines in go test style: a "--- PASS: name
	// (0.12s)" header followed by the indented log lines, each tagged with the
	// trace id, and the blocks of its subtests.
	Output string
	// Error is the first failure message, or the panic or timeout reason; ""
	// when the run did not fail.
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
