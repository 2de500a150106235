package check_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/deploy/check"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    []string
		wantErr string
	}{
		{name: "plain", query: `up`, want: []string{"up"}},
		{name: "ratio of rates", query: `sum(rate(a_total{x="1"}[5m])) / sum(rate(b_total[5m]))`, want: []string{"a_total", "b_total"}},
		{name: "dedupe and sort", query: `z + a + z`, want: []string{"a", "z"}},
		{name: "name matcher", query: `{__name__="x_total", job="j"}`, want: []string{"x_total"}},
		{name: "histogram", query: `histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))`, want: []string{"h_bucket"}},
		{name: "absent and time", query: `time() - max(last_ts) > 3 or absent(up{job="x"})`, want: []string{"last_ts", "up"}},
		{name: "syntax error", query: `sum(rate(x[5m])`, wantErr: "parse"},
		{name: "no metric name", query: `{job="x"}`, wantErr: "no fixed metric name"},
		{name: "regexp name", query: `{__name__=~"a|b"}`, wantErr: "no fixed metric name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := check.MetricNames(tt.query)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MetricNames(%q) error = %v, want one containing %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("MetricNames(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestExpandGrafanaVars(t *testing.T) {
	tests := []struct{ in, want string }{
		{`rate(x{env=~"$env"}[$__rate_interval])`, `rate(x{env=~"x"}[5m])`},
		{`increase(x{case=~"${case}"}[$__range])`, `increase(x{case=~"x"}[5m])`},
		{`x{case=~"${case:regex}"}[$__interval]`, `x{case=~"x"}[5m]`},
		{`sum(x)`, `sum(x)`},
	}
	for _, tt := range tests {
		if got := check.ExpandGrafanaVars(tt.in); got != tt.want {
			t.Errorf("ExpandGrafanaVars(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFamilyName(t *testing.T) {
	allowed := map[string]bool{"h_seconds": true, "c_total": true, "g": true}
	tests := []struct{ in, want string }{
		{"c_total", "c_total"},
		{"h_seconds_bucket", "h_seconds"},
		{"h_seconds_sum", "h_seconds"},
		{"h_seconds_count", "h_seconds"},
		{"g_count", "g"},
		{"c_total_bucket", "c_total"},
		{"nope_bucket", ""},
		{"h", ""},
	}
	for _, tt := range tests {
		if got := check.FamilyName(tt.in, allowed); got != tt.want {
			t.Errorf("FamilyName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnknownNames(t *testing.T) {
	allowed := map[string]bool{"a_total": true, "h_seconds": true}
	exprs := []check.Expr{
		{Source: "ok", Query: `rate(a_total[5m]) + rate(h_seconds_count[5m])`},
		{Source: "typo", Query: `rate(a_totl[5m])`},
		{Source: "broken", Query: `rate(a_total[5m]`},
	}
	errs := check.UnknownNames(exprs, allowed)
	if len(errs) != 2 {
		t.Fatalf("UnknownNames = %v, want 2 errors", errs)
	}
	if !strings.Contains(errs[0].Error(), `typo: metric "a_totl" is not exported`) {
		t.Errorf("first error = %v", errs[0])
	}
	if !strings.HasPrefix(errs[1].Error(), "broken: parse") {
		t.Errorf("second error = %v", errs[1])
	}
}
