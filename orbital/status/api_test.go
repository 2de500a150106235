package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

func TestManualRunAuth(t *testing.T) {
	const token = "s3cret-token"
	tests := []struct {
		name     string
		token    string // Config.AdminToken
		path     string
		header   string // Authorization
		wantCode int
	}{
		{"disabled without a token", "", "/api/cases/track/run", "Bearer anything", http.StatusForbidden},
		{"disabled even for an unknown case", "", "/api/cases/nope/run", "", http.StatusForbidden},
		{"missing token", token, "/api/cases/track/run", "", http.StatusUnauthorized},
		{"wrong token", token, "/api/cases/track/run", "Bearer wrong", http.StatusUnauthorized},
		{"token prefix", token, "/api/cases/track/run", "Bearer s3cret", http.StatusUnauthorized},
		{"wrong scheme", token, "/api/cases/track/run", "Basic " + token, http.StatusUnauthorized},
		{"unknown case needs auth first", token, "/api/cases/nope/run", "", http.StatusUnauthorized},
		{"unknown case", token, "/api/cases/nope/run", "Bearer " + token, http.StatusNotFound},
		{"subtest is not a registered case", token, "/api/cases/track/sub/run", "Bearer " + token, http.StatusNotFound},
		{"right token", token, "/api/cases/track/run", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", token, "/api/cases/track/run", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := passing("track")
			tc.Func = func(ctx context.Context, o *orbital.O) {
				o.Log("sent")
				o.Run("sub", func(ctx context.Context, o *orbital.O) { o.Log("in sub") })
				o.Measure("delivery.latency", 42*time.Millisecond)
			}
			f := newFixture(t, status.Config{AdminToken: tt.token}, tc)
			h := map[string]string{}
			if tt.header != "" {
				h["Authorization"] = tt.header
			}
			code, ct, body := do(t, http.MethodPost, f.srv.URL+tt.path, h)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d; body %s", code, tt.wantCode, body)
			}
			if !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if tt.token != "" && strings.Contains(string(body), tt.token) {
				t.Errorf("the admin token leaked into the answer: %s", body)
			}
			if code != http.StatusOK {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("error answer %s is not {\"error\": ...} (%v)", body, err)
				}
				return
			}
			var run status.Run
			if err := json.Unmarshal(body, &run); err != nil {
				t.Fatal(err)
			}
			if run.Case != "track" || run.Outcome != "pass" || run.TraceID == "" || !strings.Contains(run.Output, "sent") {
				t.Errorf("run = %+v, want a passing run of track with its log", run)
			}
			if run.LatencySeconds == nil || *run.LatencySeconds != 0.042 {
				t.Errorf("delivery_latency_seconds = %v, want 0.042", run.LatencySeconds)
			}
			if len(run.Subtests) != 1 || run.Subtests[0].Case != "track/sub" {
				t.Errorf("subtests = %+v, want track/sub", run.Subtests)
			}
			// The manual run went to the history like any other.
			var runs []status.Run
			getJSON(t, f.srv.URL+"/api/cases/track/runs", http.StatusOK, &runs)
			if len(runs) != 1 || runs[0].TraceID != run.TraceID {
				t.Errorf("history = %+v, want the manual run", runs)
			}
		})
	}
}

func TestManualRunUsesCaseTimeout(t *testing.T) {
	const token = "tok"
	tc := orbital.TestCase{Name: "slow", Period: time.Hour, Timeout: 50 * time.Millisecond,
		Func: func(ctx context.Context, o *orbital.O) {
			<-ctx.Done()
			o.Fatal("not delivered:", context.Cause(ctx))
		}}
	f := newFixture(t, status.Config{AdminToken: token}, tc)
	code, _, body := do(t, http.MethodPost, f.srv.URL+"/api/cases/slow/run", map[string]string{"Authorization": "Bearer " + token})
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var run status.Run
	if err := json.Unmarshal(body, &run); err != nil {
		t.Fatal(err)
	}
	if run.Outcome != "fail" || !run.TimedOut || run.Error == "" {
		t.Errorf("run = %+v, want a timed-out failure with its error", run)
	}
}

