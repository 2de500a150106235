package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/segmentio/stats/v4"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// Every O.Measure name becomes a full histogram, with no registration by the user.
func TestMeasuresGetBuckets(t *testing.T) {
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	svc := orbital.New(orbital.WithStats(eng), orbital.WithOutput(io.Discard))
	if err := svc.Register(orbital.TestCase{Name: "orders", Func: func(ctx context.Context, o *orbital.O) {
		o.Measure("checkout.confirm", 1500*time.Millisecond) // a name nobody registered
		o.Measure(orbital.DeliveryLatency, 20*time.Millisecond)
	}}); err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(context.Background(), nil)
	eng.Flush()
	text := scrape(t, prom)
	for _, family := range []string{"orbital_checkout_confirm_seconds", "orbital_delivery_latency_seconds", "orbital_run_duration_seconds"} {
		for _, le := range []string{"0.005", "1", "10", "600", "+Inf"} {
			if !regexp.MustCompile(family + `_bucket\{[^}]*le="` + regexp.QuoteMeta(le) + `"[^}]*\} \d+\n`).MatchString(text) {
				t.Errorf("no %s bucket le=%q in:\n%s", family, le, text)
			}
		}
	}
	if !regexp.MustCompile(`orbital_checkout_confirm_seconds_bucket\{[^}]*le="2.5"[^}]*\} 1\n`).MatchString(text) {
		t.Errorf("the 1.5s measure is not counted under le=2.5:\n%s", text)
	}
	// No sample timestamps: every sample line is "name{labels} value".
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			line = line[i+1:]
		}
		if f := strings.Fields(line); len(f) != 1 && len(f) != 2 {
			t.Errorf("sample line with a timestamp: %q", line)
		}
	}
}

// A series that was not updated for longer than stats/v4's default timeout is still there.
func TestSeriesNeverExpire(t *testing.T) {
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	old := time.Now().Add(-48 * time.Hour)
	prom.HandleMeasures(old, stats.Measure{Name: "orbital.case", Fields: []stats.Field{stats.MakeField("period_seconds", 86400*2, stats.Gauge)}})
	// stats/v4 sweeps expired series every 10,000 updates.
	for i := 0; i < 10_001; i++ {
		eng.Incr("other_total")
	}
	eng.Flush()
	if text := scrape(t, prom); !strings.Contains(text, "orbital_case_period_seconds") {
		t.Errorf("a series last updated 48h ago expired:\n%s", text)
	}
}

// OnScrape functions run before every scrape, in order, and what they hand
// to the handler is in that scrape.
func TestOnScrapeRunsBeforeEachScrape(t *testing.T) {
	prom := metrics.NewHandler()
	eng := stats.NewEngine("orbital", prom)
	var calls []string
	held := 0
	prom.OnScrape(func() { calls = append(calls, "first") })
	prom.OnScrape(func() {
		calls = append(calls, "second")
		if held > 0 {
			eng.Add("held_total", held)
			held = 0
		}
	})
	held = 3
	if text := scrape(t, prom); !strings.Contains(text, "orbital_held_total 3\n") {
		t.Errorf("first scrape lacks orbital_held_total 3:\n%s", text)
	}
	held = 2
	if text := scrape(t, prom); !strings.Contains(text, "orbital_held_total 5\n") {
		t.Errorf("second scrape lacks orbital_held_total 5:\n%s", text)
	}
	rec := httptest.NewRecorder()
	prom.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d", rec.Code)
	}
	if want := []string{"first", "second", "first", "second"}; strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Errorf("OnScrape calls %v, want %v", calls, want)
	}
}
