package orbital_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"
)

// waitFor is how long a test waits for an expected signal before failing.
const waitFor = 5 * time.Second

// chanReporter sends every result on a channel.
type chanReporter chan orbital.Result

func (r chanReporter) Report(res orbital.Result) { r <- res }

type syncBuffer = testsupport.SyncBuffer

// signalHandler records measures and announces each "measure.field" name
// on a channel (dropping announcements nobody reads).
type signalHandler struct {
	statstest.Handler
	names chan string
}

func (h *signalHandler) HandleMeasures(t time.Time, ms ...stats.Measure) {
	h.Handler.HandleMeasures(t, ms...)
	for _, m := range ms {
		for _, f := range m.Fields {
			select {
			case h.names <- m.Name + "." + f.Name:
			default:
			}
		}
	}
}

// fixture is a Service under test with what it emits.
type fixture struct {
	svc     *orbital.Service
	results chanReporter
	stats   *signalHandler
	out     *syncBuffer
	logs    *syncBuffer
}

func newFixture(t *testing.T, opts ...orbital.Option) *fixture {
	t.Helper()
	f := &fixture{
		results: make(chanReporter, 1000),
		stats:   &signalHandler{names: make(chan string, 1000)},
		out:     &syncBuffer{},
		logs:    &syncBuffer{},
	}
	base := []orbital.Option{
		orbital.WithStats(stats.NewEngine("orbital", f.stats)),
		orbital.WithReporter(f.results),
		orbital.WithOutput(f.out),
		orbital.WithLogger(slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	f.svc = orbital.New(append(base, opts...)...)
	return f
}

func (f *fixture) register(t *testing.T, tc orbital.TestCase) {
	t.Helper()
	if err := f.svc.Register(tc); err != nil {
		t.Fatalf("Register(%q): %v", tc.Name, err)
	}
}

// next waits for the next result of the named case.
func (f *fixture) next(t *testing.T, name string) orbital.Result {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case res := <-f.results:
			if res.Case == name {
				return res
			}
		case <-deadline:
			t.Fatalf("no result for %q within %s", name, waitFor)
			return orbital.Result{}
		}
	}
}

// waitMetric waits until a measure named name ("prefix.measure.field", for
// example "orbital.run.overlap_skipped_total") was emitted.
func (f *fixture) waitMetric(t *testing.T, name string) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case got := <-f.stats.names:
			if got == name {
				return
			}
		case <-deadline:
			t.Fatalf("metric %q not emitted within %s", name, waitFor)
		}
	}
}

// measures returns the recorded measures named name whose tags include
// every tag given.
func (f *fixture) measures(name, field string, tags ...stats.Tag) []stats.Measure {
	var out []stats.Measure
	for _, m := range f.stats.Measures() {
		if m.Name != name || len(m.Fields) == 0 || m.Fields[0].Name != field {
			continue
		}
		if hasTags(m.Tags, tags) {
			out = append(out, m)
		}
	}
	return out
}

func hasTags(have, want []stats.Tag) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out after %s waiting for %s", waitFor, what)
		var zero T
		return zero
	}
}

var _ io.Writer = (*syncBuffer)(nil)
