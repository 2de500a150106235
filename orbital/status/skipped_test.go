package status_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// TestTicksSkippedShown: ticks the scheduler dropped for lateness show per case in
// GET /api/cases (ticks_skipped) and in the case's row on the page, asked over HTTP.
func TestTicksSkippedShown(t *testing.T) {
	const period = 100 * time.Millisecond
	var stalled atomic.Bool
	results := make(chan orbital.Result, 100)
	svc := orbital.New(orbital.WithOutput(io.Discard), orbital.WithLogger(quietLogger()), orbital.WithStartSpread(0),
		orbital.WithReporter(reporterFunc(func(r orbital.Result) { results <- r })),
		orbital.WithAssignment(func(name string) bool {
			if name == "late" && stalled.CompareAndSwap(false, true) {
				time.Sleep(3*period + period/2) // the stall under test: a saturated scheduler
			}
			return true
		}))
	for _, tc := range []orbital.TestCase{
		{Name: "late", Period: period, Func: func(context.Context, *orbital.O) {}},
		{Name: "calm", Period: time.Hour, Func: func(context.Context, *orbital.O) {}},
	} {
		if err := svc.Register(tc); err != nil {
			t.Fatal(err)
		}
	}
	st, err := status.New(status.Config{Service: svc, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for n := 0; n < 2; {
		select {
		case r := <-results:
			if r.Case == "late" {
				n++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no second run of late within 5s")
		}
	}
	skipped, _ := svc.SkippedTicks("late")
	if skipped.Late < 2 {
		t.Fatalf("SkippedTicks(late) = %+v, want Late >= 2", skipped)
	}

	var raw []map[string]any
	getJSON(t, srv.URL+"/api/cases", http.StatusOK, &raw)
	byName := map[string]map[string]any{}
	for _, r := range raw {
		byName[r["name"].(string)] = r
	}
	if got, ok := byName["late"]["ticks_skipped"].(float64); !ok || int64(got) < skipped.Late {
		t.Errorf("late row ticks_skipped = %v, want >= %d", byName["late"]["ticks_skipped"], skipped.Late)
	}
	if got := byName["calm"]["ticks_skipped"]; got != float64(0) {
		t.Errorf("calm row ticks_skipped = %v, want 0", got)
	}

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	row := string(page)
	if i := strings.Index(row, `data-case="late"`); i >= 0 {
		row = row[i:]
		if j := strings.Index(row, "</tr>"); j >= 0 {
			row = row[:j]
		}
	}
	if !strings.Contains(row, "late</span>") || !strings.Contains(row, `class="skipped"`) {
		t.Errorf("the late case's row does not show its skipped ticks:\n%s", row)
	}
}
