package orbital

import (
	"io"
	"log/slog"
	"time"

	"github.com/segmentio/stats/v4"
)

// Option configures a [Service] in [New].
type Option func(*Service)

// WithStats sets the engine every run metric is emitted on (see
// docs/metrics.md for the names). Default: an engine that discards
// everything — never the global stats.DefaultEngine.
func WithStats(e *stats.Engine) Option {
	return func(s *Service) {
		if e != nil {
			s.engine = e
		}
	}
}

// WithTimeout sets the per-run timeout of cases whose Timeout is 0.
// Default: 10m.
func WithTimeout(d time.Duration) Option {
	return func(s *Service) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithLogger sets the structured logger. Each run logs through a child
// carrying the attributes case and trace_id. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) {
		if l != nil {
			s.logger = l
		}
	}
}

// WithPassLogLevel sets the level of the "run finished" log line of a run that passed or was
// skipped. Failed runs log it at Error and inconclusive ones at Warn, whatever this is.
// Default: slog.LevelDebug, so an Info log carries what needs attention and a passing run
// costs no log write; its result, metrics and output are there either way.
func WithPassLogLevel(level slog.Level) Option {
	return func(s *Service) {
		s.passLevel = level
	}
}

// WithOutput sets where the go test style output of every run is written,
// one Write per finished run. Default: os.Stderr.
func WithOutput(w io.Writer) Option {
	return func(s *Service) {
		if w != nil {
			s.out = w
		}
	}
}

// WithReporter adds a reporter that receives every result, as
// [Service.AddReporter] does. It may be given several times; reporters are
// called in the order given.
func WithReporter(r Reporter) Option {
	return func(s *Service) { s.AddReporter(r) }
}

// WithDrainGrace sets how long [Service.Run] waits for in-flight runs after
// its context is done before cancelling their contexts. Cancelled runs are
// still reported, as Inconclusive unless they had failed before. Default: 30s; 0 cancels in-flight runs at once.
func WithDrainGrace(d time.Duration) Option {
	return func(s *Service) {
		s.drainGrace = max(d, 0)
	}
}

// WithStartSpread sets the upper bound of the random offset of each case's
// first run after [Service.Run] starts (or after Register, for a case
// registered while Run is going): a case first runs after a random delay in
// [0, min(Period, d)). Default: 5s; 0 (or less) starts every case at once.
func WithStartSpread(d time.Duration) Option {
	return func(s *Service) {
		s.startSpread = max(d, 0)
	}
}

// WithAssignment makes the scheduler ask owns at every tick of a case whether
// this replica runs it; when owns returns false the tick is passed over
// silently (it is neither an overlap skip nor a metric). Cluster mode uses it
// so each case runs once per period cluster-wide. owns is called from the
// scheduling goroutine, so it must be fast and safe for concurrent use.
// RunOnce does not consult it. Default (nil): run every case.
func WithAssignment(owns func(caseName string) bool) Option {
	return func(s *Service) {
		s.owns = owns
	}
}

// WithTraceIDs makes newID name every run and subtest (O.TraceID, the
// Result's TraceID) instead of a random UUID. newID must return a UUID in
// its canonical form (the traceparent is derived from it), unique per call;
// it is called from the goroutines that start runs, so it must be safe for
// concurrent use. Cluster mode uses it so a run's id names the replica that
// waits for its deliveries. Default (nil): random (version 4) UUIDs from a
// ChaCha8 generator seeded from crypto/rand.
func WithTraceIDs(newID func() string) Option {
	return func(s *Service) {
		s.newTraceID = newID
	}
}

// WithLastStart tells the service when a case last started on any replica
// (cluster mode: from the shared results): a case this replica gains
// (Reassigned) runs at that start plus its period when that is later than
// now, instead of at once, so a clean handover does not run it twice in one
// period. last reports ok false when it does not know. It is called from
// the scheduling goroutines and must be safe for concurrent use. Default
// (nil): a gained case runs at once.
func WithLastStart(last func(caseName string) (start time.Time, ok bool)) Option {
	return func(s *Service) {
		s.lastStartOf = last
	}
}
