package main

import (
	"context"
	"github.com/orbital-e2e/orbital/internal/testsupport"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type syncBuffer = testsupport.SyncBuffer

// result is one finished invocation of the command.
type result struct {
	code           int
	stdout, stderr string
}

// runE2E runs the command with args and returns its exit code and output. It fails the test
// if the command does not return within limit.
func runE2E(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	select {
	case code := <-done:
		return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	case <-time.After(limit + 30*time.Second):
		t.Fatalf("e2e %s did not return within %s after its context ended\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), limit, stdout.String(), stderr.String())
		return result{}
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// served is the e2e command running in-process for a test, listening on a loopback port.
type served struct {
	base           string   // "http://" and the address it listens on
	done           chan int // receives the exit code
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
}

// startServe runs `e2e args...` with a (startServe sets its output and listening hook) until it
// listens, failing the test if it exits first or does not listen within 30s. At cleanup the
// command is cancelled and awaited.
func startServe(t *testing.T, a *app, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{done: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel}
	addrc := make(chan string, 1)
	a.stdout, a.stderr = s.stdout, s.stderr
	a.listening = func(addr string) { addrc <- addr }
	go func() { s.done <- a.main(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-s.done:
			s.done <- code // for a stop that runs after this cleanup's test ended
		case <-time.After(60 * time.Second):
			t.Errorf("e2e did not stop within 60s of cancel\nstderr:\n%s", s.stderr.String())
		}
	})
	select {
	case addr := <-addrc:
		s.base = "http://" + addr
	case code := <-s.done:
		t.Fatalf("e2e exited with %d before listening\nstderr:\n%s", code, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("e2e did not listen within 30s\nstderr:\n%s", s.stderr.String())
	}
	return s
}

// stop cancels the command (as SIGTERM does) and returns its exit code.
func (s *served) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("e2e did not stop within 60s of cancel\nstderr:\n%s", s.stderr.String())
		return -1
	}
}

// waitMetrics polls /metrics until it shows every one of wants and returns it, failing the test
// if the command exits first or after limit.
func (s *served) waitMetrics(t *testing.T, limit time.Duration, wants ...string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(s.base + "/metrics")
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics, missing := string(b), ""
		for _, w := range wants {
			if !strings.Contains(metrics, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return metrics
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s within %s\nmetrics:\n%s\nstderr:\n%s", missing, limit, metrics, s.stderr.String())
		}
		select {
		case <-time.After(50 * time.Millisecond): // polling interval of an external signal
		case code := <-s.done:
			s.done <- code
			t.Fatalf("e2e exited with %d\nstderr:\n%s", code, s.stderr.String())
		}
	}
}
