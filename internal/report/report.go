// Package report renders orbital results for people and for CI: go-test
// style JSON events (cmd/test2json's shape), a JUnit XML report, the closing
// tally and failure list of a release gate, and a terminal console with a
// live status line.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/orbital"
)

// Package is the Package of the go test -json style events gate writes.
const Package = "e2e"

// Event is one go test -json style event (cmd/test2json's TestEvent), with three extra
// fields on a test's final event: its trace id, failure message (or, for an inconclusive
// run, why it could not conclude) and measures in seconds. go test has no inconclusive
// action, so an inconclusive run ends with "skip", the action go test uses for a test that
// did not reach a verdict, after an output line "    inconclusive: <why>".
type Event struct {
	Time     time.Time          `json:"Time"`
	Action   string             `json:"Action"`
	Package  string             `json:"Package"`
	Test     string             `json:"Test,omitempty"`
	Elapsed  *float64           `json:"Elapsed,omitempty"`
	Output   *string            `json:"Output,omitempty"`
	TraceID  string             `json:"TraceID,omitempty"`
	Error    string             `json:"Error,omitempty"`
	Measures map[string]float64 `json:"Measures,omitempty"`
}

// JSON writes go test -json style events for results as they arrive. It is safe for
// concurrent use; a nil *JSON writes nothing.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewJSON returns a JSON writing to w; nil for a nil w.
func NewJSON(w io.Writer) *JSON {
	if w == nil {
		return nil
	}
	return &JSON{enc: json.NewEncoder(w)}
}

func (j *JSON) emit(evs ...Event) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, ev := range evs {
		if j.err == nil {
			j.err = j.enc.Encode(ev)
		}
	}
}

// result writes the run, output and final events of one result.
func (j *JSON) Result(r orbital.Result) {
	if j == nil {
		return
	}
	str := func(s string) *string { return &s }
	evs := []Event{
		{Time: r.Start, Action: "run", Package: Package, Test: r.Case},
		{Time: r.Start, Action: "output", Package: Package, Test: r.Case, Output: str("=== RUN   " + r.Case + "\n")},
	}
	end := r.Start.Add(r.Duration)
	for _, line := range strings.SplitAfter(r.Output, "\n") {
		if line != "" {
			evs = append(evs, Event{Time: end, Action: "output", Package: Package, Test: r.Case, Output: str(line)})
		}
	}
	secs := r.Duration.Seconds()
	action := string(r.Outcome)
	if r.Outcome == orbital.Inconclusive {
		action = "skip"
		evs = append(evs, Event{Time: end, Action: "output", Package: Package, Test: r.Case,
			Output: str("    inconclusive: " + strings.ReplaceAll(InconclusiveReason(r), "\n", " ") + "\n")})
	}
	final := Event{Time: end, Action: action, Package: Package, Test: r.Case, Elapsed: &secs, TraceID: r.TraceID, Error: r.Error}
	if len(r.Measures) > 0 {
		final.Measures = make(map[string]float64, len(r.Measures))
		for k, v := range r.Measures {
			final.Measures[k] = v.Seconds()
		}
	}
	j.emit(append(evs, final)...)
}

// end writes the package's closing output lines and final event.
func (j *JSON) End(lines []string, failed bool, elapsed time.Duration) {
	if j == nil {
		return
	}
	now := time.Now()
	var evs []Event
	for _, l := range lines {
		evs = append(evs, Event{Time: now, Action: "output", Package: Package, Output: &l})
	}
	secs := elapsed.Seconds()
	action := "pass"
	if failed {
		action = "fail"
	}
	j.emit(append(evs, Event{Time: now, Action: action, Package: Package, Elapsed: &secs})...)
}

// Err returns the first write error.
func (j *JSON) Err() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Tally counts top-level results.
type Tally struct{ Passed, Failed, Skipped, Inconclusive int }

// Add counts r.
func (t *Tally) Add(r orbital.Result) {
	switch r.Outcome {
	case orbital.Pass:
		t.Passed++
	case orbital.Fail:
		t.Failed++
	case orbital.Skip:
		t.Skipped++
	case orbital.Inconclusive:
		t.Inconclusive++
	}
}

// Total is the number of results counted.
func (t Tally) Total() int { return t.Passed + t.Failed + t.Skipped + t.Inconclusive }

// String is the gate's final line: "N passed, N failed" and ", N skipped" when any.
func (t Tally) String() string {
	s := fmt.Sprintf("%d passed, %d failed", t.Passed, t.Failed)
	if t.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.Skipped)
	}
	if t.Inconclusive > 0 {
		s += fmt.Sprintf(", %d inconclusive", t.Inconclusive)
	}
	return s
}

// SkipReason is the last log line of a skipped run's output, without its trace id and
// file:line prefix.
func SkipReason(r orbital.Result) string {
	lines := strings.Split(strings.TrimRight(r.Output, "\n"), "\n")
	for i := len(lines) - 1; i >= 1; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "[") {
			if _, rest, ok := strings.Cut(l, "] "); ok {
				l = rest
			}
		}
		if _, rest, ok := strings.Cut(l, ": "); ok && strings.Contains(l[:len(l)-len(rest)], ".go:") {
			l = rest
		}
		return l
	}
	return "skipped"
}

// InconclusiveReason is why an inconclusive run could not conclude: its Result.Error, or
// "inconclusive" when that is empty.
func InconclusiveReason(r orbital.Result) string {
	if r.Error != "" {
		return r.Error
	}
	return "inconclusive"
}

