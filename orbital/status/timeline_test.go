package status_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// within reports whether got is within 12% of want (the histogram's bound).
func within(got *float64, want time.Duration) bool {
	return got != nil && math.Abs(*got-want.Seconds()) <= 0.12*want.Seconds()
}

// TestTimeline: per-minute and per-quarter buckets carry outcome counts and
// p50/p99 of duration and delivery latency, oldest first, the current slot
// last; Feed buckets runs by their own start.
func TestTimeline(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 30, 30, 0, time.UTC)
	clk := &testClock{t: now}
	f := newFixture(t, status.Config{Now: clk.Now}, passing("track"), passing("idle"))

	// 100 passing runs in the current minute: latency 1..100 ms, duration 2x.
	for i := 1; i <= 100; i++ {
		r := at("track", orbital.Pass, now.Add(-time.Second), fmt.Sprint(i))
		r.Duration = time.Duration(2*i) * time.Millisecond
		r.Measures = map[string]time.Duration{orbital.DeliveryLatency: time.Duration(i) * time.Millisecond}
		f.st.Report(r)
	}
	// One failure and an inconclusive run (no duration counted) the minute before.
	clk.Set(now.Add(-time.Minute))
	f.st.Report(at("track", orbital.Fail, now.Add(-time.Minute), "f"))
	inc := at("track", orbital.Inconclusive, now.Add(-time.Minute), "i")
	inc.Duration = time.Hour
	f.st.Report(inc)
	clk.Set(now)

	var tl status.Timeline
	getJSON(t, f.srv.URL+"/api/cases/track/timeline", http.StatusOK, &tl)
	if len(tl.Minutes) != 60 || len(tl.Quarters) != 96 {
		t.Fatalf("timeline has %d minutes and %d quarters, want 60 and 96", len(tl.Minutes), len(tl.Quarters))
	}
	cur := tl.Minutes[59]
	if !cur.Start.Equal(now.Truncate(time.Minute)) || cur.Pass != 100 || cur.Ratio.Ratio == nil || *cur.Ratio.Ratio != 1 {
		t.Errorf("current minute = %+v, want 100 passes from %v", cur, now.Truncate(time.Minute))
	}
	if !within(cur.LatencyP50, 50*time.Millisecond) || !within(cur.LatencyP99, 99*time.Millisecond) ||
		!within(cur.DurationP50, 100*time.Millisecond) || !within(cur.DurationP99, 198*time.Millisecond) {
		t.Errorf("current minute quantiles p50/p99 latency %v/%v duration %v/%v, want ~50ms/99ms and ~100ms/198ms",
			*cur.LatencyP50, *cur.LatencyP99, *cur.DurationP50, *cur.DurationP99)
	}
	prev := tl.Minutes[58]
	if prev.Fail != 1 || prev.Inconclusive != 1 || prev.LatencyP50 != nil || !within(prev.DurationP99, 50*time.Millisecond) {
		t.Errorf("previous minute = %+v, want 1 fail, 1 inconclusive (its hour-long run not in the durations), no latency", prev)
	}
	if q := tl.Quarters[95]; !q.Start.Equal(time.Date(2030, 1, 2, 3, 30, 0, 0, time.UTC)) || q.Pass != 100 || q.Fail != 0 {
		t.Errorf("current quarter = %+v, want 100 passes from 03:30", q)
	}
	if q := tl.Quarters[94]; q.Fail != 1 || q.Inconclusive != 1 || q.Pass != 0 || q.LatencyP50 != nil {
		t.Errorf("previous quarter (03:15, holding 03:29:30) = %+v, want 1 fail and 1 inconclusive", q)
	}
	if q := tl.Quarters[93]; q.Pass+q.Fail+q.Skip+q.Inconclusive != 0 || q.DurationP50 != nil {
		t.Errorf("quarter of 03:00 = %+v, want empty", q)
	}
	for i := 1; i < 60; i++ {
		if d := tl.Minutes[i].Start.Sub(tl.Minutes[i-1].Start); d != time.Minute {
			t.Fatalf("minutes %d and %d are %v apart", i-1, i, d)
		}
	}

	// A registered case without runs has empty buckets; an unknown one is 404.
	getJSON(t, f.srv.URL+"/api/cases/idle/timeline", http.StatusOK, &tl)
	if len(tl.Quarters) != 96 || tl.Quarters[95].Ratio.Ratio != nil {
		t.Errorf("idle timeline = %d quarters, last %+v", len(tl.Quarters), tl.Quarters[95])
	}
	var e map[string]string
	getJSON(t, f.srv.URL+"/api/cases/nope/timeline", http.StatusNotFound, &e)

	// An hour later, the minute ring no longer holds them; the quarters do.
	clk.Set(now.Add(time.Hour))
	getJSON(t, f.srv.URL+"/api/cases/track/timeline", http.StatusOK, &tl)
	for _, m := range tl.Minutes {
		if m.Pass+m.Fail != 0 {
			t.Fatalf("an hour later a minute still counts runs: %+v", m)
		}
	}
	if q := tl.Quarters[91]; q.Pass != 100 || !within(q.LatencyP99, 99*time.Millisecond) {
		t.Errorf("quarter of 03:30 an hour later = %+v", q)
	}
}

