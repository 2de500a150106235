package check_test

import (
	"fmt"
	"strings"

	"github.com/orbital-e2e/orbital/deploy/check"
)

// Check a Grafana-style query against the metric names a service exports.
func Example() {
	exposition := `# TYPE orbital_runs_total counter
orbital_runs_total{case="track",outcome="pass"} 12
# TYPE orbital_delivery_latency_seconds histogram
orbital_delivery_latency_seconds_bucket{case="track",le="10"} 12
orbital_delivery_latency_seconds_bucket{case="track",le="+Inf"} 12
orbital_delivery_latency_seconds_sum{case="track"} 3.2
orbital_delivery_latency_seconds_count{case="track"} 12
`
	exported, err := check.ExposedNames(strings.NewReader(exposition))
	if err != nil {
		panic(err)
	}
	exprs := []check.Expr{
		{Source: "good panel", Query: check.ExpandGrafanaVars(
			`sum by (le) (rate(orbital_delivery_latency_seconds_bucket{case=~"$case"}[$__rate_interval]))`)},
		{Source: "typo panel", Query: `rate(orbital_run_total[5m])`},
	}
	for _, err := range check.UnknownNames(exprs, exported) {
		fmt.Println(err)
	}
	// Output:
	// typo panel: metric "orbital_run_total" is not exported
}

func ExampleMetricNames() {
	names, err := check.MetricNames(`time() - max by (case) (orbital_case_last_run_timestamp_seconds) > 3 * max by (case) (orbital_case_period_seconds)`)
	if err != nil {
		panic(err)
	}
	fmt.Println(names)
	// Output:
	// [orbital_case_last_run_timestamp_seconds orbital_case_period_seconds]
}
