package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
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
	// delay=300ms keeps every run in flight for most of its period, so the SIGTERM below lands
	// while runs wait for their deliveries (the test waits until /metrics shows one).
	addr := freeAddr(t)
	cmd := exec.CommandContext(ctx, os.Args[0], "load", "--rate", "200", "--duration", "5m",
		"--run", "^(track|batch|dedupe)$", "--case-period", "track=400ms,batch=500ms,dedupe=1s",
		"--faults", "delay=300ms", "--addr", addr, "--drain", "20s", "--log-level", "warn")
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
	// Keep reading stdout (a full pipe would block e2e) while /metrics is polled until a run is
	// in flight; then SIGTERM at once.
	// Go on with the same scanner: it may already hold lines read ahead from the pipe.
	restc := make(chan string, 1)
	go func() {
		var rest strings.Builder
		for lines.Scan() {
			rest.WriteString(lines.Text() + "\n")
		}
		restc <- rest.String()
	}()
	var before, inFlight int
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, inFlight = runGauges(t, addr)
		if inFlight > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no run in flight on /metrics within 30s\nstderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval of an external signal
	}
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	out.WriteString(<-restc)
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
	if !strings.Contains(text, "cpu: not measured (the load was interrupted)") {
		t.Errorf("an interrupted load does not say its CPU was not measured:\n%s", text)
	}
	r := regexp.MustCompile(`runs: (\d+) passed, (\d+) failed`).FindStringSubmatch(text)
	if r == nil || r[2] != "0" {
		t.Fatalf("runs line missing or runs failed:\n%s\nstderr:\n%s", text, stderr.String())
	}
	// Every run that started was reported: a PASS line per passed run, no FAIL at all, and
	// the runs in flight at SIGTERM came on top of those finished before it.
	n, _ := strconv.Atoi(r[1])
	if n != strings.Count(text, "--- PASS:") {
		t.Errorf("runs line counts %s passed, output shows %d PASS lines", r[1], strings.Count(text, "--- PASS:"))
	}
	if n < before+inFlight {
		t.Errorf("%d runs reported, but %d had finished and %d were in flight at SIGTERM: runs in flight were dropped", n, before, inFlight)
	}
	t.Logf("SIGTERM with %d runs finished and %d in flight; %d runs reported, exit after %s", before, inFlight, n, took.Round(time.Millisecond))
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
			wantCPUFigures(t, r.stdout)
		})
	}
}

// wantCPUFigures: the report of a load that ran its course has its CPU figures: the whole
// process's CPU per event on the load line, and the load generator's, webhook's and waiter's
// own against a bare net/http client loop's, with their ratio, on the cpu line.
func wantCPUFigures(t *testing.T, stdout string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^load: sent .*; process CPU [0-9.]+[µm]?s/event$`).MatchString(stdout) {
		t.Errorf("load line lacks the process CPU per event:\n%s", stdout)
	}
	cpu := regexp.MustCompile(`(?m)^cpu: load generator, webhook and waiter [0-9.]+[µm]?s/event; bare net/http client loop [0-9.]+[µm]?s/event; ratio [0-9]+\.[0-9]{2} \(median of 5 paired rounds of [0-9]+ events at 100/s, pipeline excluded\)$`)
	if !cpu.MatchString(stdout) {
		t.Errorf("no cpu line with both loops' CPU per event and their ratio:\n%s", stdout)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runGauges scrapes /metrics at addr and returns the finished top-level runs
// (orbital_runs_total, all cases and outcomes) and the runs in flight
// (orbital_runs_in_flight, all cases). Before the server listens both are 0.
func runGauges(t *testing.T, addr string) (finished, inFlight int) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "orbital_runs_total":
			finished += int(f)
		case "orbital_runs_in_flight":
			inFlight += int(f)
		}
	}
	return finished, inFlight
}
