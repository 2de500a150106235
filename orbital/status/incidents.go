package status

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Bounds of the incident history.
const (
	// MaxIncidentsPerCase is how many incidents each top-level case keeps;
	// the oldest closed one is forgotten first.
	MaxIncidentsPerCase = 50
	// MaxIncidents is how many incidents GET /api/incidents returns at most
	// (the newest across all cases).
	MaxIncidents = 200
)

// Incident is a contiguous stretch of failing runs of a top-level case, as
// GET /api/cases/{name}/incidents and GET /api/incidents return it. It opens
// with a failed run and closes with the next passing run; skipped and
// inconclusive runs neither close nor extend it (they say nothing about the
// pipeline).
type Incident struct {
	Case string `json:"case"`
	// Start is the start of the first failed run.
	Start time.Time `json:"start"`
	// End is the start of the passing run that closed it; null while ongoing.
	End     *time.Time `json:"end"`
	Ongoing bool       `json:"ongoing"`
	// DurationSeconds is End - Start, or now - Start while ongoing.
	DurationSeconds float64 `json:"duration_seconds"`
	FailedRuns      int     `json:"failed_runs"`
	FirstError      string  `json:"first_error"`
	TraceID         string  `json:"trace_id"` // of the first failed run
}

// incident is the stored form of an Incident.
type incident struct {
	start, end time.Time // end zero while ongoing
	failed     int
	firstError string
	traceID    string
}

// incidentLog is the incidents of one case, oldest first; only the last
// may be ongoing.
type incidentLog struct {
	list []incident
	open bool // the last of list is ongoing
}

// add updates the log with a run of outcome o that started at start. Runs
// usually arrive in the order they end; one that arrives late (a long run,
// or one read back from a cluster's results topic) is placed by its start:
// a failure that started inside the last, closed incident joins it rather
// than opening a new one, and a pass that started before the ongoing
// incident's first failure does not close it.
func (l *incidentLog) add(o orbital.Outcome, start time.Time, errMsg, traceID string) {
	switch o {
	case orbital.Fail:
		if n := len(l.list); n > 0 && (l.open || start.Before(l.list[n-1].end)) {
			cur := &l.list[n-1]
			cur.failed++
			if start.Before(cur.start) {
				cur.start, cur.firstError, cur.traceID = start, cut(errMsg, shortErrorLen), traceID
			}
			return
		}
		if len(l.list) >= MaxIncidentsPerCase {
			l.list = slices.Delete(l.list, 0, len(l.list)-MaxIncidentsPerCase+1)
		}
		l.list = append(l.list, incident{start: start, failed: 1, firstError: cut(errMsg, shortErrorLen), traceID: traceID})
		l.open = true
	case orbital.Pass:
		if n := len(l.list); l.open && !start.Before(l.list[n-1].start) {
			l.list[n-1].end = start
			l.open = false
		}
	}
}

// newestFirst returns the incidents of case name, newest first.
func (l *incidentLog) newestFirst(name string, now time.Time) []Incident {
	out := make([]Incident, 0, len(l.list))
	for i := len(l.list) - 1; i >= 0; i-- {
		x := l.list[i]
		in := Incident{Case: name, Start: x.start, FailedRuns: x.failed, FirstError: x.firstError, TraceID: x.traceID}
		if x.end.IsZero() {
			in.Ongoing = true
			in.DurationSeconds = max(0, now.Sub(x.start).Seconds())
		} else {
			e := x.end
			in.End = &e
			in.DurationSeconds = e.Sub(x.start).Seconds()
		}
		out = append(out, in)
	}
	return out
}

// allIncidents returns the incidents of every case, newest start first, at
// most MaxIncidents.
func (s *Status) allIncidents() []Incident {
	now := s.now()
	var out []Incident
	s.mu.Lock()
	for name, e := range s.store.cases {
		out = append(out, e.incidents.newestFirst(name, now)...)
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Incident) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		if a.Case < b.Case {
			return -1
		}
		if a.Case > b.Case {
			return 1
		}
		return 0
	})
	if out == nil {
		out = []Incident{}
	}
	return out[:min(len(out), MaxIncidents)]
}

// worstOngoing returns the ongoing incident of a top-level case that
// started first, if any.
func (s *Status) worstOngoing() (Incident, bool) {
	now := s.now()
	var worst Incident
	found := false
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, e := range s.store.cases {
		l := &e.incidents
		if !l.open {
			continue
		}
		x := l.list[len(l.list)-1]
		if !found || x.start.Before(worst.Start) || (x.start.Equal(worst.Start) && name < worst.Case) {
			worst = Incident{Case: name, Start: x.start, Ongoing: true, DurationSeconds: max(0, now.Sub(x.start).Seconds()),
				FailedRuns: x.failed, FirstError: x.firstError, TraceID: x.traceID}
			found = true
		}
	}
	return worst, found
}

func (s *Status) handleIncidents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.allIncidents())
}

func (s *Status) handleCaseIncidents(w http.ResponseWriter, name string) {
	now := s.now()
	s.mu.Lock()
	e := s.store.cases[name]
	out := []Incident{}
	if e != nil {
		out = e.incidents.newestFirst(name, now)
	}
	s.mu.Unlock()
	if _, registered := s.svc.Case(name); e == nil && !registered {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q", name))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
