package status

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Bounds of the ?since and ?run query parameters.
const (
	// MaxSince is the longest window ?since accepts.
	MaxSince  = 31 * 24 * time.Hour
	maxSince  = 64   // bytes of a ?since value
	maxRunArg = 1024 // bytes of a ?run regular expression
)

// Window is the history of the selected cases in a time window, as GET
// /api/runs?since=D returns it: what a release gate or a canary analysis asks
// ("has it been green since the deploy?").
type Window struct {
	Since string    `json:"since"` // the window, e.g. "10m0s"
	From  time.Time `json:"from"`  // runs that started at or after From are in the window
	Now   time.Time `json:"now"`
	// Verdict is "pass" when every selected case has at least one passing run
	// and no failing run in the window, else "fail".
	Verdict string `json:"verdict"`
	// Passed, Failed and Skipped count the runs of every selected case in the
	// window; FailingCases counts the cases whose verdict is "fail".
	Passed       int          `json:"passed"`
	Failed       int          `json:"failed"`
	Skipped      int          `json:"skipped"`
	FailingCases int          `json:"failing_cases"`
	Cases        []CaseWindow `json:"cases"` // sorted by name
}

// CaseWindow is one case of a Window.
type CaseWindow struct {
	Case    string `json:"case"`
	Verdict string `json:"verdict"`          // "pass" or "fail", as Window.Verdict for this case
	Reason  string `json:"reason,omitempty"` // why the verdict is "fail"
	Runs    []Run  `json:"runs"`             // the runs in the window, newest first
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	// Complete is false when the window reaches further back than the runs the
	// history retains (Config.History per case): older runs of the window are
	// not in Runs.
	Complete bool `json:"complete"`
}

// parseSince parses a ?since value: a Go duration, positive, at most MaxSince.
func parseSince(v string) (time.Duration, error) {
	if len(v) > maxSince {
		return 0, errors.New("since is too long: want a duration such as 10m")
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("since must be a duration such as 10m or 1h30m, got %q", v)
	case d <= 0:
		return 0, errors.New("since must be positive")
	case d > MaxSince:
		return 0, fmt.Errorf("since must be at most %s", MaxSince)
	}
	return d, nil
}

// startedSince returns the runs that started at or after from (all of them
// for a zero from), newest start first, and whether they are all the window
// holds: false when the history is full and every retained run is in the
// window (older ones may have been dropped).
func startedSince(runs []run, from time.Time, history int) ([]run, bool) {
	if from.IsZero() {
		return runs, true
	}
	in := make([]run, 0, len(runs))
	for _, r := range runs {
		if !r.start.Before(from) {
			in = append(in, r)
		}
	}
	// Reports arrive in the order runs end; a window is about when they started.
	slices.SortStableFunc(in, func(a, b run) int { return b.start.Compare(a.start) })
	return in, len(in) < len(runs) || len(runs) < history
}

// handleWindow serves GET /api/runs?since=D[&run=regexp].
func (s *Status) handleWindow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, err := parseSince(q.Get("since"))
	if !q.Has("since") {
		err = errors.New("since is required, e.g. /api/runs?since=10m")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var re *regexp.Regexp
	if v := q.Get("run"); v != "" {
		if len(v) > maxRunArg {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("run is longer than %d bytes", maxRunArg))
			return
		}
		if re, err = regexp.Compile(v); err != nil {
			writeError(w, http.StatusBadRequest, "run is not a valid regular expression: "+err.Error())
			return
		}
	}
	win, n := s.window(d, re)
	if n == 0 {
		writeError(w, http.StatusNotFound, "no registered case matches run")
		return
	}
	writeJSON(w, http.StatusOK, win)
}

// window builds the Window of the registered cases re matches (all for nil)
// over the last d, and returns it with the number of cases selected.
func (s *Status) window(d time.Duration, re *regexp.Regexp) (Window, int) {
	now := s.now()
	win := Window{Since: d.String(), From: now.Add(-d), Now: now, Verdict: string(orbital.Pass), Cases: []CaseWindow{}}
	for _, tc := range s.svc.Cases() { // sorted by name
		if re != nil && !re.MatchString(tc.Name) {
			continue
		}
		s.mu.Lock()
		var runs []run
		if e := s.store.cases[tc.Name]; e != nil {
			runs = e.latest(len(e.runs))
		}
		s.mu.Unlock()
		cw := CaseWindow{Case: tc.Name, Runs: []Run{}}
		runs, cw.Complete = startedSince(runs, win.From, s.history)
		for _, x := range runs {
			cw.Runs = append(cw.Runs, s.toRun(tc.Name, x))
			switch x.outcome {
			case orbital.Pass:
				cw.Passed++
			case orbital.Fail:
				cw.Failed++
			case orbital.Skip:
				cw.Skipped++
			}
		}
		cw.Verdict, cw.Reason = caseVerdict(cw, d)
		win.Passed, win.Failed, win.Skipped = win.Passed+cw.Passed, win.Failed+cw.Failed, win.Skipped+cw.Skipped
		if cw.Verdict != string(orbital.Pass) {
			win.Verdict = string(orbital.Fail)
			win.FailingCases++
		}
		win.Cases = append(win.Cases, cw)
	}
	return win, len(win.Cases)
}

// caseVerdict is a case's verdict over a window of d: pass with at least one
// passing run and no failing one.
func caseVerdict(cw CaseWindow, d time.Duration) (verdict, reason string) {
	switch {
	case cw.Failed > 0:
		return string(orbital.Fail), fmt.Sprintf("%d of %d runs in the last %s failed", cw.Failed, len(cw.Runs), d)
	case len(cw.Runs) == 0:
		return string(orbital.Fail), fmt.Sprintf("no run in the last %s", d)
	case cw.Passed == 0:
		return string(orbital.Fail), fmt.Sprintf("no passing run in the last %s (%d runs, none passed)", d, len(cw.Runs))
	}
	return string(orbital.Pass), ""
}
