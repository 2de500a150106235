package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestServeDataDirKeepsHistory: serve --data-dir stopped and started again
// shows the runs of the first process, labelled with its replica, and its
// 1h ratio; without --data-dir the history starts empty (TestServe).
func TestServeDataDirKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--run", "^track$", "--case-period", "track=500ms",
		"--drain", "10s", "--data-dir", dir}
	first := startServe(t, &app{}, append(args, "--replica", "first")...)
	first.waitMetrics(t, 60*time.Second, `orbital_runs_total{case="track",outcome="pass"}`)
	runs := waitRuns(t, first.base, "track", 1)
	if code := first.stop(t); code != exitOK {
		t.Fatalf("first serve exited with %d\nstderr:\n%s", code, first.stderr.String())
	}

	second := startServe(t, &app{}, append(args, "--replica", "second")...)
	// Served only after the replay: the first process's runs are there at once.
	got := getRuns(t, second.base, "track")
	byTrace := map[string]string{}
	for _, r := range got {
		byTrace[r.TraceID] = r.Replica
	}
	for _, r := range runs {
		if byTrace[r.TraceID] != "first" {
			t.Errorf("run %s of the first process missing after restart (replica %q); runs now %+v", r.TraceID, byTrace[r.TraceID], got)
		}
	}
	var rows []struct {
		Name    string `json:"name"`
		Ratio1h struct {
			Pass int `json:"pass"`
		} `json:"ratio_1h"`
	}
	getJSONURL(t, second.base+"/api/cases", &rows)
	if len(rows) == 0 || rows[0].Ratio1h.Pass < len(runs) {
		t.Errorf("1h ratio after restart = %+v, want at least %d passes", rows, len(runs))
	}
}

type apiRun struct {
	TraceID string `json:"trace_id"`
	Replica string `json:"replica"`
	Outcome string `json:"outcome"`
}

func getJSONURL(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getRuns(t *testing.T, base, name string) []apiRun {
	t.Helper()
	var runs []apiRun
	getJSONURL(t, base+"/api/cases/"+name+"/runs", &runs)
	return runs
}

// waitRuns polls the runs of name until there are at least n.
func waitRuns(t *testing.T, base, name string, n int) []apiRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs := getRuns(t, base, name)
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d runs of %s after 30s, want %d", base, len(runs), name, n)
		}
		<-time.After(50 * time.Millisecond) // polling an external signal
	}
}
