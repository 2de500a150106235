package status

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
)

// Row is one case as GET /api/cases returns it and the page shows it.
type Row struct {
	Name          string  `json:"name"`             // "name", "name/sub" for a subtest
	Parent        string  `json:"parent,omitempty"` // the enclosing case of a subtest
	Depth         int     `json:"depth"`            // 0 for a top-level case
	Registered    bool    `json:"registered"`       // a registered case (can be run by POST)
	Period        string  `json:"period,omitempty"` // e.g. "30s"; a subtest's is its parent's
	PeriodSeconds float64 `json:"period_seconds"`   // Period in seconds, 0 when unknown
	// TimeoutSeconds is a registered case's own timeout in seconds; absent when it uses
	// the service's default.
	TimeoutSeconds float64     `json:"timeout_seconds,omitempty"`
	LastOutcome    string      `json:"last_outcome"` // "pass", "fail", "skip", "inconclusive", "" before the first run
	LastRun        *time.Time  `json:"last_run"`     // start of the last run
	LastTraceID    string      `json:"last_trace_id,omitempty"`
	LastFailure    *time.Time  `json:"last_failure"`         // end of the last failed run ever reported
	LastError      string      `json:"last_error,omitempty"` // error of that failed run
	Strip          []StripCell `json:"strip"`                // the last 50 runs, oldest first
	Ratio1h        Ratio       `json:"ratio_1h"`             // pass ratio over the last hour
	Ratio24h       Ratio       `json:"ratio_24h"`            // pass ratio over the last 24 hours
	Duration       Quantiles   `json:"duration"`             // run duration, retained runs neither skipped nor inconclusive
	Latency        Quantiles   `json:"delivery_latency"`     // send-to-delivery latency, retained runs with one
	Retained       int         `json:"retained"`             // runs in history
	TotalRuns      uint64      `json:"total_runs"`           // runs reported since start
	// TicksSkipped counts a registered case's ticks this replica's scheduler dropped for
	// lateness since start (it came more than a period late: a saturated machine), as
	// orbital_run_ticks_skipped_total does; OverlapSkipped the ticks skipped because the
	// previous run was still going (orbital_run_overlap_skipped_total). Both 0 for subtests.
	TicksSkipped   int64 `json:"ticks_skipped"`
	OverlapSkipped int64 `json:"overlap_skipped"`
}

// StripCell is one run of a Row's strip.
type StripCell struct {
	Outcome string    `json:"outcome"`
	TraceID string    `json:"trace_id"`
	Start   time.Time `json:"start"`
}

// Ratio counts outcomes in a time window. Ratio is pass/(pass+fail):
// skipped and inconclusive runs are excluded (an inconclusive run says
// nothing about the pipeline); it is null when no run passed or failed in
// the window.
type Ratio struct {
	Pass         int      `json:"pass"`
	Fail         int      `json:"fail"`
	Skip         int      `json:"skip"`
	Inconclusive int      `json:"inconclusive"`
	Ratio        *float64 `json:"ratio"`
}

