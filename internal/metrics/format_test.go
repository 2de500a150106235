package metrics_test

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/metrics"
)

// TestFormat checks the exposition of a real stats/v4 handler: # HELP and # TYPE once per family
// before its samples, histogram buckets ascending by numeric le with +Inf last followed by
// _sum and _count, and no timestamps.
func TestFormat(t *testing.T) {
	h := metrics.NewHandler()
	e := stats.NewEngine("orbital", h)
	e.Add("runs_total", 0, stats.T("case", "track"), stats.T("outcome", "fail"))
	e.Incr("runs_total", stats.T("case", "track"), stats.T("outcome", "pass"))
	e.Set("case.period_seconds", 30*time.Second, stats.T("case", "track"))
	for _, c := range []string{"track", "batch"} {
		for _, d := range []time.Duration{3 * time.Millisecond, 2 * time.Second, 20 * time.Second, time.Hour} {
			e.Observe("delivery.latency_seconds", d, stats.T("case", c))
		}
	}
	var buf bytes.Buffer
	h.WriteStats(&buf)
	out := string(metrics.Format(buf.Bytes()))

	helps, typs := map[string]int{}, map[string]string{}
	var cur string
	lastLE := map[string]float64{}
	sawInf := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "# HELP "):
			helps[f[2]]++
			cur = f[2]
			if len(f) < 4 {
				t.Errorf("HELP without text: %q", line)
			}
			continue
		case strings.HasPrefix(line, "# TYPE "):
			if f[2] != cur {
				t.Errorf("TYPE %s not right after its HELP (%s)", f[2], cur)
			}
			typs[f[2]] = f[3]
			continue
		case strings.HasPrefix(line, "#"), line == "":
			t.Errorf("unexpected line %q", line)
			continue
		}
		if len(f) != 2 {
			t.Errorf("sample %q has %d fields, want name and value only (no timestamp)", line, len(f))
		}
		name, _, _ := strings.Cut(f[0], "{")
		if !strings.HasPrefix(name, cur) {
			t.Errorf("sample %q outside its family (current %s)", line, cur)
		}
		if strings.HasSuffix(name, "_bucket") {
			series := strings.Split(f[0], ",le=")[0]
			le := f[0][strings.Index(f[0], `le="`)+4:]
			le = le[:strings.IndexByte(le, '"')]
			v := math.Inf(1)
			if le != "+Inf" {
				var err error
				if v, err = strconv.ParseFloat(le, 64); err != nil {
					t.Fatal(err)
				}
			}
			if prev, ok := lastLE[series]; ok && v <= prev {
				t.Errorf("bucket le=%s after le=%g in %s", le, prev, series)
			}
			if sawInf[series] {
				t.Errorf("bucket after +Inf in %s", series)
			}
			lastLE[series], sawInf[series] = v, le == "+Inf"
		}
	}
	for _, fam := range []string{"orbital_runs_total", "orbital_case_period_seconds", "orbital_delivery_latency_seconds"} {
		if helps[fam] != 1 {
			t.Errorf("%s has %d HELP lines, want 1", fam, helps[fam])
		}
	}
	if typs["orbital_delivery_latency_seconds"] != "histogram" || typs["orbital_runs_total"] != "counter" || typs["orbital_case_period_seconds"] != "gauge" {
		t.Errorf("types = %v", typs)
	}
	if len(lastLE) != 2 || !sawInf[`orbital_delivery_latency_seconds_bucket{case="track"`] {
		t.Errorf("histogram series = %v, want two ending in +Inf", sawInf)
	}
	for _, want := range []string{
		`orbital_runs_total{case="track",outcome="fail"} 0`,
		// 10 s is a bound the latency SLO uses; 2 of 4 deliveries are within it.
		`orbital_delivery_latency_seconds_bucket{case="track",le="10"} 2`,
		`orbital_delivery_latency_seconds_bucket{case="track",le="+Inf"} 4`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %s", want)
		}
	}
	// _sum and _count follow their series' buckets.
	if i, j := strings.Index(out, `orbital_delivery_latency_seconds_bucket{case="track",le="+Inf"}`), strings.Index(out, `orbital_delivery_latency_seconds_count{case="track"}`); i < 0 || j < i {
		t.Errorf("_count of track before its buckets")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func TestFormatKeepsEscapedLabels(t *testing.T) {
	in := "# TYPE a counter\na{x=\"q\\\"} ,le=1\"} 2 1700000000000\nb 3\n"
	want := "# HELP a See docs/metrics.md.\n# TYPE a counter\na{x=\"q\\\"} ,le=1\"} 2\n# HELP b See docs/metrics.md.\n# TYPE b untyped\nb 3\n"
	if got := string(metrics.Format([]byte(in))); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

// TestFormatHistogramsSharingAFieldName checks two histograms whose stats/v4 names end in the
// same field ("delivery.latency_seconds", "hop.latency_seconds"): stats/v4 gives them one TYPE
// line between them, and both must still be exposed as histograms with every bucket in order.
func TestFormatHistogramsSharingAFieldName(t *testing.T) {
	h := metrics.NewHandler()
	e := stats.NewEngine("orbital", h)
	e.Observe("delivery.latency_seconds", 10*time.Millisecond, stats.T("case", "track"))
	e.Observe("hop.latency_seconds", 3*time.Millisecond, stats.T("case", "track"), stats.T("hop", "api"))
	var buf bytes.Buffer
	h.WriteStats(&buf)
	out := string(metrics.Format(buf.Bytes()))
	for _, fam := range []string{"orbital_delivery_latency_seconds", "orbital_hop_latency_seconds"} {
		if !strings.Contains(out, "# TYPE "+fam+" histogram\n") {
			t.Errorf("%s is not a histogram:\n%s", fam, out)
		}
		if strings.Contains(out, "# TYPE "+fam+"_bucket") {
			t.Errorf("%s_bucket exposed as a family of its own:\n%s", fam, out)
		}
		i, j := strings.Index(out, fam+`_bucket{case="track"`), strings.Index(out, fam+"_count{")
		if i < 0 || j < i || !strings.Contains(out[i:j], `le="10"`) || !strings.Contains(out[i:j], `le="+Inf"`) {
			t.Errorf("%s: buckets missing or not before _count:\n%s", fam, out)
		}
	}
}
