package status_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// at is a result of name with outcome o, started at start, trace id trace.
func at(name string, o orbital.Outcome, start time.Time, trace string) orbital.Result {
	r := result(name, o, 50*time.Millisecond)
	r.Start, r.TraceID = start, trace
	if o == orbital.Fail {
		r.Error = "not delivered: " + trace
	}
	return r
}

// TestIncidents: Report-fed runs open an incident with the first failed
// run, skipped and inconclusive runs neither close nor extend it, the next
// pass closes it; the APIs list them newest first and the summary names the
// worst ongoing one.
func TestIncidents(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	clk := &testClock{t: t0}
	f := newFixture(t, status.Config{Now: clk.Now}, passing("track"), passing("batch"), passing("idle"))
	report := func(r orbital.Result) {
		clk.Set(r.Start.Add(r.Duration))
		f.st.Report(r)
	}
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

	report(at("track", orbital.Pass, min(0), "p0"))
	report(at("track", orbital.Fail, min(1), "f1"))
	report(at("track", orbital.Skip, min(2), "s2"))
	report(at("track", orbital.Inconclusive, min(3), "i3"))
	report(at("track", orbital.Fail, min(4), "f4"))
	report(at("track/sub", orbital.Fail, min(4), "sub")) // subtests have no incidents
	report(at("track", orbital.Pass, min(5), "p5"))      // closes it
	report(at("track", orbital.Fail, min(6), "f6"))      // a second, ongoing
	report(at("batch", orbital.Fail, min(2), "b2"))      // ongoing since before track's
	clk.Set(min(14))

	var got []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/track/incidents", http.StatusOK, &got)
	if len(got) != 2 {
		t.Fatalf("track incidents = %+v, want 2", got)
	}
	cur, first := got[0], got[1]
	if !first.Start.Equal(min(1)) || first.End == nil || !first.End.Equal(min(5)) || first.Ongoing ||
		first.FailedRuns != 2 || first.TraceID != "f1" || first.FirstError != "not delivered: f1" ||
		first.DurationSeconds != 240 {
		t.Errorf("closed incident = %+v, want 03:01-03:05, 2 failed runs, first f1", first)
	}
	if !cur.Ongoing || cur.End != nil || !cur.Start.Equal(min(6)) || cur.FailedRuns != 1 || cur.TraceID != "f6" || cur.DurationSeconds != 8*60 {
		t.Errorf("ongoing incident = %+v, want since 03:06, 8 m", cur)
	}

	var all []status.Incident
	getJSON(t, f.srv.URL+"/api/incidents", http.StatusOK, &all)
	var order []string
	for _, in := range all {
		order = append(order, in.Case+":"+in.TraceID)
	}
	if fmt.Sprint(order) != "[track:f6 batch:b2 track:f1]" {
		t.Errorf("/api/incidents order = %v, want newest first [track:f6 batch:b2 track:f1]", order)
	}

	var sum status.Summary
	getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &sum)
	if sum.FailingSince == nil || !sum.FailingSince.Equal(min(2)) || sum.FailingCase != "batch" || sum.FailingForSeconds != 12*60 {
		t.Errorf("summary failing = %v %q %v, want batch since 03:02 (12 m)", sum.FailingSince, sum.FailingCase, sum.FailingForSeconds)
	}

	// A case with no incident: []; an unknown case: 404 JSON.
	var none []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/idle/incidents", http.StatusOK, &none)
	if none == nil || len(none) != 0 {
		t.Errorf("idle incidents = %#v, want []", none)
	}
	var e map[string]string
	getJSON(t, f.srv.URL+"/api/cases/nope/incidents", http.StatusNotFound, &e)
	if e["error"] == "" {
		t.Errorf("404 body %v lacks an error", e)
	}

	// The page as served (before its script runs) says it the same way.
	if code, _, body := do(t, http.MethodGet, f.srv.URL+"/", nil); code != http.StatusOK || !strings.Contains(string(body), "batch failing for 12 m") {
		t.Errorf("GET /: %d, want the header to say \"batch failing for 12 m\"", code)
	}
	// Only GET.
	if code, _, _ := do(t, http.MethodPost, f.srv.URL+"/api/incidents", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/incidents: %d, want 405", code)
	}

	// Every case passes again: nothing is failing.
	report(at("track", orbital.Pass, min(15), "p15"))
	report(at("batch", orbital.Pass, min(15), "bp15"))
	sum = status.Summary{}
	getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &sum)
	if sum.FailingSince != nil || sum.FailingCase != "" {
		t.Errorf("summary after recovery = %v %q, want none failing", sum.FailingSince, sum.FailingCase)
	}
}