func TestRunsLimit(t *testing.T) {
	f := newFixture(t, status.Config{History: 100}, passing("track"), passing("idle"))
	for i := range 120 {
		r := result("track", orbital.Pass, time.Duration(i)*time.Millisecond)
		r.TraceID = fmt.Sprint("t", i)
		f.st.Report(r)
	}
	tests := []struct {
		query    string
		wantCode int
		wantLen  int
	}{
		{"", http.StatusOK, status.DefaultRunsLimit},
		{"?limit=1", http.StatusOK, 1},
		{"?limit=10", http.StatusOK, 10},
		{"?limit=100", http.StatusOK, 100},
		{"?limit=101", http.StatusOK, 100},
		{"?limit=1000000", http.StatusOK, 100},
		{"?limit=0", http.StatusBadRequest, 0},
		{"?limit=-3", http.StatusBadRequest, 0},
		{"?limit=ten", http.StatusBadRequest, 0},
		{"?limit=", http.StatusBadRequest, 0},
		{"?limit=99999999999999999999", http.StatusBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run("limit"+tt.query, func(t *testing.T) {
			if tt.wantCode != http.StatusOK {
				var e map[string]string
				getJSON(t, f.srv.URL+"/api/cases/track/runs"+tt.query, tt.wantCode, &e)
				if !strings.Contains(e["error"], "limit") {
					t.Errorf("error = %q, want one about limit", e["error"])
				}
				return
			}
			var runs []status.Run
			getJSON(t, f.srv.URL+"/api/cases/track/runs"+tt.query, http.StatusOK, &runs)
			if len(runs) != tt.wantLen {
				t.Fatalf("%d runs, want %d", len(runs), tt.wantLen)
			}
			if runs[0].TraceID != "t119" {
				t.Errorf("first run %s, want the newest t119", runs[0].TraceID)
			}
		})
	}

	t.Run("registered case without runs", func(t *testing.T) {
		var runs []status.Run
		getJSON(t, f.srv.URL+"/api/cases/idle/runs", http.StatusOK, &runs)
		if runs == nil || len(runs) != 0 {
			t.Errorf("runs = %#v, want an empty array", runs)
		}
	})
	t.Run("unknown case", func(t *testing.T) {
		var e map[string]string
		getJSON(t, f.srv.URL+"/api/cases/nope/runs", http.StatusNotFound, &e)
		if e["error"] == "" {
			t.Errorf("no error message: %v", e)
		}
	})
}

func TestRunsFailuresFirst(t *testing.T) {
	f := newFixture(t, status.Config{}, passing("track"))
	for i, o := range []orbital.Outcome{orbital.Pass, orbital.Fail, orbital.Pass, orbital.Skip, orbital.Fail, orbital.Pass} {
		r := result("track", o, time.Millisecond)
		r.TraceID = fmt.Sprint(i)
		f.st.Report(r)
	}
	var runs []status.Run
	getJSON(t, f.srv.URL+"/api/cases/track/runs", http.StatusOK, &runs)
	var got []string
	for _, r := range runs {
		got = append(got, r.Outcome+r.TraceID)
	}
	want := "fail4 fail1 pass5 skip3 pass2 pass0"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s (failures first, then newest first)", got, want)
	}
}