// WriteJUnit writes results (top-level runs) as one JUnit test suite.
func WriteJUnit(w io.Writer, results []orbital.Result, start time.Time, elapsed time.Duration) error {
	host, _ := os.Hostname()
	suite := junit.Testsuite{
		Name:     "orbital/e2e",
		Package:  "github.com/orbital-e2e/orbital/tests",
		Hostname: host,
		Time:     seconds(elapsed),
	}
	suite.SetTimestamp(start)
	for _, r := range results {
		out := xmlText(r.Output)
		tc := junit.Testcase{
			Name:      xmlText(r.Case),
			Classname: Package,
			Time:      seconds(r.Duration),
			SystemOut: &junit.Output{Data: out},
		}
		switch r.Outcome {
		case orbital.Fail:
			msg := r.Error
			if msg == "" {
				msg = "failed"
			}
			tc.Failure = &junit.Result{Message: xmlText(msg), Type: "failure", Data: out}
		case orbital.Skip:
			tc.Skipped = &junit.Result{Message: xmlText(SkipReason(r))}
		case orbital.Inconclusive:
			// JUnit's error is a test that could not run to its verdict, as opposed to a
			// failure, a check that found something wrong: CI tools count and show them apart.
			tc.Error = &junit.Result{Message: xmlText(InconclusiveReason(r)), Type: "inconclusive", Data: out}
		}
		suite.AddTestcase(tc)
	}
	suites := junit.Testsuites{Name: "orbital e2e gate", Time: seconds(elapsed)}
	suites.AddSuite(suite)
	if _, err := io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"); err != nil {
		return err
	}
	if err := suites.WriteXML(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// xmlText returns s with every character XML 1.0 does not allow (control characters other
// than tab, newline and carriage return, invalid UTF-8, U+FFFE, U+FFFF) replaced by U+FFFD.
// encoding/xml writes CDATA sections (the run's output) verbatim, so without this a run that
// logged an escape sequence or a NUL would make the whole report unreadable to CI.
func xmlText(s string) string {
	ok := func(r rune) bool {
		switch {
		case r == utf8.RuneError:
			return false
		case r == '\t' || r == '\n' || r == '\r':
			return true
		case r < 0x20:
			return false
		case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			return false
		}
		return true
	}
	clean := true
	for _, r := range s {
		if !ok(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if ok(r) {
			return r
		}
		return '\uFFFD'
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteSummaryTable writes one row per result: case, outcome, duration, delivery latency,
// trace id and error.
func WriteSummaryTable(w io.Writer, results []orbital.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tOUTCOME\tDURATION\tLATENCY\tTRACE ID\tERROR")
	for _, r := range results {
		lat := "-"
		if d, ok := r.Measures[orbital.DeliveryLatency]; ok {
			lat = d.Round(time.Millisecond).String()
		}
		errMsg := r.Error
		switch r.Outcome {
		case orbital.Skip:
			errMsg = SkipReason(r)
		case orbital.Inconclusive:
			errMsg = InconclusiveReason(r)
		}
		if i := strings.IndexByte(errMsg, '\n'); i >= 0 {
			errMsg = errMsg[:i] + " …"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Case, strings.ToUpper(string(r.Outcome)),
			r.Duration.Round(time.Millisecond), lat, r.TraceID, errMsg)
	}
	tw.Flush()
}

// Console owns a terminal: it keeps a one-line status (the gate's progress) at the bottom
// and redraws it around every other write. It is safe for concurrent use.
type Console struct {
	mu     sync.Mutex
	term   io.Writer
	status string
}

// NewConsole returns a Console drawing on the terminal term.
func NewConsole(term io.Writer) *Console { return &Console{term: term} }

// ClearLine returns the cursor to the start of the line and clears it.
const ClearLine = "\r\033[K"

// Wrap returns a writer whose writes appear above the status line. w must write to the same
// terminal as the console.
func (c *Console) Wrap(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.status != "" {
			_, _ = io.WriteString(c.term, ClearLine)
		}
		n, err := w.Write(p)
		if c.status != "" {
			_, _ = io.WriteString(c.term, c.status)
		}
		return n, err
	})
}

// SetStatus replaces the status line; "" removes it.
func (c *Console) SetStatus(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.term, ClearLine+s)
	c.status = s
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// maxFailureLine bounds the error shown per failure in the closing list (the full message is in
// the run's output above it and in the reports).
const maxFailureLine = 300

// FailureLines lists failed and inconclusive results as "--- FAIL: case [trace id]: error"
// and "--- INCONCLUSIVE: case [trace id]: why", one line each.
func FailureLines(results []orbital.Result) []string {
	var out []string
	for _, r := range results {
		if r.Outcome == orbital.Fail || r.Outcome == orbital.Inconclusive {
			msg := r.Error
			if r.Outcome == orbital.Inconclusive {
				msg = InconclusiveReason(r)
			}
			msg = strings.ReplaceAll(msg, "\n", " ")
			if len(msg) > maxFailureLine {
				i := maxFailureLine
				for i > 0 && !utf8.RuneStart(msg[i]) { // never split a character
					i--
				}
				msg = msg[:i] + " …"
			}
			out = append(out, fmt.Sprintf("--- %s: %s [trace_id %s]: %s", strings.ToUpper(string(r.Outcome)), r.Case, r.TraceID, msg))
		}
	}
	return slices.Clip(out)
}