// TestIncidentsBounded: a case flapping forever keeps its last
// MaxIncidentsPerCase incidents, and /api/incidents at most MaxIncidents.
func TestIncidentsBounded(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	clk := &testClock{t: t0}
	var cases []orbital.TestCase
	for i := range 6 {
		cases = append(cases, passing(fmt.Sprintf("c%d", i)))
	}
	f := newFixture(t, status.Config{Now: clk.Now}, cases...)
	n := 0
	for i := range 6 {
		for j := range status.MaxIncidentsPerCase + 10 {
			name := fmt.Sprintf("c%d", i)
			s := t0.Add(time.Duration(n) * time.Second)
			n++
			f.st.Report(at(name, orbital.Fail, s, fmt.Sprintf("%s-%d", name, j)))
			f.st.Report(at(name, orbital.Pass, s.Add(time.Millisecond), "p"))
		}
	}
	clk.Set(t0.Add(time.Hour))
	var got []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/c0/incidents", http.StatusOK, &got)
	if len(got) != status.MaxIncidentsPerCase || got[0].TraceID != fmt.Sprintf("c0-%d", status.MaxIncidentsPerCase+9) {
		t.Errorf("c0 keeps %d incidents, newest %q; want %d, the newest first", len(got), got[0].TraceID, status.MaxIncidentsPerCase)
	}
	var all []status.Incident
	getJSON(t, f.srv.URL+"/api/incidents", http.StatusOK, &all)
	if len(all) != status.MaxIncidents {
		t.Errorf("/api/incidents returned %d, want the bound %d", len(all), status.MaxIncidents)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Start.After(all[i-1].Start) {
			t.Fatalf("/api/incidents not newest first at %d: %v after %v", i, all[i].Start, all[i-1].Start)
		}
	}
}

// TestIncidentsFed: in cluster mode results come through Feed; they open
// and close incidents the same way.
func TestIncidentsFed(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Minute)
	clk := &testClock{t: t0.Add(10 * time.Minute)}
	f := newFixture(t, status.Config{Fed: true, Now: clk.Now}, passing("track"))
	f.st.Feed(at("track", orbital.Fail, t0.Add(time.Minute), "f1"), "a")
	f.st.Feed(at("track", orbital.Fail, t0.Add(2*time.Minute), "f2"), "b")
	var got []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/track/incidents", http.StatusOK, &got)
	if len(got) != 1 || !got[0].Ongoing || got[0].FailedRuns != 2 || got[0].TraceID != "f1" {
		t.Fatalf("fed incidents = %+v, want one ongoing of 2 runs from f1", got)
	}
	f.st.Feed(at("track", orbital.Pass, t0.Add(3*time.Minute), "p3"), "a")
	getJSON(t, f.srv.URL+"/api/cases/track/incidents", http.StatusOK, &got)
	if len(got) != 1 || got[0].Ongoing || got[0].End == nil || !got[0].End.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("fed incidents = %+v, want closed at the pass's start", got)
	}
}

// TestIncidentsLateRuns: runs arriving after later ones are placed by their
// start: a pass that started before the first failure does not close the
// incident, and a failure that started inside a closed incident joins it.
func TestIncidentsLateRuns(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	clk := &testClock{t: t0.Add(time.Hour)}
	f := newFixture(t, status.Config{Fed: true, Now: clk.Now}, passing("track"))
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	f.st.Feed(at("track", orbital.Fail, min(2), "f2"), "a")
	f.st.Feed(at("track", orbital.Pass, min(1), "p1"), "b") // a long run that started earlier
	var got []status.Incident
	getJSON(t, f.srv.URL+"/api/cases/track/incidents", http.StatusOK, &got)
	if len(got) != 1 || !got[0].Ongoing {
		t.Fatalf("after a late pass that started before the failure: %+v, want one ongoing", got)
	}
	f.st.Feed(at("track", orbital.Pass, min(5), "p5"), "a")
	f.st.Feed(at("track", orbital.Fail, min(3), "f3"), "b") // inside the closed one
	f.st.Feed(at("track", orbital.Fail, min(1), "f1"), "b") // before it: moves its start
	getJSON(t, f.srv.URL+"/api/cases/track/incidents", http.StatusOK, &got)
	if len(got) != 1 || got[0].Ongoing || got[0].FailedRuns != 3 || !got[0].Start.Equal(min(1)) || got[0].TraceID != "f1" ||
		got[0].End == nil || !got[0].End.Equal(min(5)) {
		t.Fatalf("after late failures: %+v, want one incident 03:01-03:05 of 3 failed runs, first f1", got)
	}
}
