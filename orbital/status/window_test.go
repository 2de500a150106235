package status_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// GET /api/runs?since=D: every selected case with its runs in the window and a verdict that
// needs a passing run and no failing one per case.
func TestWindow(t *testing.T) {
	var now atomic.Int64
	t0 := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	now.Store(t0.UnixNano())
	f := newFixture(t, status.Config{History: 3, Now: func() time.Time { return time.Unix(0, now.Load()).UTC() }},
		passing("green"), passing("red"), passing("idle"), passing("skipper"), passing("full"))
	at := func(name string, o orbital.Outcome, ago time.Duration) {
		r := result(name, o, time.Second)
		r.Start = t0.Add(-ago)
		f.st.Report(r)
	}
	at("green", orbital.Fail, 20*time.Minute) // before the window
	at("green", orbital.Pass, 5*time.Minute)
	at("green", orbital.Skip, 4*time.Minute)
	at("red", orbital.Pass, 5*time.Minute)
	at("red", orbital.Fail, time.Minute)
	at("idle", orbital.Pass, time.Hour)
	at("skipper", orbital.Skip, time.Minute)
	for _, ago := range []int{3, 1, 2, 0} { // more than History in the window, not in start order
		at("full", orbital.Pass, time.Duration(ago)*time.Minute)
	}

	var w status.Window
	getJSON(t, f.srv.URL+"/api/runs?since=10m", http.StatusOK, &w)
	if w.Verdict != "fail" || w.Since != "10m0s" || !w.From.Equal(t0.Add(-10*time.Minute)) || w.FailingCases != 3 {
		t.Errorf("window %+v, want fail over 10m0s from %s, 3 failing cases", w, t0.Add(-10*time.Minute))
	}
	want := map[string]struct {
		verdict, reason string
		runs            int
		complete        bool
	}{
		"full":    {"pass", "", 3, false},
		"green":   {"pass", "", 2, true},
		"idle":    {"fail", "no run in the last 10m0s", 0, true},
		"red":     {"fail", "1 of 2 runs in the last 10m0s failed", 2, true},
		"skipper": {"fail", "no passing run in the last 10m0s (1 runs, none passed)", 1, true},
	}
	if len(w.Cases) != len(want) {
		t.Fatalf("cases %+v, want %d", w.Cases, len(want))
	}
	for i, c := range w.Cases {
		wc := want[c.Case]
		if c.Verdict != wc.verdict || c.Reason != wc.reason || len(c.Runs) != wc.runs || c.Complete != wc.complete {
			t.Errorf("case %s: %s %q, %d runs, complete %v; want %+v", c.Case, c.Verdict, c.Reason, len(c.Runs), c.Complete, wc)
		}
		if i > 0 && w.Cases[i-1].Case >= c.Case {
			t.Errorf("cases not sorted: %s before %s", w.Cases[i-1].Case, c.Case)
		}
		for j := 1; j < len(c.Runs); j++ {
			if c.Runs[j].Start.After(c.Runs[j-1].Start) {
				t.Errorf("case %s: runs not newest first", c.Case)
			}
		}
	}
	if w.Passed != 5 || w.Failed != 1 || w.Skipped != 2 {
		t.Errorf("counts %d/%d/%d, want 5 passed, 1 failed, 2 skipped", w.Passed, w.Failed, w.Skipped)
	}

	getJSON(t, f.srv.URL+"/api/runs?since=10m&run=^gr", http.StatusOK, &w)
	if len(w.Cases) != 1 || w.Verdict != "pass" || w.Cases[0].Runs[0].Output == "" {
		t.Errorf("?run=^gr: %+v, want green alone, passing, with its logs", w)
	}
	var runs []status.Run
	getJSON(t, f.srv.URL+"/api/cases/red/runs?since=2m", http.StatusOK, &runs)
	if len(runs) != 1 || runs[0].Outcome != "fail" {
		t.Errorf("/api/cases/red/runs?since=2m: %+v, want the one failed run", runs)
	}
}

// Bad windows and selections are 4xx JSON errors, never a panic or a verdict.
func TestWindowBadRequests(t *testing.T) {
	f := newFixture(t, status.Config{}, passing("track"))
	for _, tt := range []struct {
		query string
		code  int
		want  string
	}{
		{"", http.StatusBadRequest, "since is required"},
		{"?since=", http.StatusBadRequest, "duration"},
		{"?since=10", http.StatusBadRequest, "duration"},
		{"?since=-1m", http.StatusBadRequest, "positive"},
		{"?since=0s", http.StatusBadRequest, "positive"},
		{"?since=100000h", http.StatusBadRequest, "at most"},
		{"?since=" + strings.Repeat("1", 100) + "s", http.StatusBadRequest, "too long"},
		{"?since=1m&run=(", http.StatusBadRequest, "regular expression"},
		{"?since=1m&run=" + strings.Repeat("a", 2000), http.StatusBadRequest, "longer than"},
		{"?since=1m&run=^nope$", http.StatusNotFound, "no registered case"},
	} {
		code, ct, b := do(t, http.MethodGet, f.srv.URL+"/api/runs"+tt.query, nil)
		if code != tt.code || !strings.HasPrefix(ct, "application/json") || !strings.Contains(string(b), tt.want) {
			t.Errorf("GET /api/runs%s = %d %s %s, want %d with %q", tt.query, code, ct, b, tt.code, tt.want)
		}
	}
	if code, _, b := do(t, http.MethodGet, f.srv.URL+"/api/cases/track/runs?since=soon", nil); code != http.StatusBadRequest {
		t.Errorf("/api/cases/track/runs?since=soon = %d %s, want 400", code, b)
	}
	if code, _, _ := do(t, http.MethodPost, f.srv.URL+"/api/runs?since=1m", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/runs = %d, want 405", code)
	}
}
