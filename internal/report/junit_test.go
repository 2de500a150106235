package report_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/internal/report"
	"github.com/orbital-e2e/orbital/orbital"
)

// A run's output is whatever the test logged, for example an error body the pipeline under
// test answered with. Characters XML forbids must not make the report unreadable to CI.
func TestWriteJUnitStaysValidXMLWithControlCharacters(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ANSI colour", "got \x1b[31mred\x1b[0m", "got \uFFFD[31mred\uFFFD[0m"},
		{"NUL and bell", "a\x00b\x07c", "a\uFFFDb\uFFFDc"},
		{"invalid UTF-8", "x\xff\xfey", "x\uFFFDy"},
		{"CDATA end", "before ]]> after", "before ]]> after"},
		{"tab and non-ASCII kept", "a\tb ü €", "a\tb ü €"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := []orbital.Result{
				{Case: "track", TraceID: "t1", Outcome: orbital.Fail, Error: "answer: " + tt.in, Output: "--- FAIL: track\n    " + tt.in + "\n"},
				{Case: "browser", TraceID: "t2", Outcome: orbital.Skip, Output: "--- SKIP: browser\n    [t2] browser.go:1: " + tt.in + "\n"},
			}
			var buf bytes.Buffer
			if err := report.WriteJUnit(&buf, results, time.Unix(0, 0), time.Second); err != nil {
				t.Fatal(err)
			}
			// A strict token walk, as CI parsers do.
			dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
			for {
				if _, err := dec.Token(); err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("invalid XML: %v\n%q", err, buf.String())
					}
					break
				}
			}
			var got junit.Testsuites
			if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			tc := got.Suites[0].Testcases
			if f := tc[0].Failure; f == nil || f.Message != "answer: "+tt.want || !strings.Contains(f.Data, tt.want) {
				t.Errorf("failure %+v, want message and data with %q", f, tt.want)
			}
			if out := tc[0].SystemOut; out == nil || !strings.Contains(out.Data, tt.want) {
				t.Errorf("system-out %+v, want %q", out, tt.want)
			}
			if s := tc[1].Skipped; s == nil || s.Message != strings.TrimSpace(tt.want) {
				t.Errorf("skipped %+v, want message %q", s, tt.want)
			}
		})
	}
}

// The closing list cuts long errors, but never inside a UTF-8 character.
func TestFailureLinesCutOnCharacterBoundary(t *testing.T) {
	for _, prefix := range []string{"", "a", "ab"} {
		msg := prefix + strings.Repeat("€", 200) // 3 bytes each
		lines := report.FailureLines([]orbital.Result{{Case: "track", TraceID: "t", Outcome: orbital.Fail, Error: msg}})
		if len(lines) != 1 || !utf8.ValidString(lines[0]) || !strings.HasSuffix(lines[0], " …") {
			t.Errorf("prefix %q: %q", prefix, lines)
		}
	}
}
