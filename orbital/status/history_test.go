package status_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
)

func TestHistoryBoundedPerCase(t *testing.T) {
	const history = 64
	f := newFixture(t, status.Config{History: history}, passing("track"))
	for i := range 10_000 {
		r := result("track", orbital.Pass, time.Millisecond)
		r.TraceID = fmt.Sprint(i)
		f.st.Report(r)
	}
	var rows []status.Row
	getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
	if r := rows[0]; r.Retained != history || r.TotalRuns != 10_000 || r.Duration.Count != history || len(r.Strip) != status.StripLen {
		t.Errorf("row = retained %d total %d quantiles over %d strip %d; want %d, 10000, %d, %d",
			r.Retained, r.TotalRuns, r.Duration.Count, len(r.Strip), history, history, status.StripLen)
	}
	if got := rows[0].Strip[status.StripLen-1].TraceID; got != "9999" {
		t.Errorf("newest strip cell %s, want 9999", got)
	}
	var runs []status.Run
	getJSON(t, f.srv.URL+fmt.Sprintf("/api/cases/track/runs?limit=%d", history), http.StatusOK, &runs)
	if len(runs) != history || runs[0].TraceID != "9999" || runs[history-1].TraceID != fmt.Sprint(10_000-history) {
		t.Errorf("runs: %d from %s to %s", len(runs), runs[0].TraceID, runs[len(runs)-1].TraceID)
	}
}

func TestCaseNamesBounded(t *testing.T) {
	const maxCases = 50
	f := newFixture(t, status.Config{History: 4, MaxCases: maxCases}, passing("track"), passing("rare"))
	f.st.Report(result("rare", orbital.Fail, time.Millisecond)) // least recently reported, but registered
	for i := range 10_000 {
		f.st.Report(result(fmt.Sprintf("track/dynamic-%d", i), orbital.Pass, time.Millisecond))
	}
	var rows []status.Row
	getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
	if len(rows) > maxCases+1 { // the registered "track" has no runs of its own and is listed anyway
		t.Errorf("%d rows, want at most %d", len(rows), maxCases+1)
	}
	var rare *status.Row
	for i := range rows {
		if rows[i].Name == "rare" {
			rare = &rows[i]
		}
	}
	if rare == nil || rare.LastOutcome != "fail" {
		t.Errorf("registered case rare lost its history: %+v", rare)
	}
	if last := rows[len(rows)-1].Name; last != "track/dynamic-9999" && !strings.HasPrefix(last, "track/dynamic-99") {
		t.Errorf("last row %s, want one of the newest subtests", last)
	}
	var sum status.Summary
	getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &sum)
	if sum.EvictedCases < 10_000-maxCases {
		t.Errorf("evicted_cases %d, want at least %d", sum.EvictedCases, 10_000-maxCases)
	}
}

func TestLogBytesBounded(t *testing.T) {
	const (
		maxOutput   = 4 << 10
		maxLogBytes = 64 << 10
	)
	f := newFixture(t, status.Config{History: 100, MaxOutput: maxOutput, MaxLogBytes: maxLogBytes}, passing("a"), passing("b"))
	big := strings.Repeat("x", 10<<10)
	for i := range 1000 {
		r := result([]string{"a", "b"}[i%2], orbital.Fail, time.Millisecond)
		r.Output = fmt.Sprintf("head %d\n%send %d\n", i, big, i)
		f.st.Report(r)
	}
	total := 0
	for _, name := range []string{"a", "b"} {
		var runs []status.Run
		getJSON(t, f.srv.URL+"/api/cases/"+name+"/runs?limit=100", http.StatusOK, &runs)
		if len(runs) != 100 {
			t.Fatalf("%s: %d runs kept, want 100 (logs are dropped, runs are not)", name, len(runs))
		}
		for _, r := range runs {
			if len(r.Output) > maxOutput+100 {
				t.Fatalf("a run kept %d bytes of log, want about %d", len(r.Output), maxOutput)
			}
			if r.Output != "" && r.OutputCut == 0 {
				t.Errorf("a cut log does not say so")
			}
			total += len(r.Output)
		}
		if newest := runs[0].Output; !strings.HasPrefix(newest, "head 99") || !strings.HasSuffix(newest, "end 99"+map[string]string{"a": "8", "b": "9"}[name]+"\n") {
			t.Errorf("%s: newest log does not keep head and tail: %.40q…", name, newest)
		}
	}
	if total > maxLogBytes || total < maxLogBytes/2 {
		t.Errorf("logs kept: %d bytes, want between %d and MaxLogBytes=%d", total, maxLogBytes/2, maxLogBytes)
	}
}

