package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	// A statsd agent: serve sends the same metrics there as to /metrics.
	agent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()

	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^(track|reject)$",
		"--case-period", "track=500ms", "--statsd", agent.LocalAddr().String(), "--drain", "10s")
	base, stdout, stderr := srv.base, srv.stdout, srv.stderr
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Wait for a passing run to show on /metrics (orbital_runs_total exists at 0 from
	// registration; the duration histogram appears with the first run of an outcome).
	metrics := srv.waitMetrics(t, 60*time.Second, `orbital_run_duration_seconds_count{case="track",outcome="pass"}`)
	for _, want := range []string{
		`orbital_run_duration_seconds_bucket{case="track",outcome="pass",le="1"}`,
		`orbital_delivery_latency_seconds_count{case="track"}`,
		`orbital_case_period_seconds{case="track"} 0.5`,
		`orbital_webhook_received_total`,
		`pipeline_delivered_total`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if code, body := get("/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("/ = %d, want the status page", code)
	}
	if code, body := get("/api/cases"); code != http.StatusOK || !strings.Contains(body, `"track"`) {
		t.Errorf("/api/cases = %d %s", code, body)
	}
	resp, err := client.Post(base+"/webhook", "application/json", strings.NewReader(`{"messageId":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST /webhook = %d, want 401", resp.StatusCode)
	}

	// Logs: JSON (not a terminal), a run-end line with case, trace id and outcome.
	if !strings.Contains(stderr.String(), `"msg":"run finished","case":"track","trace_id":"`) ||
		!strings.Contains(stderr.String(), `"outcome":"pass"`) {
		t.Errorf("no JSON run-end log line with case, trace_id and outcome:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "--- PASS: track (") {
		t.Errorf("stdout has no go test style output:\n%s", stdout.String())
	}

	if code := srv.stop(t); code != exitOK {
		t.Fatalf("serve exited with %d after SIGTERM, want 0\nstderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"draining"`) || !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no draining/stopped log lines:\n%s", stderr.String())
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Errorf("%s still accepts connections after serve returned", base)
	}

	// The statsd agent got the run metrics (flushed at the latest on shutdown).
	_ = agent.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	var got strings.Builder
	for !strings.Contains(got.String(), "orbital.runs_total") {
		n, _, err := agent.ReadFrom(buf)
		if err != nil {
			t.Fatalf("statsd agent: %v; got %q", err, got.String())
		}
		got.Write(buf[:n])
	}
}

func TestServeDoesNotLogSecrets(t *testing.T) {
	srv := startServe(t, &app{}, "serve", "--addr", "127.0.0.1:0", "--run", "^track$", "--log-level", "debug",
		"--write-key", "wk-very-secret", "--webhook-secret", "whs-very-secret", "--admin-token", "adm-very-secret")
	waitReady(t, srv.base, srv.done)
	if code := srv.stop(t); code != exitOK {
		t.Fatalf("exit code %d\nstderr:\n%s", code, srv.stderr.String())
	}
	stdout, stderr := srv.stdout, srv.stderr
	out := stdout.String() + stderr.String()
	if strings.Contains(out, "very-secret") {
		t.Fatalf("a secret was logged:\n%s", out)
	}
	if !strings.Contains(out, `"write_key":"<set>"`) {
		t.Errorf("config line does not show the write key as set:\n%s", out)
	}
}

// waitReady polls /readyz until it answers 200 (serve registered its cases and serves the
// webhook), failing if serve exits first or takes longer than 30s.
func waitReady(t *testing.T, base string, done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 30s (last: %v)", err)
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before it was ready", code)
		case <-time.After(20 * time.Millisecond): // polling interval of an external signal
		}
	}
}
