package status_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// TestFedHistory: with Fed, the Service's own results are not recorded (they
// come back through Feed), runs carry the replica that ran them, their
// buckets are those of their own start, and two pages fed the same results
// answer the same.
func TestFedHistory(t *testing.T) {
	now := time.Now()
	cfg := status.Config{Fed: true, Replica: "a", Now: func() time.Time { return now }}
	a := newFixture(t, cfg, passing("track"))
	cfg.Replica = "b"
	b := newFixture(t, cfg, passing("track"))

	// A run the Service makes is not recorded directly.
	if _, err := a.svc.RunNow(t.Context(), "track"); err != nil {
		t.Fatal(err)
	}
	var rows []status.Row
	getJSON(t, a.srv.URL+"/api/cases", http.StatusOK, &rows)
	if rows[0].TotalRuns != 0 {
		t.Fatalf("Fed page recorded a local run directly: %+v", rows[0])
	}

	// Two hours ago (outside the 1h window, inside 24h), then now.
	old := result("track", orbital.Fail, time.Millisecond)
	old.Start, old.TraceID = now.Add(-2*time.Hour), "old"
	recent := result("track", orbital.Pass, time.Millisecond)
	recent.Start, recent.TraceID = now.Add(-time.Minute), "recent"
	sub := result("track/sub", orbital.Pass, time.Millisecond)
	sub.Start = recent.Start
	for _, f := range []*fixture{a, b} {
		f.st.Feed(old, "replica-1")
		f.st.Feed(sub, "replica-2")
		f.st.Feed(recent, "replica-2")
	}
	getJSON(t, a.srv.URL+"/api/cases", http.StatusOK, &rows)
	if r := rows[0]; r.TotalRuns != 2 || r.Ratio1h.Pass != 1 || r.Ratio1h.Fail != 0 || r.Ratio24h.Pass != 1 || r.Ratio24h.Fail != 1 {
		t.Errorf("row after feed: total %d, 1h %+v, 24h %+v; want 2 runs, 1h 1 pass, 24h 1 pass 1 fail", r.TotalRuns, r.Ratio1h, r.Ratio24h)
	}
	var runs []status.Run
	getJSON(t, a.srv.URL+"/api/cases/track/runs", http.StatusOK, &runs)
	by := map[string]string{}
	for _, r := range runs {
		by[r.TraceID] = r.Replica
	}
	if len(runs) != 2 || by["recent"] != "replica-2" || by["old"] != "replica-1" {
		t.Errorf("runs = %+v, want recent by replica-2 and old by replica-1", runs)
	}
	for _, path := range []string{"/api/cases", "/api/cases/track/runs", "/api/cases/track/sub/runs"} {
		var va, vb any
		getJSON(t, a.srv.URL+path, http.StatusOK, &va)
		getJSON(t, b.srv.URL+path, http.StatusOK, &vb)
		if !reflect.DeepEqual(va, vb) {
			ja, _ := json.Marshal(va)
			jb, _ := json.Marshal(vb)
			t.Errorf("%s differs between two pages fed the same results:\n%s\n%s", path, ja, jb)
		}
	}
}

// TestReportLabelsReplica: without Fed, local runs carry Config.Replica.
func TestReportLabelsReplica(t *testing.T) {
	f := newFixture(t, status.Config{Replica: "solo"}, passing("track"))
	if _, err := f.svc.RunNow(t.Context(), "track"); err != nil {
		t.Fatal(err)
	}
	var runs []status.Run
	getJSON(t, f.srv.URL+"/api/cases/track/runs", http.StatusOK, &runs)
	if len(runs) != 1 || runs[0].Replica != "solo" {
		t.Errorf("runs = %+v, want one by replica solo", runs)
	}
}
