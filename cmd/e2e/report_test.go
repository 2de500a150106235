package main

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/orbital"
)

func TestTallyFinalLine(t *testing.T) {
	tests := []struct {
		t    tally
		want string
	}{
		{tally{passed: 3}, "3 passed, 0 failed"},
		{tally{passed: 1, failed: 2}, "1 passed, 2 failed"},
		{tally{passed: 1, failed: 0, skipped: 1}, "1 passed, 0 failed, 1 skipped"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestWriteJUnit(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	results := []orbital.Result{
		{Case: "batch", TraceID: "t1", Outcome: orbital.Pass, Duration: 1500 * time.Millisecond, Output: "--- PASS: batch (1.50s)\n"},
		{Case: "browser", TraceID: "t2", Outcome: orbital.Skip, Output: "--- SKIP: browser (0.00s)\n    [t2] browser.go:62: no Chrome binary\n"},
		{Case: "track", TraceID: "t3", Outcome: orbital.Fail, Error: "messageId t3 not delivered within 2s", Output: "--- FAIL: track (2.00s)\n    [t3] deliver.go:1: messageId t3 not delivered within 2s\n"},
	}
	var buf bytes.Buffer
	if err := writeJUnit(&buf, results, start, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	var got junit.Testsuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if got.Tests != 3 || got.Failures != 1 || got.Skipped != 1 || len(got.Suites) != 1 {
		t.Fatalf("totals %+v", got)
	}
	s := got.Suites[0]
	if s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Time != "3.000" || s.Timestamp != "2026-01-02T03:04:05Z" {
		t.Errorf("suite %+v", s)
	}
	tc := s.Testcases
	if tc[0].Name != "batch" || tc[0].Time != "1.500" || tc[0].Failure != nil || tc[0].Skipped != nil {
		t.Errorf("pass case %+v", tc[0])
	}
	if tc[1].Skipped == nil || tc[1].Skipped.Message != "no Chrome binary" {
		t.Errorf("skip case %+v", tc[1].Skipped)
	}
	if tc[2].Failure == nil || tc[2].Failure.Message != results[2].Error || tc[2].SystemOut == nil || tc[2].SystemOut.Data != results[2].Output {
		t.Errorf("fail case %+v", tc[2])
	}
}

func TestReadyz(t *testing.T) {
	var ready, draining atomic.Bool
	mux := webhookMux(http.NotFoundHandler(), http.NotFoundHandler(), &ready, &draining)
	code := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	steps := []struct {
		name            string
		ready, draining bool
		readyz, healthz int
	}{
		{"starting", false, false, 503, 200},
		{"ready", true, false, 200, 200},
		{"draining", true, true, 503, 200},
	}
	for _, s := range steps {
		ready.Store(s.ready)
		draining.Store(s.draining)
		if got := code("/readyz"); got != s.readyz {
			t.Errorf("%s: /readyz = %d, want %d", s.name, got, s.readyz)
		}
		if got := code("/healthz"); got != s.healthz {
			t.Errorf("%s: /healthz = %d, want %d", s.name, got, s.healthz)
		}
	}
}

func TestConsoleRedrawsStatusAroundWrites(t *testing.T) {
	var term bytes.Buffer
	c := &console{term: &term}
	w := c.wrap(&term)
	c.setStatus("1/2 finished")
	_, _ = w.Write([]byte("--- PASS: track (0.01s)\n"))
	c.setStatus("")
	want := clearLine + "1/2 finished" + clearLine + "--- PASS: track (0.01s)\n" + "1/2 finished" + clearLine
	if got := term.String(); got != want {
		t.Errorf("terminal got %q, want %q", got, want)
	}
	if strings.Count(term.String(), "PASS") != 1 {
		t.Error("output written more than once")
	}
}
