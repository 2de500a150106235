package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/internal/e2e"
	"github.com/orbital-e2e/orbital/internal/report"
)

// fastCases are the suites the fault matrix runs: quick, and together they notice every
// fault (track and dedupe a single event, batch twenty).
const fastCases = "^(track|batch|dedupe)$"

// gateReport is what one gate run left behind.
type gateReport struct {
	result
	junit  junit.Testsuites
	events []report.Event
	final  map[string][]report.Event // final (pass/fail/skip) event per test name
}

// runGate runs `e2e gate` on the embedded default with the fast cases and reports.
func runGateForTest(t *testing.T, timeout time.Duration, extra ...string) gateReport {
	t.Helper()
	dir := t.TempDir()
	junitPath, jsonPath := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "events.json")
	args := append([]string{"gate", "--run", fastCases, "--timeout", timeout.String(),
		"--junit", junitPath, "--json-file", jsonPath, "--log-level", "warn"}, extra...)
	r := gateReport{result: runE2E(t, 2*time.Minute, args...), final: map[string][]report.Event{}}

	b, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatalf("junit report: %v", err)
	}
	if err := xml.Unmarshal(b, &r.junit); err != nil {
		t.Fatalf("junit report does not parse as XML: %v\n%s", err, b)
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatalf("json events: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev report.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("json event %q: %v", sc.Text(), err)
		}
		r.events = append(r.events, ev)
		switch ev.Action {
		case "pass", "fail", "skip":
			if ev.Test != "" {
				r.final[ev.Test] = append(r.final[ev.Test], ev)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

var finalLine = regexp.MustCompile(`^(\d+) passed, (\d+) failed(, (\d+) skipped)?$`)

// counts parses the final line of stdout.
func (r gateReport) counts(t *testing.T) (passed, failed int) {
	t.Helper()
	m := finalLine.FindStringSubmatch(lastLine(r.stdout))
	if m == nil {
		t.Fatalf("last line of stdout %q is not \"N passed, N failed\"\nstdout:\n%s", lastLine(r.stdout), r.stdout)
	}
	passed, _ = strconv.Atoi(m[1])
	failed, _ = strconv.Atoi(m[2])
	return passed, failed
}

func TestGateFaultMatrix(t *testing.T) {
	tests := []struct {
		name    string
		faults  string
		timeout time.Duration
		count   int
		code    int
		// what a failure must say, besides the case and the messageId
		what string
		// retried: the delivery latency must show the retries' backoff
		retried bool
	}{
		{name: "no faults", faults: "", timeout: 10 * time.Second, code: exitOK},
		{name: "drop", faults: "drop=1", timeout: 3 * time.Second, code: exitFail, what: "not delivered"},
		{name: "dup", faults: "dup=1", timeout: 5 * time.Second, code: exitFail, what: "delivered twice"},
		{name: "corrupt", faults: "corrupt=1", timeout: 5 * time.Second, code: exitFail, what: "differs"},
		{name: "dest5xx", faults: "dest5xx=1", timeout: 3 * time.Second, code: exitFail, what: "not delivered"},
		{name: "delay beyond timeout", faults: "delay=5s", timeout: 2 * time.Second, code: exitFail, what: "not delivered"},
		{name: "dest5xx absorbed by retries", faults: "dest5xx=0.3", timeout: 20 * time.Second, count: 2, code: exitOK, retried: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			count := tt.count
			if count == 0 {
				count = 1
			}
			r := runGateForTest(t, tt.timeout, "--faults", tt.faults, "--count", strconv.Itoa(count))
			if r.code != tt.code {
				t.Fatalf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			passed, failed := r.counts(t)
			if passed+failed != 3*count {
				t.Errorf("%d passed + %d failed, want %d runs", passed, failed, 3*count)
			}
			if s := r.junit.Suites; len(s) != 1 || s[0].Tests != 3*count || s[0].Failures != failed || r.junit.Failures != failed {
				t.Errorf("junit: %+v, want 1 suite of %d tests with %d failures", r.junit, 3*count, failed)
			}
			if tt.code == exitOK {
				if failed != 0 || passed != 3*count {
					t.Errorf("%d passed, %d failed; want all %d passed", passed, failed, 3*count)
				}
				for _, name := range []string{"track", "batch", "dedupe"} {
					evs := r.final[name]
					if len(evs) != count {
						t.Fatalf("%s: %d final json events, want %d", name, len(evs), count)
					}
					for _, ev := range evs {
						if ev.Action != "pass" || ev.TraceID == "" || ev.Elapsed == nil {
							t.Errorf("%s: final event %+v, want pass with trace id and elapsed", name, ev)
						}
						if _, ok := ev.Measures["delivery.latency"]; !ok {
							t.Errorf("%s: no delivery.latency measure in %+v", name, ev)
						}
					}
				}
				if tt.retried {
					checkRetryLatency(t, r.final["batch"])
				}
				return
			}
			if failed == 0 {
				t.Fatalf("fault %s was not caught:\n%s", tt.faults, r.stdout)
			}
			// Every failure names its case, its messageId (the run's trace id) and what was wrong,
			// in the go test style output and in the JUnit failure message.
			for _, tc := range r.junit.Suites[0].Testcases {
				if tc.Failure == nil {
					continue
				}
				evs := r.final[tc.Name]
				if len(evs) != 1 || evs[0].Action != "fail" {
					t.Fatalf("%s: json final events %+v, want one fail", tc.Name, evs)
				}
				id := evs[0].TraceID
				if !strings.Contains(tc.Failure.Message, id) || !strings.Contains(tc.Failure.Message, tt.what) {
					t.Errorf("%s: junit failure message %q does not name messageId %s and %q", tc.Name, tc.Failure.Message, id, tt.what)
				}
				if !strings.Contains(r.stdout, "--- FAIL: "+tc.Name+" (") {
					t.Errorf("stdout has no \"--- FAIL: %s\" block:\n%s", tc.Name, r.stdout)
				}
				var block string
				for _, l := range strings.Split(r.stdout, "\n") {
					if strings.Contains(l, "["+id+"]") {
						block += l + "\n"
					}
				}
				if !strings.Contains(block, tt.what) {
					t.Errorf("%s: output lines of messageId %s do not say %q:\n%s", tc.Name, id, tt.what, r.stdout)
				}
				if tc.SystemOut == nil || !strings.Contains(tc.SystemOut.Data, id) {
					t.Errorf("%s: junit system-out lacks the run's output", tc.Name)
				}
			}
			if !strings.Contains(r.stdout, "\nFAIL\n") {
				t.Errorf("stdout lacks the FAIL line:\n%s", r.stdout)
			}
		})
	}
}

func TestGateJSONOnStdout(t *testing.T) {
	t.Parallel()
	r := runE2E(t, time.Minute, "gate", "--run", "^track$", "--json", "--timeout", "10s", "--log-level", "warn")
	if r.code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var actions []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev report.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("stdout line %q is not a JSON event: %v", l, err)
		}
		if ev.Package != report.Package {
			t.Errorf("event %+v: Package = %q", ev, ev.Package)
		}
		actions = append(actions, ev.Action)
	}
	if len(actions) < 4 || actions[0] != "run" || actions[len(actions)-1] != "pass" {
		t.Errorf("actions = %v, want run ... pass", actions)
	}
	// The human-readable text moves to stderr, final line included.
	if lastLine(r.stderr) != "1 passed, 0 failed" {
		t.Errorf("last line of stderr = %q, want \"1 passed, 0 failed\"", lastLine(r.stderr))
	}
}

func TestGateSkipIsNotAFailure(t *testing.T) {
	t.Parallel()
	// The browser suite skips without a Chrome binary; point it at one that does not exist.
	r := runE2E(t, time.Minute, "gate", "--run", "^browser$", "--chrome-path", filepath.Join(t.TempDir(), "no-chrome"),
		"--require-chrome=false", "--timeout", "10s", "--log-level", "warn")
	if r.code != exitOK {
		t.Fatalf("exit code %d, want 0 for a skip\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := lastLine(r.stdout); got != "0 passed, 0 failed, 1 skipped" {
		t.Errorf("last line = %q, want \"0 passed, 0 failed, 1 skipped\"", got)
	}
}

// checkRetryLatency checks that the delivery latency shows the time retries took: the batch
// suite waits for its slowest event, and among 2×20 events at least one is retried (all
// first attempts succeed with probability 0.7^40 ≈ 6e-7), which adds at least half of the
// embedded pipeline's minimum backoff.
func checkRetryLatency(t *testing.T, batch []report.Event) {
	t.Helper()
	var slowest float64
	for _, ev := range batch {
		slowest = max(slowest, ev.Measures["delivery.latency"])
	}
	if min := (e2e.EmbeddedBackoffMin / 2).Seconds(); slowest < min {
		t.Errorf("slowest batch delivery latency %.3fs < %.3fs: the retries do not show", slowest, min)
	}
	t.Logf("slowest batch delivery latency with dest5xx=0.3: %.3fs", slowest)
}
