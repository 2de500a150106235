package report_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/internal/report"
	"github.com/orbital-e2e/orbital/orbital"
)

func TestTallyFinalLine(t *testing.T) {
	tests := []struct {
		t    report.Tally
		want string
	}{
		{report.Tally{Passed: 3}, "3 passed, 0 failed"},
		{report.Tally{Passed: 1, Failed: 2}, "1 passed, 2 failed"},
		{report.Tally{Passed: 1, Failed: 0, Skipped: 1}, "1 passed, 0 failed, 1 skipped"},
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
	if err := report.WriteJUnit(&buf, results, start, 3*time.Second); err != nil {
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

func TestConsoleRedrawsStatusAroundWrites(t *testing.T) {
	var term bytes.Buffer
	c := report.NewConsole(&term)
	w := c.Wrap(&term)
	c.SetStatus("1/2 finished")
	_, _ = w.Write([]byte("--- PASS: track (0.01s)\n"))
	c.SetStatus("")
	want := report.ClearLine + "1/2 finished" + report.ClearLine + "--- PASS: track (0.01s)\n" + "1/2 finished" + report.ClearLine
	if got := term.String(); got != want {
		t.Errorf("terminal got %q, want %q", got, want)
	}
	if strings.Count(term.String(), "PASS") != 1 {
		t.Error("output written more than once")
	}
}
