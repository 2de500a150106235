// Package metrics wires stats/v4 to Prometheus for the orbital binaries: one place that knows
// every histogram orbital and the example pipeline emit and registers its buckets, so that
// Prometheus sees full histograms and not only _count and _sum.
package metrics

import (
	"math"
	"time"

	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/prometheus"
)

// DurationBuckets are the upper bounds, in seconds, used for every duration histogram:
// from 5 ms (a fast local pipeline) to 10 minutes (the default run timeout), ending in +Inf.
// 1, 5, 10, 30 and 60 seconds are always bounds, so latency SLOs can be written on them.
var durationBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, math.Inf(1),
}

// DurationBuckets returns a copy of the bucket bounds, in seconds, used for every duration
// histogram: 5 ms up to 10 minutes, ending in +Inf. 1, 5, 10, 30 and 60 s are always bounds.
func DurationBuckets() []float64 { return append([]float64(nil), durationBuckets...) }

// Histograms lists the full dotted stats/v4 keys (prefix.measure.field) of every duration
// histogram that orbital's packages emit, for the engine prefixes the binaries use.
var histograms = []string{
	"orbital.run.duration_seconds",
	"orbital.delivery.latency_seconds",
	"orbital.hop.latency_seconds",
	"orbital.cluster.relay_latency_seconds",
	"pipeline.delivery.latency_seconds",
}

// Buckets returns a bucket registry holding DurationBuckets for every histogram orbital emits,
// plus any extra keys given (full dotted names such as "orbital.my.thing_seconds").
func Buckets(extra ...string) stats.HistogramBuckets {
	b := stats.HistogramBuckets{}
	vals := make([]any, len(durationBuckets))
	for i, v := range durationBuckets {
		vals[i] = v
	}
	for _, k := range append(append([]string(nil), histograms...), extra...) {
		b.Set(k, vals...)
	}
	return b
}

// NewHandler returns a Prometheus exposition handler (an http.Handler for /metrics and a
// stats.Handler for an engine) with every orbital histogram's buckets registered.
//
// Metrics stay exposed for 25 hours without updates (stats/v4's default is 2 minutes), so a
// case with a long period does not vanish from /metrics between runs.
func NewHandler(extra ...string) *prometheus.Handler {
	return &prometheus.Handler{
		Buckets:       Buckets(extra...),
		MetricTimeout: 25 * time.Hour,
	}
}
