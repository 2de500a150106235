package orbital_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
)

// quietService is a Service that emits nothing, so benchmarks measure the
// scheduler and run machinery only.
func quietService(opts ...orbital.Option) *orbital.Service {
	base := []orbital.Option{
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(slog.New(slog.DiscardHandler)),
	}
	return orbital.New(append(base, opts...)...)
}

// BenchmarkRunOverhead is the cost of one run of a no-op case through
// RunOnce (trace id, context with timeout, test goroutine, result, metrics,
// output) against a baseline of starting a goroutine and waiting for it.
func BenchmarkRunOverhead(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline=goroutine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			go func() {
				noop(ctx, nil)
				close(done)
			}()
			<-done
		}
	})
	b.Run("orbital=RunOnce", func(b *testing.B) {
		svc := quietService()
		if err := svc.Register(orbital.TestCase{Name: "noop", Period: time.Second, Func: noop}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			svc.RunOnce(ctx, nil)
		}
	})
}

// BenchmarkScheduler is the scheduler's own cost per run when it is
// saturated: 1,000 no-op cases at a 1ms period ask for far more runs than
// the machine can do, so ns/op is the wall time per scheduled run.
func BenchmarkScheduler(b *testing.B) {
	var runs atomic.Int64
	target := int64(b.N)
	done := make(chan struct{})
	svc := quietService(orbital.WithStartSpread(time.Millisecond))
	for i := range 1000 {
		err := svc.Register(orbital.TestCase{Name: fmt.Sprintf("noop-%d", i), Period: time.Millisecond,
			Func: func(context.Context, *orbital.O) {
				if runs.Add(1) == target {
					close(done)
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() { errc <- svc.Run(ctx) }()
	<-done
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// lagReport is how well a Service kept the schedule of n no-op cases.
type lagReport struct {
	runs, expected int
	skipped        int64
	p50, p99, max  time.Duration
}

func (r lagReport) String() string {
	return fmt.Sprintf("%d runs of %d expected, %d overlap skips, start lag p50 %s p99 %s max %s",
		r.runs, r.expected, r.skipped, r.p50, r.p99, r.max)
}

// countHandler counts overlap-skip measures.
type countHandler struct{ skipped atomic.Int64 }

func (h *countHandler) HandleMeasures(_ time.Time, ms ...stats.Measure) {
	for _, m := range ms {
		for _, f := range m.Fields {
			if f.Name == "overlap_skipped_total" && !isPretouch(f) {
				h.skipped.Add(1)
			}
		}
	}
}

// keepSchedule runs n no-op cases with the given period for window and
// measures each run's start against its case's ideal schedule: the case's
// first start plus whole periods. Ticks a case should have had but did not
// show up as runs < expected.
func keepSchedule(tb testing.TB, n int, period, window time.Duration) lagReport {
	tb.Helper()
	type caseStarts struct {
		mu     sync.Mutex
		starts []time.Time
	}
	all := make([]*caseStarts, n)
	counter := &countHandler{}
	svc := quietService(orbital.WithStats(stats.NewEngine("orbital", counter)))
	for i := range n {
		cs := &caseStarts{}
		all[i] = cs
		err := svc.Register(orbital.TestCase{Name: fmt.Sprintf("noop-%05d", i), Period: period,
			Func: func(context.Context, *orbital.O) {
				now := time.Now()
				cs.mu.Lock()
				cs.starts = append(cs.starts, now)
				cs.mu.Unlock()
			}})
		if err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	runStart := time.Now()
	if err := svc.Run(ctx); err != nil {
		tb.Fatal(err)
	}
	end := runStart.Add(window)

	var r lagReport
	var lags []time.Duration
	for _, cs := range all {
		cs.mu.Lock()
		starts := cs.starts
		cs.mu.Unlock()
		r.runs += len(starts)
		if len(starts) == 0 {
			r.expected++ // it never ran at all
			continue
		}
		first := starts[0]
		r.expected += int(end.Sub(first)/period) + 1
		for k, s := range starts[1:] {
			ideal := first.Add(time.Duration(k+1) * period)
			lags = append(lags, max(s.Sub(ideal), 0))
		}
	}
	r.skipped = counter.skipped.Load()
	if len(lags) > 0 {
		slices.Sort(lags)
		r.p50 = lags[len(lags)/2]
		r.p99 = lags[len(lags)*99/100]
		r.max = lags[len(lags)-1]
	}
	return r
}

// BenchmarkTenThousandCases runs 10,000 no-op cases at a 1s period for 5s
// (whatever b.N is; run it with -benchtime=1x) and reports how well the
// schedule was kept.
func BenchmarkTenThousandCases(b *testing.B) {
	var r lagReport
	for b.Loop() {
		r = keepSchedule(b, 10000, time.Second, 5*time.Second)
	}
	b.ReportMetric(float64(r.runs), "runs")
	b.ReportMetric(float64(max(r.expected-r.runs, 0)), "missed")
	b.ReportMetric(float64(r.skipped), "overlaps")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "lag-p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "lag-p99-ms")
	b.ReportMetric(float64(r.max.Microseconds())/1000, "lag-max-ms")
	b.Log(r)
}

// TestManyCasesKeepSchedule is the CI-sized version of
// BenchmarkTenThousandCases, light enough for the race detector on a busy
// machine: 500 cases at 500ms (1,000 runs a second).
func TestManyCasesKeepSchedule(t *testing.T) {
	const period = 500 * time.Millisecond
	r := keepSchedule(t, 500, period, 1500*time.Millisecond)
	t.Log(r)
	if r.skipped != 0 {
		t.Errorf("%d overlap skips for no-op cases", r.skipped)
	}
	if r.runs < r.expected*9/10 {
		t.Errorf("%d runs, want at least 90%% of the %d expected", r.runs, r.expected)
	}
	if r.p99 > period/2 {
		t.Errorf("start lag p99 %s, want under half a period", r.p99)
	}
}