// Quantiles are nearest-rank quantiles in seconds over Count values of the
// retained history; null when Count is 0.
type Quantiles struct {
	Count int      `json:"count"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
	P99   *float64 `json:"p99"`
}

// Run is one run as GET /api/cases/{name}/runs, GET /api/runs and POST
// /api/cases/{name}/run return it.
type Run struct {
	Case            string             `json:"case"`
	Parent          string             `json:"parent,omitempty"` // a subtest's enclosing case (POST .../run)
	TraceID         string             `json:"trace_id"`
	TraceURL        string             `json:"trace_url,omitempty"` // the run in the user's tracing UI (Config.TraceURL)
	Replica         string             `json:"replica,omitempty"`   // the replica that ran it (Config.Replica, Feed)
	Start           time.Time          `json:"start"`
	DurationSeconds float64            `json:"duration_seconds"`
	Outcome         string             `json:"outcome"`
	TimedOut        bool               `json:"timed_out"`
	Error           string             `json:"error,omitempty"`
	LatencySeconds  *float64           `json:"delivery_latency_seconds,omitempty"` // the "delivery.latency" measure
	Measures        map[string]float64 `json:"measures,omitempty"`                 // every measure, in seconds
	Output          string             `json:"output"`                             // the run's full log (go test style)
	OutputCut       int                `json:"output_cut_bytes,omitempty"`         // log bytes left out to bound memory
	Subtests        []Run              `json:"subtests,omitempty"`                 // POST .../run only
}

// Summary is the page header as GET /api/status returns it.
type Summary struct {
	Version       string    `json:"version"`
	Target        string    `json:"target"`
	Started       time.Time `json:"started"`
	Now           time.Time `json:"now"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	History       int       `json:"history"`       // runs kept per case
	Cases         int       `json:"cases"`         // top-level cases
	Passing       int       `json:"passing"`       // top-level cases whose last run passed
	Failing       int       `json:"failing"`       // ... failed
	Skipped       int       `json:"skipped"`       // ... was skipped
	Inconclusive  int       `json:"inconclusive"`  // ... was inconclusive
	Pending       int       `json:"pending"`       // ... have not run yet
	ManualRuns    bool      `json:"manual_runs"`   // POST /api/cases/{name}/run is enabled
	EvictedCases  uint64    `json:"evicted_cases"` // case names forgotten to bound memory
	// FailingSince is the start of the oldest ongoing incident (the worst
	// failing top-level case, FailingCase); null when none is failing.
	FailingSince *time.Time `json:"failing_since"`
	FailingCase  string     `json:"failing_case,omitempty"`
	// FailingForSeconds is now - FailingSince (0 when none is failing).
	FailingForSeconds float64 `json:"failing_for_seconds"`
}

func (s *Status) toRun(name string, r run) Run {
	out := Run{
		Case:            name,
		TraceID:         r.traceID,
		TraceURL:        orbital.TraceLink(s.traceURL, r.traceID),
		Replica:         r.replica,
		Start:           r.start,
		DurationSeconds: r.duration.Seconds(),
		Outcome:         string(r.outcome),
		TimedOut:        r.timedOut,
		Error:           r.errMsg,
		Output:          r.output,
		OutputCut:       r.cut,
	}
	if r.hasLat {
		v := r.latency.Seconds()
		out.LatencySeconds = &v
	}
	if len(r.measures) > 0 {
		out.Measures = make(map[string]float64, len(r.measures))
		for k, d := range r.measures {
			out.Measures[k] = d.Seconds()
		}
	}
	return out
}

func (s *Status) resultToRun(r orbital.Result) Run {
	var nr run
	nr.traceID, nr.start, nr.duration, nr.outcome, nr.timedOut = r.TraceID, r.Start, r.Duration, r.Outcome, r.TimedOut
	nr.errMsg, nr.output = r.Error, r.Output
	if d, ok := r.Measures[latencyMeasure]; ok {
		nr.latency, nr.hasLat = d, true
	}
	nr.measures = r.Measures
	out := s.toRun(r.Case, nr)
	out.Parent = r.Parent
	return out
}

// rows builds every row: registered cases and every name with a history,
// subtests right after their parent.
func (s *Status) rows() []Row {
	cases := s.svc.Cases()
	periods := make(map[string]time.Duration, len(cases))
	timeouts := make(map[string]time.Duration, len(cases))
	for _, c := range cases {
		periods[c.Name], timeouts[c.Name] = c.Period, c.Timeout
	}
	now := s.now()

	s.mu.Lock()
	byName := make(map[string]*Row, len(s.store.cases)+len(cases))
	for name, e := range s.store.cases {
		r := s.rowOf(e, now)
		r.Parent = e.parent
		byName[name] = r
	}
	s.mu.Unlock()
	for _, c := range cases {
		if byName[c.Name] == nil {
			byName[c.Name] = &Row{Name: c.Name, Strip: []StripCell{}}
		}
	}

	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	children := make(map[string][]string)
	var roots []string
	for _, n := range names {
		// A subtest whose parent's history was evicted is shown at the top.
		if p := byName[n].Parent; p != "" && byName[p] != nil {
			children[p] = append(children[p], n)
		} else {
			byName[n].Parent = ""
			roots = append(roots, n)
		}
	}
	out := make([]Row, 0, len(names))
	var walk func(name string, depth int, period time.Duration)
	walk = func(name string, depth int, period time.Duration) {
		r := byName[name]
		r.Depth = depth
		if p, ok := periods[name]; ok {
			period = p
			s.fillRegistered(r, timeouts[name])
		}
		if period > 0 {
			r.Period = fmtPeriod(period)
			r.PeriodSeconds = period.Seconds()
		}
		out = append(out, *r)
		for _, c := range children[name] {
			walk(c, depth+1, period)
		}
	}
	for _, n := range roots {
		walk(n, 0, 0)
	}
	return out
}

