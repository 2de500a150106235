package check_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/deploy/check"
)

// TestMetricNamesDocumented checks every PromQL expression of the rules and the dashboard
// against the metric contract in docs/metrics.md (plus the recording rules' own names and
// the series Prometheus synthesizes).
func TestMetricNamesDocumented(t *testing.T) {
	f, err := os.Open(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	allowed, err := check.DocumentedNames(f)
	if err != nil {
		t.Fatal(err)
	}
	exprs, recorded := usedExprs(t)
	maps.Copy(allowed, recorded)
	for _, n := range synthesized {
		allowed[n] = true
	}
	for _, err := range check.UnknownNames(exprs, allowed) {
		t.Error(err)
	}
}

// TestMetricNamesLive builds the real e2e binary from the root module, starts it on the
// embedded default with no faults, scrapes its /metrics and checks that every metric the
// rules and the dashboard query is really exported. Nothing is provoked: counters whose event
// never happens on a healthy service (timeouts, overlap skips, duplicate, unmatched and
// rejected deliveries, failed runs) must exist at 0 from registration on, for every label
// value a rule reads; only the histograms wait for the first run.
func TestMetricNamesLive(t *testing.T) {
	exprs, recorded := usedExprs(t)
	want := map[string]bool{} // families the service must export
	for _, e := range exprs {
		names, err := check.MetricNames(e.Query)
		if err != nil {
			t.Fatalf("%s: %v", e.Source, err)
		}
		for _, n := range names {
			if !recorded[n] && !slices.Contains(synthesized, n) {
				want[n] = true
			}
		}
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "e2e")
	build := exec.Command("go", "build", "-o", bin, "./cmd/e2e")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/e2e: %v\n%s", err, out)
	}
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, []byte(`{"cases": {"track": {"period": "5s", "timeout": "10s"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	const secret = "live-test-webhook-secret"
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	cmd := exec.CommandContext(ctx, bin, "serve",
		"--addr", addr,
		"--webhook-secret", secret,
		"--config", config,
		"--log-format", "text",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.NewTimer(90 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var exposed map[string]bool
	var lastErr error
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("e2e serve exited early: %v\n%s", err, tail(logs.String()))
		case <-deadline.C:
			t.Fatalf("after 90s /metrics at %s lacks %q (last scrape error: %v); documented in docs/metrics.md but never exported, or never triggered\n%s",
				base, missing(want, exposed), lastErr, tail(logs.String()))
		case <-tick.C:
		}
		var body string
		exposed, body, lastErr = scrape(client, base+"/metrics")
		if lastErr != nil || !exposed["orbital_runs_total"] {
			continue
		}
		if len(missing(want, exposed)) == 0 {
			// Created at 0, not provoked: the first event of each is an increase.
			for _, series := range zeroSeries {
				if !strings.Contains(body, "\n"+series+" 0\n") {
					t.Fatalf("/metrics of a healthy service lacks %s at 0\n%s", series, body)
				}
			}
			// The latency SLO counts deliveries within 10 s: that bucket must be registered.
			if !sloBucket.MatchString(body) {
				t.Fatalf("orbital_delivery_latency_seconds has no le=\"10\" bucket, which the latency SLO in rules.yaml needs")
			}
			return
		}
	}
}

// zeroSeries must be on /metrics at 0 on a healthy service that never saw their event.
var zeroSeries = []string{
	`orbital_runs_total{case="track",outcome="fail"}`,
	`orbital_run_timeouts_total{case="track"}`,
	`orbital_run_overlap_skipped_total{case="track"}`,
	`orbital_run_ticks_skipped_total{case="track"}`,
	`orbital_webhook_duplicate_total`,
	`orbital_webhook_unmatched_total`,
	`orbital_webhook_rejected_total{reason="bad_signature"}`,
	`orbital_webhook_rejected_total{reason="method"}`,
}

// sloBucket matches the delivery-latency bucket the latency SLO is computed from.
var sloBucket = regexp.MustCompile(`(?m)^orbital_delivery_latency_seconds_bucket\{[^}]*le="10"`)

// scrape fetches a /metrics page and returns its metric families and its text.
func scrape(client *http.Client, url string) (map[string]bool, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", url, err)
	}
	names, err := check.ExposedNames(bytes.NewReader(body))
	return names, string(body), err
}

func missing(want, have map[string]bool) []string {
	var out []string
	for n := range want {
		if check.FamilyName(n, have) == "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return addr
}

// syncBuffer collects the child's output; exec copies into it from its own goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return "e2e log (tail):\n" + strings.Join(lines, "\n")
}