func TestCasesJSONShape(t *testing.T) {
	f := newFixture(t, status.Config{}, passing("track"), passing("batch"), passing("zz.idle"))
	for i := 1; i <= 100; i++ {
		r := result("track", orbital.Pass, time.Duration(i)*time.Millisecond)
		r.Measures = map[string]time.Duration{"delivery.latency": time.Duration(i) * time.Microsecond}
		f.st.Report(r)
	}
	f.st.Report(result("track/sub", orbital.Fail, time.Millisecond))
	f.st.Report(result("batch", orbital.Skip, time.Millisecond))

	// Raw shape: the documented keys are there.
	var raw []map[string]any
	getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &raw)
	for _, key := range []string{"name", "depth", "period", "last_outcome", "strip", "ratio_1h", "ratio_24h", "duration", "delivery_latency", "last_failure"} {
		if _, ok := raw[1][key]; !ok {
			t.Errorf("row %v lacks %q", raw[1]["name"], key)
		}
	}

	var rows []status.Row
	getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
	var names []string
	for _, r := range rows {
		names = append(names, fmt.Sprintf("%s@%d", r.Name, r.Depth))
	}
	if got, want := strings.Join(names, " "), "batch@0 track@0 track/sub@1 zz.idle@0"; got != want {
		t.Fatalf("rows %s, want %s (subtests after their parent)", got, want)
	}
	track, sub, idle := rows[1], rows[2], rows[3]
	if track.LastOutcome != "pass" || track.Period != "1m" || len(track.Strip) != status.StripLen || track.Retained != 100 {
		t.Errorf("track row = %+v", track)
	}
	if got := [3]float64{*track.Duration.P50, *track.Duration.P95, *track.Duration.P99}; got != [3]float64{0.05, 0.095, 0.099} {
		t.Errorf("duration quantiles %v, want [0.05 0.095 0.099]", got)
	}
	if got := *track.Latency.P99; got != 0.000099 || track.Latency.Count != 100 {
		t.Errorf("latency p99 %v over %d, want 0.000099 over 100", got, track.Latency.Count)
	}
	if r := track.Ratio1h; r.Pass != 100 || r.Ratio == nil || *r.Ratio != 1 {
		t.Errorf("ratio_1h %+v, want 100 passes, ratio 1", r)
	}
	if sub.Parent != "track" || sub.LastOutcome != "fail" || sub.LastFailure == nil || sub.LastError != "boom" || sub.Period != "1m" {
		t.Errorf("subtest row = %+v", sub)
	}
	if idle.LastOutcome != "" || idle.Duration.P50 != nil || idle.Ratio24h.Ratio != nil || idle.Strip == nil {
		t.Errorf("idle row = %+v, want empty stats", idle)
	}
	if b := rows[0]; b.Duration.Count != 0 || b.Ratio1h.Skip != 1 || b.Ratio1h.Ratio != nil {
		t.Errorf("batch (one skip) = %+v: skips must not count in quantiles or ratios", b)
	}

	var one status.Row
	getJSON(t, f.srv.URL+"/api/cases/track/sub", http.StatusOK, &one)
	if one.Name != "track/sub" {
		t.Errorf("GET /api/cases/track/sub = %+v", one)
	}

	var sum status.Summary
	getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &sum)
	if sum.Cases != 3 || sum.Passing != 1 || sum.Skipped != 1 || sum.Pending != 1 || sum.Failing != 0 || sum.Target != "embedded" {
		t.Errorf("summary = %+v", sum)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	f := newFixture(t, status.Config{AdminToken: "x"}, passing("track"))
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/nope", http.StatusNotFound},
		{"GET", "/api/cases/nope", http.StatusNotFound},
		{"GET", "/api/cases/", http.StatusNotFound},
		{"GET", "/api/cases/track/run", http.StatusMethodNotAllowed},
		{"DELETE", "/api/cases/track", http.StatusMethodNotAllowed},
		{"POST", "/api/cases", http.StatusMethodNotAllowed},
		{"POST", "/api/cases/track/runs", http.StatusMethodNotAllowed},
		{"PUT", "/api/status", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, ct, body := do(t, tt.method, f.srv.URL+tt.path, nil)
			if code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
			var e map[string]string
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e["error"] == "" {
				t.Errorf("answer %q (%s) is not a JSON error", body, ct)
			}
		})
	}
}