func TestMemoryBoundedAtAnyRunRate(t *testing.T) {
	st, err := status.New(status.Config{Service: orbital.New(), History: 100, MaxCases: 100, MaxOutput: 1 << 10, MaxLogBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	logText, errText := strings.Repeat("log line\n", 200), strings.Repeat("e", 10<<10)
	report := func(n, offset int) {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < n; i += 4 {
					r := result(fmt.Sprintf("case/sub-%d", (offset+i)%1000), orbital.Fail, time.Millisecond)
					r.Output, r.Error = logText, errText
					st.Report(r)
				}
			})
		}
		wg.Wait()
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	report(5_000, 0) // fill every bound
	before := heap()
	report(30_000, 5_000)
	after := heap()
	if after > before && after-before > 8<<20 {
		t.Errorf("heap grew by %d MiB over 30,000 more results, want it flat", (after-before)>>20)
	}
	runtime.KeepAlive(st)
}

func TestRatioWindows(t *testing.T) {
	// A fake clock starting one minute into a quarter hour.
	t0 := time.Date(2030, 5, 6, 7, 1, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(d time.Duration) { mu.Lock(); now = t0.Add(d); mu.Unlock() }

	f := newFixture(t, status.Config{Now: clock}, passing("track"))
	for _, o := range []orbital.Outcome{orbital.Pass, orbital.Pass, orbital.Pass, orbital.Fail, orbital.Skip, orbital.Skip} {
		f.st.Report(result("track", o, time.Millisecond))
	}
	set(30 * time.Minute)
	f.st.Report(result("track", orbital.Fail, time.Millisecond))

	type counts struct{ pass, fail, skip int }
	tests := []struct {
		at            time.Duration
		h1, h24       counts
		ratio1, ratio *float64
	}{
		{at: 30 * time.Minute, h1: counts{3, 2, 2}, h24: counts{3, 2, 2}, ratio1: ptr(0.6), ratio: ptr(0.6)},
		{at: 59 * time.Minute, h1: counts{3, 2, 2}, h24: counts{3, 2, 2}, ratio1: ptr(0.6), ratio: ptr(0.6)},
		{at: 61 * time.Minute, h1: counts{0, 1, 0}, h24: counts{3, 2, 2}, ratio1: ptr(0), ratio: ptr(0.6)},
		{at: 91 * time.Minute, h1: counts{}, h24: counts{3, 2, 2}, ratio1: nil, ratio: ptr(0.6)},
		{at: 23 * time.Hour, h1: counts{}, h24: counts{3, 2, 2}, ratio1: nil, ratio: ptr(0.6)},
		{at: 24*time.Hour + 10*time.Minute, h1: counts{}, h24: counts{0, 1, 0}, ratio1: nil, ratio: ptr(0)},
		{at: 25 * time.Hour, h1: counts{}, h24: counts{}, ratio1: nil, ratio: nil},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			set(tt.at)
			var rows []status.Row
			getJSON(t, f.srv.URL+"/api/cases", http.StatusOK, &rows)
			r := rows[0]
			if got := (counts{r.Ratio1h.Pass, r.Ratio1h.Fail, r.Ratio1h.Skip}); got != tt.h1 {
				t.Errorf("1h counts %+v, want %+v", got, tt.h1)
			}
			if got := (counts{r.Ratio24h.Pass, r.Ratio24h.Fail, r.Ratio24h.Skip}); got != tt.h24 {
				t.Errorf("24h counts %+v, want %+v", got, tt.h24)
			}
			if !sameRatio(r.Ratio1h.Ratio, tt.ratio1) || !sameRatio(r.Ratio24h.Ratio, tt.ratio) {
				t.Errorf("ratios %v %v, want %v %v", deref(r.Ratio1h.Ratio), deref(r.Ratio24h.Ratio), deref(tt.ratio1), deref(tt.ratio))
			}
			var sum status.Summary
			getJSON(t, f.srv.URL+"/api/status", http.StatusOK, &sum)
			if sum.UptimeSeconds != tt.at.Seconds() {
				t.Errorf("uptime %vs, want %vs", sum.UptimeSeconds, tt.at.Seconds())
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

func sameRatio(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	d := *a - *b
	return d < 1e-9 && d > -1e-9
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