// TestTimelineFed: Feed buckets a run by its own start, timings included.
func TestTimelineFed(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 30, 30, 0, time.UTC)
	f := newFixture(t, status.Config{Fed: true, Now: func() time.Time { return now }}, passing("track"))
	r := at("track", orbital.Pass, now.Add(-2*time.Hour), "old")
	r.Measures = map[string]time.Duration{orbital.DeliveryLatency: 300 * time.Millisecond}
	f.st.Feed(r, "a")
	var tl status.Timeline
	getJSON(t, f.srv.URL+"/api/cases/track/timeline", http.StatusOK, &tl)
	q := tl.Quarters[95-8] // 03:30 - 2 h = 01:30, eight quarters back
	if !q.Start.Equal(now.Add(-2*time.Hour).Truncate(15*time.Minute)) || q.Pass != 1 || !within(q.LatencyP50, 300*time.Millisecond) {
		t.Errorf("fed run's quarter = %+v, want 1 pass with 300 ms latency at 01:30", q)
	}
	if tl.Minutes[59].Pass != 0 {
		t.Errorf("fed run counted in the current minute: %+v", tl.Minutes[59])
	}
}

// BenchmarkCaseMemory measures the heap one case costs with a full history:
// 1440 runs (one a minute), every other one failing, each with a duration
// and a delivery latency. "spread" starts them over the last 24 h, so all
// 156 time buckets hold timings and 50 incidents are kept; "one-bucket"
// starts them all in the current minute (timings in one bucket: the
// baseline for the timeline's cost); "spread-passing" spreads them with no
// failure (the baseline for the incidents' cost). The run ring (200 runs,
// their measures and errors) is the same in all three.
func BenchmarkCaseMemory(b *testing.B) {
	for _, bc := range []struct {
		name            string
		spread, failing bool
	}{{"one-bucket", false, true}, {"spread-passing", true, false}, {"spread", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			const cases = 100
			end := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
			var perCase float64
			for b.Loop() {
				svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(quietLogger()))
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				st, err := status.New(status.Config{Service: svc, Fed: true, Now: func() time.Time { return end }})
				if err != nil {
					b.Fatal(err)
				}
				for c := range cases {
					name := fmt.Sprintf("case-%03d", c)
					for m := range 24 * 60 {
						start := end.Add(-time.Duration(24*60-m) * time.Millisecond)
						if bc.spread {
							start = end.Add(-time.Duration(24*60-m) * time.Minute)
						}
						r := orbital.Result{Case: name, TraceID: "0af7651916cd43dd8448eb211c80319c", Start: start,
							Duration: time.Duration(m%97+1) * time.Millisecond, Outcome: orbital.Pass, Error: "not delivered within 20s",
							Measures: map[string]time.Duration{orbital.DeliveryLatency: time.Duration(m%89+1) * time.Millisecond}}
						if bc.failing && m%2 == 0 {
							r.Outcome = orbital.Fail
						}
						st.Feed(r, "a")
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perCase = float64(after.HeapAlloc-before.HeapAlloc) / cases
				runtime.KeepAlive(st)
			}
			b.ReportMetric(perCase, "B/case")
		})
	}
}
