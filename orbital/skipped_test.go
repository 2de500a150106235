package orbital_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
)

// TestLateTicksCountedPerCase: when the scheduler comes more than a period late (here its
// assignment function stalls it, as a saturated machine would), the ticks it drops are
// counted per case, in orbital_run_ticks_skipped_total and SkippedTicks, and logged; the
// case runs again on its phase.
func TestLateTicksCountedPerCase(t *testing.T) {
	const period = 100 * time.Millisecond
	var stalled atomic.Bool
	f := newFixture(t, orbital.WithStartSpread(0), orbital.WithAssignment(func(name string) bool {
		if name == "late" && stalled.CompareAndSwap(false, true) {
			time.Sleep(3*period + period/2) // the stall under test, not synchronisation
		}
		return true
	}))
	f.register(t, orbital.TestCase{Name: "late", Period: period, Func: noop})
	if got, ok := f.svc.SkippedTicks("late"); !ok || got != (orbital.SkippedTicks{}) {
		t.Fatalf("SkippedTicks before Run = %+v, %v; want zeros, true", got, ok)
	}
	startRun(t, f.svc)
	f.next(t, "late") // the stalled tick's run
	f.next(t, "late") // the next one: its tick counted the dropped ones first

	skipped, _ := f.svc.SkippedTicks("late")
	// The tick right after the stall may find the stalled tick's run still going: an overlap.
	if skipped.Late < 2 {
		t.Errorf("SkippedTicks = %+v, want Late >= 2 (a 350ms stall at 100ms)", skipped)
	}
	var counted int64
	for _, m := range f.measures("orbital.run", "ticks_skipped_total", caseTag("late")) {
		counted += m.Fields[0].Value.Int()
	}
	if counted != skipped.Late {
		t.Errorf("orbital_run_ticks_skipped_total{case=late} added %d, SkippedTicks says %d", counted, skipped.Late)
	}
	if !strings.Contains(f.logs.String(), `"msg":"ticks skipped: the scheduler was late by more than a period","case":"late"`) {
		t.Errorf("no log line for the dropped ticks:\n%s", f.logs.String())
	}
	if _, ok := f.svc.SkippedTicks("nope"); ok {
		t.Error("SkippedTicks of an unregistered case reports ok")
	}
}

// TestTicksSkippedCreatedAtZero: Register creates orbital_run_ticks_skipped_total{case} at 0,
// so the first dropped tick is an increase() Prometheus sees.
func TestTicksSkippedCreatedAtZero(t *testing.T) {
	prom := &prometheus.Handler{}
	svc := orbital.New(orbital.WithStats(stats.NewEngine("orbital", prom)),
		orbital.WithOutput(&syncBuffer{}), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	if err := svc.Register(orbital.TestCase{Name: "a", Period: time.Second, Func: noop}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := fmt.Sprintf(`orbital_run_ticks_skipped_total{case=%q} 0 `, "a"); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics after Register lacks %s:\n%s", want, rec.Body.String())
	}
}

// Overlap skips show in SkippedTicks too.
func TestOverlapSkipsInSkippedTicks(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, orbital.WithStartSpread(0))
	f.register(t, orbital.TestCase{Name: "slow", Period: 20 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) {
		<-release
	}})
	startRun(t, f.svc)
	f.waitMetric(t, "orbital.run.overlap_skipped_total")
	close(release)
	if got, _ := f.svc.SkippedTicks("slow"); got.Overlap < 1 {
		t.Errorf("SkippedTicks = %+v, want Overlap >= 1", got)
	}
}
