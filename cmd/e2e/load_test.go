package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this test binary as the e2e command itself (ORBITAL_E2E_AS_MAIN=1),
// so signals reach a real process with main's signal handling.
func TestMain(m *testing.M) {
	if os.Getenv("ORBITAL_E2E_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestLoadSIGTERM: SIGTERM while e2e load runs on the embedded default ends with every event
// accounted for (sent = matched, none lost), every in-flight run reported and none failed by
// the shutdown, and exit status 0 within the drain bound.
func TestLoadSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "load", "--rate", "200", "--duration", "5m",
		"--run", "^(track|batch|dedupe)$", "--case-period", "track=300ms,batch=500ms,dedupe=1s",
		"--drain", "20s", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "ORBITAL_E2E_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(stdout)
	// Wait until runs pass while the load flows, then SIGTERM with runs and events in flight.
	passes := 0
	for passes < 4 && lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "--- PASS:") {
			passes++
		}
	}
	if passes < 4 {
		_ = cmd.Process.Kill()
		t.Fatalf("e2e load stopped before runs passed\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	err = cmd.Wait()
	took := time.Since(sigAt)
	text := out.String()
	if err != nil {
		t.Fatalf("e2e load after SIGTERM: %v (want exit 0)\nstdout:\n%s\nstderr:\n%s", err, text, stderr.String())
	}
	if took > 30*time.Second {
		t.Errorf("exit took %s after SIGTERM, want within the drain bound (20s) plus the delivery timeout", took)
	}
	m := regexp.MustCompile(`load: sent (\d+), matched (\d+), lost (\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no load report in stdout:\n%s", text)
	}
	sent, _ := strconv.Atoi(m[1])
	matched, _ := strconv.Atoi(m[2])
	lost, _ := strconv.Atoi(m[3])
	if sent == 0 || sent != matched || lost != 0 {
		t.Errorf("report sent %d matched %d lost %d: want every event matched\n%s", sent, matched, lost, text)
	}
	if !strings.Contains(text, "interrupted") {
		t.Errorf("report does not say the load was interrupted:\n%s", text)
	}
	r := regexp.MustCompile(`runs: (\d+) passed, (\d+) failed`).FindStringSubmatch(text)
	if r == nil || r[2] != "0" {
		t.Fatalf("runs line missing or runs failed:\n%s\nstderr:\n%s", text, stderr.String())
	}
	// Every run that started was reported: a PASS line per passed run, and no FAIL at all.
	if n, _ := strconv.Atoi(r[1]); n != strings.Count(text, "--- PASS:") {
		t.Errorf("runs line counts %s passed, output shows %d PASS lines", r[1], strings.Count(text, "--- PASS:"))
	}
	if strings.Contains(text, "--- FAIL:") {
		t.Errorf("a run failed around the shutdown:\n%s", text)
	}
}

func TestLoadUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"load", "--rate", "0"},
		{"load", "--duration", "-1s"},
		{"load", "--concurrency", "0"},
	} {
		if r := runE2E(t, 30*time.Second, args...); r.code != 2 {
			t.Errorf("e2e %v: exit %d, want 2\nstderr:\n%s", args, r.code, r.stderr)
		}
	}
}

// TestLoadAccounts: a load that runs its full duration reports every event; with drop=1 every
// event is lost with its reason and the exit status is 1.
func TestLoadAccounts(t *testing.T) {
	for _, tc := range []struct {
		name, faults string
		code         int
		want         string
	}{
		{"clean", "", 0, "lost 0"},
		{"dropped", "drop=1", 1, "not delivered within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"load", "--rate", "100", "--duration", "2s", "--delivery-timeout", "1s",
				"--run", "^reject$", "--log-level", "warn"}
			if tc.faults != "" {
				args = append(args, "--faults", tc.faults)
			}
			r := runE2E(t, time.Minute, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			m := regexp.MustCompile(`load: sent (\d+), matched (\d+), lost (\d+)`).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("no load report:\n%s", r.stdout)
			}
			sent, _ := strconv.Atoi(m[1])
			matched, _ := strconv.Atoi(m[2])
			lost, _ := strconv.Atoi(m[3])
			if sent < 150 || sent != matched+lost {
				t.Errorf("sent %d, matched %d, lost %d: want about 200 sent and sent = matched + lost", sent, matched, lost)
			}
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("report lacks %q:\n%s", tc.want, r.stdout)
			}
		})
	}
}