func TestPageEscapesAndHidesSecrets(t *testing.T) {
	f := newFixture(t, status.Config{
		AdminToken: "admin-s3cret",
		Version:    `<script>alert(1)</script>`,
		Target:     "https://user:pa55word@api.example.com/v1?writeKey=wk-s3cret#frag",
	}, passing("track"))
	r := result("track", orbital.Fail, time.Millisecond)
	r.Error = `<img src=x onerror=alert(1)>`
	f.st.Report(r)

	code, ct, body := do(t, http.MethodGet, f.srv.URL+"/", nil)
	if code != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /: %d %s", code, ct)
	}
	page := string(body)
	for _, bad := range []string{"<script>alert", "<img src=x", "pa55word", "wk-s3cret", "admin-s3cret"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "https://api.example.com/v1", `name="viewport"`, `data-case="track"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, path := range []string{"/api/status", "/api/cases", "/api/cases/track/runs"} {
		_, _, b := do(t, http.MethodGet, f.srv.URL+path, nil)
		for _, secret := range []string{"pa55word", "wk-s3cret", "admin-s3cret"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s leaks %q", path, secret)
			}
		}
	}
}

func TestAssetsEmbedded(t *testing.T) {
	f := newFixture(t, status.Config{}, passing("track"))
	tests := []struct {
		path, wantType string
		wantCode       int
	}{
		{"/assets/app.js", "text/javascript", http.StatusOK},
		{"/assets/style.css", "text/css", http.StatusOK},
		{"/assets/nope.js", "", http.StatusNotFound},
		{"/nope", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		code, ct, body := do(t, http.MethodGet, f.srv.URL+tt.path, nil)
		if code != tt.wantCode || !strings.HasPrefix(ct, tt.wantType) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, code, ct, tt.wantCode, tt.wantType)
		}
		// The SVG namespace name is an identifier createElementNS needs, never
		// fetched; any other URL would be.
		text := strings.ReplaceAll(string(body), `"http://www.w3.org/2000/svg"`, "")
		if code == http.StatusOK && (strings.Contains(text, "http://") || strings.Contains(text, "https://")) {
			t.Errorf("%s refers to an external URL", tt.path)
		}
	}
	if _, _, js := do(t, http.MethodGet, f.srv.URL+"/assets/app.js", nil); strings.Contains(string(js), "innerHTML") {
		t.Error("app.js uses innerHTML")
	}
}

func TestNewValidates(t *testing.T) {
	svc := orbital.New()
	tests := []struct {
		name string
		cfg  status.Config
	}{
		{"no service", status.Config{}},
		{"negative history", status.Config{Service: svc, History: -1}},
		{"negative max cases", status.Config{Service: svc, MaxCases: -1}},
	}
	for _, tt := range tests {
		if _, err := status.New(tt.cfg); err == nil {
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
	var nilStatus *status.Status
	nilStatus.Report(result("x", orbital.Pass, 0)) // must not panic
}

func TestConcurrentReportAndServe(t *testing.T) {
	f := newFixture(t, status.Config{History: 20, MaxCases: 16}, passing("track"))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				f.st.Report(result(fmt.Sprintf("track/s%d", (g*300+i)%40), orbital.Pass, time.Millisecond))
				f.st.Report(result("track", orbital.Fail, time.Millisecond))
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				var rows []status.Row
				getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
				var runs []status.Run
				getJSON(t, f.srv.URL+"/api/cases/track/runs?limit=20", http.StatusOK, &runs)
				do(t, http.MethodGet, f.srv.URL+"/", nil)
			}
		})
	}
	wg.Wait()
	var rows []status.Row
	getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
	if len(rows) > 16 {
		t.Errorf("%d rows, want at most MaxCases=16", len(rows))
	}
	if rows[0].Name != "track" || rows[0].TotalRuns != 2400 {
		t.Errorf("first row %s with %d runs, want track with 2400", rows[0].Name, rows[0].TotalRuns)
	}
}

// A manual run asked for while a scheduled run of the case is in flight is
// refused with 409: manual and scheduled runs share one overlap guard.
func TestManualRunConflictsWithScheduledRun(t *testing.T) {
	const token = "tok"
	inRun := make(chan struct{}, 1)
	release := make(chan struct{})
	tc := orbital.TestCase{Name: "slow", Period: time.Hour, Func: func(ctx context.Context, o *orbital.O) {
		select {
		case inRun <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	}}
	f := newFixture(t, status.Config{AdminToken: token}, tc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-inRun:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduled run did not start")
	}
	auth := map[string]string{"Authorization": "Bearer " + token}
	code, _, body := do(t, http.MethodPost, f.srv.URL+"/api/cases/slow/run", auth)
	if code != http.StatusConflict {
		t.Fatalf("POST during a scheduled run: status %d, want 409; body %s", code, body)
	}
	close(release)
}