// fillRegistered fills in what a registered case's row has beyond its history: its timeout
// and the ticks the scheduler skipped.
func (s *Status) fillRegistered(r *Row, timeout time.Duration) {
	r.Registered = true
	r.TimeoutSeconds = timeout.Seconds()
	if sk, ok := s.svc.SkippedTicks(r.Name); ok {
		r.TicksSkipped, r.OverlapSkipped = sk.Late, sk.Overlap
	}
}

// rowOf builds the row of e; s.mu must be held.
func (s *Status) rowOf(e *entry, now time.Time) *Row {
	r := &Row{Name: e.name, TotalRuns: e.total, LastError: e.lastError}
	if !e.lastFailure.IsZero() {
		t := e.lastFailure
		r.LastFailure = &t
	}
	runs := e.latest(len(e.runs))
	r.Retained = len(runs)
	if len(runs) > 0 {
		last := runs[0]
		r.LastOutcome = string(last.outcome)
		t := last.start
		r.LastRun = &t
		r.LastTraceID = last.traceID
	}
	strip := runs[:min(len(runs), StripLen)]
	r.Strip = make([]StripCell, len(strip))
	for i, x := range strip {
		r.Strip[len(strip)-1-i] = StripCell{Outcome: string(x.outcome), TraceID: x.traceID, Start: x.start}
	}
	var durs, lats []time.Duration
	for _, x := range runs {
		if x.outcome != orbital.Skip && x.outcome != orbital.Inconclusive {
			durs = append(durs, x.duration)
		}
		if x.hasLat {
			lats = append(lats, x.latency)
		}
	}
	r.Duration = quantiles(durs)
	r.Latency = quantiles(lats)
	r.Ratio1h = ratio(e.minutes[:], minuteIndex(now))
	r.Ratio24h = ratio(e.quarters[:], quarterIndex(now))
	return r
}

func (s *Status) summary() Summary {
	rows := s.rows()
	now := s.now()
	sum := Summary{
		Version:       s.version,
		Target:        s.target,
		Started:       s.started,
		Now:           now,
		UptimeSeconds: now.Sub(s.started).Seconds(),
		History:       s.history,
		ManualRuns:    s.hasToken,
	}
	for _, r := range rows {
		if r.Depth != 0 {
			continue
		}
		sum.Cases++
		switch r.LastOutcome {
		case string(orbital.Pass):
			sum.Passing++
		case string(orbital.Fail):
			sum.Failing++
		case string(orbital.Skip):
			sum.Skipped++
		case string(orbital.Inconclusive):
			sum.Inconclusive++
		default:
			sum.Pending++
		}
	}
	s.mu.Lock()
	sum.EvictedCases = s.store.evicted
	s.mu.Unlock()
	if in, ok := s.worstOngoing(); ok {
		t := in.Start
		sum.FailingSince, sum.FailingCase, sum.FailingForSeconds = &t, in.Case, in.DurationSeconds
	}
	return sum
}

func (s *Status) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.summary())
}

func (s *Status) handleCases(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.rows())
}

