package metrics_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/metrics"
)

func TestHistogramsExportBuckets(t *testing.T) {
	h := metrics.NewHandler("orbital.custom.thing_seconds")
	e := stats.NewEngine("orbital", h)
	e.Observe("run.duration_seconds", 1500*time.Millisecond, stats.T("case", "track"))
	e.Observe("delivery.latency_seconds", 20*time.Millisecond, stats.T("case", "track"))
	e.Observe("custom.thing_seconds", 3*time.Second)
	p := stats.NewEngine("pipeline", h)
	p.Observe("delivery.latency_seconds", time.Second)

	var buf bytes.Buffer
	h.WriteStats(&buf)
	out := buf.String()
	for _, want := range []string{
		`orbital_run_duration_seconds_bucket{case="track",le="2.5"} 1`,
		`orbital_run_duration_seconds_bucket{case="track",le="1"} 0`,
		`orbital_run_duration_seconds_bucket{case="track",le="+Inf"} 1`,
		`orbital_delivery_latency_seconds_bucket{case="track",le="0.025"} 1`,
		`orbital_custom_thing_seconds_bucket{le="5"} 1`,
		`pipeline_delivery_latency_seconds_bucket{le="1"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q\n%s", want, out)
		}
	}
}

func TestDurationBucketsAreSortedAndEndInInf(t *testing.T) {
	b := metrics.DurationBuckets()
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			t.Fatalf("buckets not increasing at %d: %v", i, b)
		}
	}
	if last := b[len(b)-1]; last < 1e300 {
		t.Fatalf("last bucket = %v, want +Inf", last)
	}
	b[0] = 42
	if metrics.DurationBuckets()[0] == 42 {
		t.Fatal("DurationBuckets returned the shared slice")
	}
}
