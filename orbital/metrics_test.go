package orbital_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
)

func caseTag(name string) stats.Tag { return stats.T("case", name) }

func TestRunMetrics(t *testing.T) {
	f := newFixture(t)
	team := stats.T("team", "pipeline")
	for _, tc := range []orbital.TestCase{
		{Name: "ok", Func: noop},
		{Name: "bad", Func: func(_ context.Context, o *orbital.O) { o.Error("x") }},
		{Name: "slow", Timeout: 20 * time.Millisecond, Func: func(ctx context.Context, o *orbital.O) { <-ctx.Done() }},
		{Name: "sub", Func: func(_ context.Context, o *orbital.O) { o.Run("child", noop) }},
	} {
		tc.Period = 90 * time.Second
		tc.Tags = []stats.Tag{team}
		f.register(t, tc)
	}
	f.svc.RunOnce(context.Background(), nil)

	tests := []struct {
		measure, field string
		tags           []stats.Tag
		want           int
	}{
		{"orbital", "runs_total", []stats.Tag{caseTag("ok"), stats.T("outcome", "pass"), team}, 1},
		{"orbital", "runs_total", []stats.Tag{caseTag("bad"), stats.T("outcome", "fail"), team}, 1},
		{"orbital", "runs_total", []stats.Tag{caseTag("slow"), stats.T("outcome", "fail"), team}, 1},
		{"orbital", "runs_total", []stats.Tag{caseTag("ok"), stats.T("outcome", "skip"), team}, 0},
		{"orbital", "runs_total", []stats.Tag{caseTag("sub/child"), stats.T("outcome", "pass"), team}, 1},
		{"orbital.run", "duration_seconds", []stats.Tag{caseTag("ok"), stats.T("outcome", "pass"), team}, 1},
		{"orbital.run", "duration_seconds", []stats.Tag{caseTag("bad"), stats.T("outcome", "fail"), team}, 1},
		{"orbital.run", "duration_seconds", []stats.Tag{caseTag("sub/child"), stats.T("outcome", "pass"), team}, 1},
		{"orbital.run", "timeouts_total", []stats.Tag{caseTag("slow"), team}, 1},
		{"orbital.run", "timeouts_total", []stats.Tag{caseTag("bad")}, 0},
		{"orbital.run", "overlap_skipped_total", []stats.Tag{caseTag("bad")}, 0},
		{"orbital", "runs_in_flight", []stats.Tag{caseTag("ok"), team}, 2}, // set at start and end
		{"orbital.case", "last_run_timestamp_seconds", []stats.Tag{caseTag("ok"), team}, 1},
		{"orbital.case", "period_seconds", []stats.Tag{caseTag("ok"), team}, 2}, // Register and run end
		{"orbital.case", "registered_timestamp_seconds", []stats.Tag{caseTag("ok"), team}, 1},
		{"orbital.case", "timeout_seconds", []stats.Tag{caseTag("slow"), team}, 2},
	}
	for _, tt := range tests {
		got := f.measures(tt.measure, tt.field, tt.tags...)
		if len(got) != tt.want {
			t.Errorf("%s.%s %v: %d measures, want %d", tt.measure, tt.field, tt.tags, len(got), tt.want)
		}
	}
	inFlight := f.measures("orbital", "runs_in_flight", caseTag("ok"))
	if len(inFlight) == 2 {
		if a, b := inFlight[0].Fields[0].Value.Int(), inFlight[1].Fields[0].Value.Int(); a != 1 || b != 0 {
			t.Errorf("runs_in_flight went %d then %d, want 1 then 0", a, b)
		}
	}
	period := f.measures("orbital.case", "period_seconds", caseTag("ok"))
	if len(period) > 0 {
		if got := period[0].Fields[0].Value.Duration(); got != 90*time.Second {
			t.Errorf("case.period_seconds = %v, want 90s", got)
		}
	}
}

