package reliability_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/load"
)

// loadSettings returns the load test's rate and duration: 2,000 events/s for
// 5s by default (CI-sized), ORBITAL_LOAD_RATE and ORBITAL_LOAD_DURATION
// override them (`make load`: 60s). Under the race detector, which slows the
// pipeline about tenfold, the default rate is raceLoadRate.
func loadSettings(t *testing.T) (rate float64, d time.Duration) {
	t.Helper()
	rate, d = 2000, 5*time.Second
	if raceEnabled {
		rate = raceLoadRate
	}
	if v := os.Getenv("ORBITAL_LOAD_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			t.Fatalf("ORBITAL_LOAD_RATE=%q: want a positive number", v)
		}
		rate = r
	}
	if v := os.Getenv("ORBITAL_LOAD_DURATION"); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x <= 0 {
			t.Fatalf("ORBITAL_LOAD_DURATION=%q: want a positive duration", v)
		}
		d = x
	}
	return rate, d
}

// raceLoadRate is the default rate under the race detector: what the
// race-instrumented stack sustains on 2 shared cores with room to spare.
const raceLoadRate = 300

// loadAvg returns /proc/loadavg's first three fields, for the record.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// TestLoad sends a sustained load of traced events through the whole embedded
// pipeline (tracking API → Kafka → worker → signed webhook delivery →
// RouteLogger) and requires every event to be accounted for: sent = matched +
// lost, nothing lost without faults, and the configured rate sustained.
func TestLoad(t *testing.T) {
	rate, d := loadSettings(t)
	s := newStack(t, stackConfig{logLevel: slog.LevelWarn})
	before := loadAvg()
	rep, err := load.Run(context.Background(), load.Config{
		APIURL:          s.api.URL(),
		WriteKey:        writeKey,
		Waiter:          s.rl,
		Rate:            rate,
		Duration:        d,
		DeliveryTimeout: 10 * time.Second,
		Logger:          s.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load %.0f ev/s for %s (race detector %v; load average before %s, after %s): %s", rate, d, raceEnabled, before, loadAvg(), rep)
	if rep.Sent != rep.Matched+rep.Lost {
		t.Fatalf("the count does not add up: %s", rep)
	}
	if rep.Lost != 0 {
		t.Errorf("events lost without any fault: %v", rep.LostReasons)
	}
	if want := int(0.95 * rate * d.Seconds()); rep.Sent < want {
		t.Errorf("sent %d events, want at least %d (95%% of %.0f/s for %s): the rate was not sustained", rep.Sent, want, rate, d)
	}
	if rep.P99 > 5*time.Second {
		t.Errorf("p99 send-to-delivery %s, want under 5s", rep.P99)
	}
	if n := s.rl.Len(); n != 0 {
		t.Errorf("%d keys still pending on the RouteLogger after the run", n)
	}
}
