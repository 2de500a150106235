package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jstemmer/go-junit-report/v2/junit"
)

// asMain returns the e2e command as a real process (this test binary, see TestMain).
func asMain(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORBITAL_E2E_AS_MAIN=1")
	return cmd
}

// metric scrapes /metrics at addr and sums the samples of family whose labels contain
// labelPart; -1 when /metrics does not answer.
func metric(addr, family, labelPart string) float64 {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile(`(?m)^` + family + `(\{[^}]*\})? (\S+)`)
	sum := 0.0
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], labelPart) {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

// waitMetric polls until cond holds for the metric, failing t after limit.
func waitMetric(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of an external process
	}
}

// A closed stdout (`e2e gate --junit r.xml | head -n 1`) neither kills the process with
// SIGPIPE nor loses the JUnit report: the gate exits with its own code.
func TestGateWithClosedStdout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	junitPath := filepath.Join(t.TempDir(), "r.xml")
	cmd := asMain(ctx, "gate", "--run", "^(track|reject)$", "--junit", junitPath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(stdout).ReadString('\n') // head -n 1
	stdout.Close()
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("gate with a closed stdout: %v (want exit 0; first line %q)\nstderr:\n%s", err, first, stderr.String())
	}
	b, err := os.ReadFile(junitPath)
	if err != nil {
		t.Fatal(err)
	}
	var suites junit.Testsuites
	if err := xml.Unmarshal(b, &suites); err != nil || suites.Tests != 2 {
		t.Fatalf("JUnit report incomplete (%v, %d tests):\n%s", err, suites.Tests, b)
	}
}

// A stdout and stderr that nobody reads do not stop testing: runs go on, dropped output is
// counted, health stays true, and SIGTERM still stops the process.
func TestServeWithBlockedOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := freeAddr(t)
	cmd := asMain(ctx, "serve", "--addr", addr, "--run", "^track$", "--case-period", "track=200ms", "--log-level", "debug")
	cmd.Env = append(cmd.Env, "ORBITAL_OUTPUT_BUFFER_BYTES=4096") // fill up in seconds, not minutes
	// Pipes whose read ends are held open and never read: a reader that stopped reading.
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	defer outR.Close()
	defer errR.Close()
	shrinkPipe(outW)
	shrinkPipe(errW)
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	waitMetric(t, time.Minute, "output dropped (the pipes are full)", func() bool {
		return metric(addr, "orbital_output_dropped_bytes_total", "") > 0
	})
	before := metric(addr, "orbital_runs_total", `outcome="pass"`)
	waitMetric(t, 30*time.Second, "runs passing after the output stopped being read", func() bool {
		return metric(addr, "orbital_runs_total", `outcome="pass"`) >= before+3
	})
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz with blocked output: %v %v", resp, err)
	}
	metricAtExit := metric(addr, "orbital_output_dropped_bytes_total", "")
	passedAfter := metric(addr, "orbital_runs_total", `outcome="pass"`) - before
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM with blocked output: %v, want exit 0", err)
	}
	took := time.Since(start)
	if took > 40*time.Second {
		t.Errorf("exit took %s after SIGTERM", took)
	}
	t.Logf("output unread: %.0f bytes dropped, %.0f runs passed after the pipes filled, exit %s after SIGTERM",
		metricAtExit, passedAfter, took)
}

// A second SIGTERM during a long drain exits at once (143), the runs in flight reported as
// cut short.
func TestSecondSIGTERMForcesExit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := freeAddr(t)
	cmd := asMain(ctx, "serve", "--addr", addr, "--run", "^track$", "--case-period", "track=1s",
		"--case-timeout", "track=90s", "--faults", "delay=60s", "--drain", "90s", "--log-level", "warn")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, time.Minute, "a run in flight", func() bool { return metric(addr, "orbital_runs_in_flight", "") > 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	waitMetric(t, 30*time.Second, "draining", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	took := time.Since(start)
	var exit *exec.ExitError
	if !errorsAs(err, &exit) || exit.ExitCode() != exitSignalBase+int(syscall.SIGTERM) {
		t.Fatalf("after a second SIGTERM: %v, want exit %d\nstderr:\n%s", err, exitSignalBase+int(syscall.SIGTERM), stderr.String())
	}
	if took > 10*time.Second {
		t.Errorf("exit took %s after the second SIGTERM, want at once", took)
	}
	t.Logf("second SIGTERM: exit %d after %s", exit.ExitCode(), took)
	if out := stdout.String(); !strings.Contains(out, "--- ") || !strings.Contains(out, "cut short") {
		t.Errorf("the run in flight was not reported as cut short:\n%s", out)
	}
}

// Control characters in untrusted text (a pipeline's error body) reach the terminal escaped:
// no screen clear, no title change, no fake "--- PASS" line.
func TestConsoleEscapesUntrustedText(t *testing.T) {
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "\x1b[2J\x1b]0;pwned\x07 nope\r--- PASS: track (0.00s)")
	}))
	defer hostile.Close()
	r := runE2E(t, time.Minute, "gate", "--api", hostile.URL, "--write-key", "k", "--run", "^track$", "--timeout", "5s")
	if r.code != exitFail {
		t.Fatalf("gate against a failing API: exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
	}
	for _, raw := range []string{"\x1b", "\x07", "\r"} {
		if strings.Contains(r.stdout, raw) {
			t.Errorf("stdout holds a raw %q:\n%q", raw, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, `\x1b[2J`) {
		t.Errorf("the error body is not shown escaped:\n%s", r.stdout)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
