package check_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/deploy/check"
)

func TestExposedNames(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{
			name: "typed, with timestamps as stats/v4 writes them",
			in: `# TYPE orbital_runs_total counter
orbital_runs_total{case="track",outcome="pass"} 3 1496614320000
# TYPE orbital_run_duration_seconds histogram
orbital_run_duration_seconds_bucket{case="track",outcome="pass",le="1"} 2 1496614320000
orbital_run_duration_seconds_bucket{case="track",outcome="pass",le="+Inf"} 3 1496614320000
orbital_run_duration_seconds_sum{case="track",outcome="pass"} 2.5 1496614320000
orbital_run_duration_seconds_count{case="track",outcome="pass"} 3 1496614320000
`,
			want: []string{"orbital_run_duration_seconds", "orbital_runs_total"},
		},
		{
			name: "untyped histogram series fold into their family",
			in: `h_bucket{le="+Inf"} 1
h_sum 0.5
h_count 1
g 7
`,
			want: []string{"g", "h"},
		},
		{name: "garbage", in: "{{{\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := check.ExposedNames(strings.NewReader(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ExposedNames = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, tt.want) {
				t.Fatalf("ExposedNames = %q, want %q", names, tt.want)
			}
		})
	}
}

func TestDocumentedNames(t *testing.T) {
	doc := "# Metrics\nText mentioning `orbital_not_a_row` outside a table.\n" +
		"| `orbital_runs_total` | counter | case |\n" +
		"| `pipeline_ingested_total`, `pipeline_rejected_total{reason}` | counters |\n"
	got, err := check.DocumentedNames(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"orbital_runs_total", "pipeline_ingested_total", "pipeline_rejected_total"}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Fatalf("DocumentedNames = %q, want %q", names, want)
	}
	if _, err := check.DocumentedNames(strings.NewReader("no names here\n")); err == nil {
		t.Fatal("DocumentedNames on a doc without names: want an error")
	}
}