// TestPrometheusNames checks the names users see at /metrics, as listed in
// docs/metrics.md.
func TestPrometheusNames(t *testing.T) {
	buckets := stats.HistogramBuckets{}
	for _, key := range []string{"orbital.run.duration_seconds", "orbital.delivery.latency_seconds"} {
		buckets.Set(key, 0.1, 1, math.Inf(1))
	}
	prom := &prometheus.Handler{Buckets: buckets}
	svc := orbital.New(orbital.WithStats(stats.NewEngine("orbital", prom)),
		orbital.WithOutput(&syncBuffer{}), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	err := svc.Register(orbital.TestCase{Name: "prom", Period: time.Minute, Timeout: 10 * time.Millisecond,
		Tags: []stats.Tag{stats.T("team", "x")},
		Func: func(ctx context.Context, o *orbital.O) {
			o.Measure("delivery.latency", 5*time.Millisecond)
			<-ctx.Done()
		}})
	if err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(context.Background(), nil)

	rec := httptest.NewRecorder()
	prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`orbital_runs_total{case="prom",outcome="fail",team="x"} 1`,
		`orbital_run_timeouts_total{case="prom",team="x"} 1`,
		`orbital_run_duration_seconds_count{case="prom",outcome="fail",team="x"} 1`,
		`orbital_runs_in_flight{case="prom",team="x"} 0`,
		`orbital_case_last_run_timestamp_seconds{case="prom",team="x"}`,
		`orbital_case_period_seconds{case="prom",team="x"} 60`,
		`orbital_case_registered_timestamp_seconds{case="prom",team="x"} 1`,
		`orbital_case_timeout_seconds{case="prom",team="x"} 0.01`,
		`orbital_delivery_latency_seconds_count{case="prom",team="x"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestRegisterCreatesCountersAtZero: every series a rule reads exists at 0 from Register on,
// before any run, for every outcome (orbital.Outcomes), so the first failure is an increase.
func TestRegisterCreatesCountersAtZero(t *testing.T) {
	prom := &prometheus.Handler{}
	svc := orbital.New(orbital.WithStats(stats.NewEngine("orbital", prom)),
		orbital.WithOutput(&syncBuffer{}), orbital.WithLogger(slog.New(slog.DiscardHandler)),
		orbital.WithTimeout(2*time.Minute))
	for _, name := range []string{"a", "b"} {
		if err := svc.Register(orbital.TestCase{Name: name, Period: 30 * time.Second, Func: noop}); err != nil {
			t.Fatal(err)
		}
	}
	rec := httptest.NewRecorder()
	prom.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	outcomes := orbital.Outcomes()
	if len(outcomes) < 3 {
		t.Fatalf("Outcomes() = %v, want at least pass, fail, skip", outcomes)
	}
	for _, name := range []string{"a", "b"} {
		want := []string{
			fmt.Sprintf(`orbital_run_timeouts_total{case=%q} 0 `, name),
			fmt.Sprintf(`orbital_run_overlap_skipped_total{case=%q} 0 `, name),
			fmt.Sprintf(`orbital_case_timeout_seconds{case=%q} 120 `, name),
			fmt.Sprintf(`orbital_case_period_seconds{case=%q} 30 `, name),
		}
		for _, oc := range outcomes {
			want = append(want, fmt.Sprintf(`orbital_runs_total{case=%q,outcome=%q} 0 `, name, oc))
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("/metrics after Register lacks %s", w)
			}
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func TestDefaultEngineIsNotTheGlobalOne(t *testing.T) {
	// Without WithStats, o.Stats() still works (it discards).
	svc := orbital.New(orbital.WithOutput(&syncBuffer{}), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	var engine *stats.Engine
	if err := svc.Register(orbital.TestCase{Name: "e", Period: time.Minute, Func: func(_ context.Context, o *orbital.O) {
		engine = o.Stats()
		o.Stats().Incr("x")
	}}); err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(context.Background(), nil)
	if engine == nil || engine == stats.DefaultEngine || engine.Handler == stats.DefaultEngine.Handler && stats.DefaultEngine.Handler != stats.Discard {
		t.Errorf("o.Stats() = %v, want a private discarding engine", engine)
	}
}

type panickyReporter struct{}

func (panickyReporter) Report(orbital.Result) { panic("reporter bug") }

func TestPanickingReporterDoesNotStopTheService(t *testing.T) {
	f := newFixture(t, orbital.WithReporter(panickyReporter{}))
	if res := runOne(t, f, "rep", noop); res.Outcome != orbital.Pass {
		t.Errorf("Outcome = %q", res.Outcome)
	}
	// Reporters after the panicking one still get the result.
	f2 := newFixture(t)
	svc := orbital.New(orbital.WithReporter(panickyReporter{}), orbital.WithReporter(f2.results),
		orbital.WithOutput(&syncBuffer{}), orbital.WithLogger(slog.New(slog.DiscardHandler)))
	if err := svc.Register(orbital.TestCase{Name: "rep2", Period: time.Hour, Func: noop}); err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(context.Background(), nil)
	if got := recv(t, f2.results, "the second reporter's result"); got.Case != "rep2" {
		t.Errorf("second reporter got %q", got.Case)
	}
	if !strings.Contains(f.logs.String(), "reporter panicked") {
		t.Error("reporter panic not logged")
	}
}
