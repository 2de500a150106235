package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/internal/report"
	"github.com/orbital-e2e/orbital/orbital"
)

// inconclusiveResult is an inconclusive run as package orbital reports one.
func inconclusiveResult() orbital.Result {
	return orbital.Result{
		Case: "browser", TraceID: "t9", Outcome: orbital.Inconclusive, Duration: time.Second,
		Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Error: "messageId t9: the browser crashed mid-run (signal: killed); no verdict on the pipeline",
		Output: "--- INCONCLUSIVE: browser (1.00s)\n" +
			"    [t9] browser.go:99: messageId t9: the browser crashed mid-run (signal: killed); no verdict on the pipeline\n",
	}
}

// JUnit tells a run that could not conclude (<error>) from a failed check (<failure>).
func TestJUnitInconclusiveIsAnError(t *testing.T) {
	results := []orbital.Result{
		{Case: "track", TraceID: "t1", Outcome: orbital.Fail, Error: "not delivered", Output: "--- FAIL: track (2.00s)\n"},
		inconclusiveResult(),
	}
	var buf bytes.Buffer
	if err := report.WriteJUnit(&buf, results, time.Unix(0, 0), time.Second); err != nil {
		t.Fatal(err)
	}
	var got junit.Testsuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if got.Tests != 2 || got.Failures != 1 || got.Errors != 1 || got.Skipped != 0 {
		t.Errorf("totals tests %d failures %d errors %d skipped %d, want 2 1 1 0", got.Tests, got.Failures, got.Errors, got.Skipped)
	}
	tc := got.Suites[0].Testcases[1]
	if tc.Error == nil || tc.Error.Message != results[1].Error || tc.Error.Type != "inconclusive" ||
		!strings.Contains(tc.Error.Data, "--- INCONCLUSIVE: browser") || tc.Failure != nil || tc.Skipped != nil {
		t.Errorf("inconclusive case: error %+v failure %+v skipped %+v", tc.Error, tc.Failure, tc.Skipped)
	}
	if !strings.Contains(buf.String(), `<error message="messageId t9: the browser crashed`) {
		t.Errorf("no <error> element:\n%s", buf.String())
	}
}

// go test -json has no inconclusive action: the run ends "skip", with the reason in its
// output, and the Error extension field holds it too.
func TestJSONInconclusiveIsASkipWithTheReason(t *testing.T) {
	var buf bytes.Buffer
	j := report.NewJSON(&buf)
	r := inconclusiveResult()
	j.Result(r)
	if err := j.Err(); err != nil {
		t.Fatal(err)
	}
	var evs []report.Event
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev report.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	final := evs[len(evs)-1]
	if final.Action != "skip" || final.Test != "browser" || final.Error != r.Error || final.Elapsed == nil {
		t.Errorf("final event %+v, want skip of browser with the reason in Error", final)
	}
	var out strings.Builder
	for _, ev := range evs {
		if ev.Action == "output" && ev.Output != nil {
			out.WriteString(*ev.Output)
		}
		if ev.Action != "output" && ev.Action != "run" && ev.Action != "skip" {
			t.Errorf("event action %q is not one go test -json uses", ev.Action)
		}
	}
	if !strings.Contains(out.String(), "    inconclusive: "+r.Error+"\n") {
		t.Errorf("output lacks the reason line:\n%s", out.String())
	}
}

func TestTallyAndFailureLinesCountInconclusive(t *testing.T) {
	var sum report.Tally
	results := []orbital.Result{
		{Case: "track", Outcome: orbital.Pass},
		{Case: "batch", TraceID: "t2", Outcome: orbital.Fail, Error: "lost"},
		inconclusiveResult(),
	}
	for _, r := range results {
		sum.Add(r)
	}
	if got, want := sum.String(), "1 passed, 1 failed, 1 inconclusive"; got != want || sum.Total() != 3 {
		t.Errorf("tally %q (total %d), want %q (3)", got, sum.Total(), want)
	}
	lines := report.FailureLines(results)
	want := []string{
		"--- FAIL: batch [trace_id t2]: lost",
		"--- INCONCLUSIVE: browser [trace_id t9]: " + results[2].Error,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("failure lines %q, want %q", lines, want)
	}
	var table bytes.Buffer
	report.WriteSummaryTable(&table, results)
	if !strings.Contains(table.String(), "INCONCLUSIVE") || !strings.Contains(table.String(), "the browser crashed mid-run") {
		t.Errorf("summary table lacks the inconclusive row:\n%s", table.String())
	}
}