// handleCaseGet serves GET /api/cases/{name} and /api/cases/{name}/runs.
func (s *Status) handleCaseGet(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	if name, ok := strings.CutSuffix(rest, "/runs"); ok && name != "" {
		s.handleRuns(w, r, name)
		return
	}
	if name, ok := strings.CutSuffix(rest, "/incidents"); ok && name != "" {
		s.handleCaseIncidents(w, name)
		return
	}
	if name, ok := strings.CutSuffix(rest, "/timeline"); ok && name != "" {
		s.handleTimeline(w, name)
		return
	}
	if name, ok := strings.CutSuffix(rest, "/run"); ok && name != "" {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST to run a case")
		return
	}
	for _, row := range s.rows() {
		if row.Name == rest {
			writeJSON(w, http.StatusOK, row)
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q", rest))
}

func (s *Status) handleRuns(w http.ResponseWriter, r *http.Request, name string) {
	limit := DefaultRunsLimit
	if v := r.URL.Query().Get("limit"); v != "" || r.URL.Query().Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit must be a positive integer")
			return
		}
		limit = n
	}
	// More than the history keeps is answered with all of it: the history
	// is the bound, whatever the client asks for.
	limit = min(limit, s.history)
	var from time.Time
	if r.URL.Query().Has("since") {
		d, err := parseSince(r.URL.Query().Get("since"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		from = s.now().Add(-d)
		if !r.URL.Query().Has("limit") {
			limit = s.history
		}
	}
	s.mu.Lock()
	e := s.store.cases[name]
	var runs []run
	if e != nil {
		runs = e.latest(limit)
	}
	s.mu.Unlock()
	runs, _ = startedSince(runs, from, s.history)
	if _, registered := s.svc.Case(name); e == nil && !registered {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q", name))
		return
	}
	out := make([]Run, len(runs))
	for i, x := range runs {
		out[i] = s.toRun(name, x)
	}
	// Failures first, then newest first (runs are newest first already).
	slices.SortStableFunc(out, func(a, b Run) int {
		af, bf := a.Outcome == string(orbital.Fail), b.Outcome == string(orbital.Fail)
		switch {
		case af && !bf:
			return -1
		case bf && !af:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, out)
}

// handleCasePost serves POST /api/cases/{name}/run.
func (s *Status) handleCasePost(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("rest"), "/run")
	if !ok || name == "" {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "only POST /api/cases/{name}/run accepts POST")
		return
	}
	if !s.hasToken {
		writeError(w, http.StatusForbidden, "manual runs are disabled: no admin token is configured (--admin-token)")
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orbital"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token in the Authorization header")
		return
	}
	tc, found := s.svc.Case(name)
	if !found {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q (only registered cases can be run; subtests run with their parent)", name))
		return
	}

	// The run may outlast the server's WriteTimeout: extend this
	// connection's write deadline to the case timeout (or a generous bound
	// when the case uses the service default). Errors mean the writer does
	// not support deadlines; the server's own limits then apply.
	extend := 30 * time.Minute
	if tc.Timeout > 0 {
		extend = tc.Timeout + time.Minute
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(extend))

	s.logger.Info("manual run requested", "case", name, "remote", r.RemoteAddr)
	res, err := s.svc.RunNow(r.Context(), name)
	switch {
	case errors.Is(err, orbital.ErrBusy):
		writeError(w, http.StatusConflict, fmt.Sprintf("case %q has a run in flight; try again when it is over", name))
		return
	case errors.Is(err, orbital.ErrUnknownCase):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown case %q", name))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := s.resultToRun(res)
	out.Replica = s.replica
	for _, sub := range res.Subtests {
		sr := s.resultToRun(sub)
		sr.Replica = s.replica
		out.Subtests = append(out.Subtests, sr)
	}
	if err := context.Cause(r.Context()); err != nil {
		s.logger.Warn("manual run: client went away", "case", name, "err", err)
	}
	writeJSON(w, http.StatusOK, out)
}

// authorized compares the bearer token in constant time (over hashes, so the
// token's length does not leak either).
func (s *Status) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

func (s *Status) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/status", "/api/cases":
		w.Header().Set("Allow", http.MethodGet+", "+http.MethodHead)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if r.URL.Path == "/api/runs" || r.URL.Path == "/api/incidents" {
		w.Header().Set("Allow", http.MethodGet+", "+http.MethodHead)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/cases/") {
		w.Header().Set("Allow", http.MethodGet+", "+http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path)
}

func (s *Status) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		w.Header().Set("Allow", http.MethodGet+", "+http.MethodHead)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	http.NotFound(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// fmtPeriod formats d as time.Duration does, without trailing zero units:
// "30s", "1m", "1m30s", "2h".
func fmtPeriod(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
