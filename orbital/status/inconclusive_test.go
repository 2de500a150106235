package status_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// A manual run whose client goes away is inconclusive, not a failure: the
// row, the ratios (inconclusive excluded, counted on their own) and the
// summary say so.
func TestManualRunClientGoneIsInconclusive(t *testing.T) {
	const token = "tok"
	started := make(chan struct{}, 1)
	tc := orbital.TestCase{Name: "track", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		started <- struct{}{}
		<-ctx.Done()
		o.Fatalf("WaitNone: %v", ctx.Err()) // what the suites do on a cancelled ctx
	}}
	f := newFixture(t, status.Config{AdminToken: token}, tc, passing("batch"))
	f.st.Report(result("track", orbital.Pass, time.Millisecond))
	// Added after the Status, so it hears of a result once the page has it.
	reported := make(chan orbital.Result, 1)
	f.svc.AddReporter(reporterFunc(func(r orbital.Result) { reported <- r }))

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/api/cases/track/run", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	errc := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the manual run did not start")
	}
	cancel() // the client goes away
	<-errc

	select {
	case <-reported:
	case <-time.After(10 * time.Second):
		t.Fatal("the manual run was not reported")
	}
	var row status.Row
	getJSON(t, f.srv.URL+"/api/cases/track", http.StatusOK, &row)
	if row.LastOutcome != "inconclusive" || row.LastFailure != nil {
		t.Fatalf("row = %+v, want last outcome inconclusive and no failure", row)
	}
	if r := row.Ratio1h; r.Pass != 1 || r.Fail != 0 || r.Inconclusive != 1 || r.Ratio == nil || *r.Ratio != 1 {
		t.Errorf("ratio_1h = %+v, want 1 pass, 1 inconclusive, ratio 1", r)
	}
	if row.Duration.Count != 1 {
		t.Errorf("duration over %d runs, want the inconclusive one left out", row.Duration.Count)
	}
	var runs []status.Run
	getJSON(t, f.srv.URL+"/api/cases/track/runs", http.StatusOK, &runs)
	if len(runs) != 2 || runs[0].Outcome != "inconclusive" || !strings.Contains(runs[0].Error, "context canceled") ||
		!strings.Contains(runs[0].Output, "--- INCONCLUSIVE: track") {
		t.Errorf("runs = %+v", runs)
	}

	var raw map[string]any
	getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &raw)
	if v, ok := raw["inconclusive"]; !ok || v != float64(1) {
		t.Errorf("/api/status inconclusive = %v (present %v), want 1", v, ok)
	}
	var sum status.Summary
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &sum)
	if sum.Inconclusive != 1 || sum.Failing != 0 || sum.Passing != 0 || sum.Pending != 1 {
		t.Errorf("summary = %+v", sum)
	}
}

// reporterFunc adapts a function to orbital.Reporter.
type reporterFunc func(orbital.Result)

func (f reporterFunc) Report(r orbital.Result) { f(r) }
