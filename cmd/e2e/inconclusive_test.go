package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/orbital-e2e/orbital/internal/report"
)

func TestGateVerdict(t *testing.T) {
	tests := []struct {
		sum         report.Tally
		interrupted bool
		word        string
		code        int
	}{
		{report.Tally{Passed: 2}, false, "PASS", exitOK},
		{report.Tally{Passed: 1, Skipped: 1}, false, "PASS", exitOK},
		{report.Tally{Passed: 1, Failed: 1, Inconclusive: 1}, false, "FAIL", exitFail},
		{report.Tally{Failed: 1}, true, "FAIL", exitFail},
		{report.Tally{Passed: 1, Inconclusive: 1}, false, "INCONCLUSIVE", exitInconclusive},
		{report.Tally{Passed: 1}, true, "INCONCLUSIVE", exitInconclusive}, // not everything ran
	}
	for _, tt := range tests {
		if word, code := gateVerdict(tt.sum, tt.interrupted); word != tt.word || code != tt.code {
			t.Errorf("gateVerdict(%+v, interrupted %v) = %s %d, want %s %d", tt.sum, tt.interrupted, word, code, tt.word, tt.code)
		}
	}
}

// TestGateInterruptedIsInconclusive stops a real gate (as SIGTERM does) while its run waits for
// a delivery the delay fault holds back: the run is inconclusive, not "not delivered", and the
// gate exits 3 with JUnit <error> and a JSON skip carrying the reason.
func TestGateInterruptedIsInconclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junitPath, jsonPath := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "events.json")
	g := startServe(t, &app{}, "gate", "--run", "^track$", "--faults", "delay=1m", "--timeout", "2m",
		"--junit", junitPath, "--json-file", jsonPath, "--log-level", "warn")
	g.waitMetrics(t, 30*time.Second, `orbital_runs_in_flight{case="track"} 1`)
	if code := g.stop(t); code != exitInconclusive {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitInconclusive, g.stdout.String(), g.stderr.String())
	}
	out := g.stdout.String()
	for _, want := range []string{"--- INCONCLUSIVE: track (", "run interrupted (context canceled)", "\nINCONCLUSIVE\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not delivered") && !strings.Contains(out, "not counted") {
		t.Errorf("the interruption is reported as a lost event:\n%s", out)
	}
	if got := lastLine(out); got != "0 passed, 0 failed, 1 inconclusive" {
		t.Errorf("last line %q, want \"0 passed, 0 failed, 1 inconclusive\"", got)
	}

	b, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatal(err)
	}
	var suites junit.Testsuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit: %v\n%s", err, b)
	}
	if suites.Errors != 1 || suites.Failures != 0 || len(suites.Suites) != 1 {
		t.Fatalf("junit totals %+v\n%s", suites, b)
	}
	if e := suites.Suites[0].Testcases[0].Error; e == nil || !strings.Contains(e.Message, "run interrupted") {
		t.Errorf("junit track error %+v, want the interruption", e)
	}

	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var final *report.Event
	var output strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev report.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("json event %q: %v", sc.Text(), err)
		}
		if ev.Test != "track" {
			continue
		}
		switch ev.Action {
		case "output":
			output.WriteString(*ev.Output)
		case "run":
		default:
			final = &ev
		}
	}
	if final == nil || final.Action != "skip" || !strings.Contains(final.Error, "run interrupted") {
		t.Errorf("track's final JSON event %+v, want skip with the reason", final)
	}
	if !strings.Contains(output.String(), "    inconclusive: run interrupted") {
		t.Errorf("track's JSON output lacks the reason:\n%s", output.String())
	}
}
