package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeCluster runs serve with and without --cluster on the embedded default. With it,
// the replica joins the group on the embedded broker, owns every case (it is alone), runs them,
// and leaves cleanly. Without it nothing of cluster mode appears: no cluster metrics, no
// group, deliveries matched in process.
func TestServeCluster(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // in /metrics
		absent  []string // not in /metrics
		logWant bool     // "cluster mode" in the log
	}{
		{"cluster", []string{"--cluster", "--cluster-topic", "e2e-cluster-test"},
			[]string{`orbital_cluster_owned_cases 1`}, nil, true},
		{"no cluster", nil, nil, []string{"orbital_cluster_"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serveCluster(t, tt.args, tt.want, tt.absent, tt.logWant)
		})
	}
}

func serveCluster(t *testing.T, extra, want, absent []string, logWant bool) {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--run", "^track$", "--case-period", "track=500ms", "--drain", "10s"}, extra...)
	srv := startServe(t, &app{}, args...)
	metrics := srv.waitMetrics(t, 90*time.Second, append([]string{`orbital_run_duration_seconds_count{case="track",outcome="pass"}`}, want...)...)
	for _, a := range absent {
		if strings.Contains(metrics, a) {
			t.Errorf("/metrics shows %s:\n%s", a, metrics)
		}
	}
	if got := strings.Contains(srv.stderr.String(), "cluster mode"); got != logWant {
		t.Errorf("log announces cluster mode: %v, want %v\n%s", got, logWant, srv.stderr.String())
	}
	// orbital_runs_total{outcome="fail"} exists at 0 from registration; the duration histogram
	// appears with the first failed run.
	if strings.Contains(metrics, `orbital_run_duration_seconds_count{case="track",outcome="fail"}`) {
		t.Errorf("a run failed:\n%s\nstdout:\n%s", metrics, srv.stdout.String())
	}
	if code := srv.stop(t); code != 0 {
		t.Fatalf("serve exited with %d after cancel, want 0\nstderr:\n%s", code, srv.stderr.String())
	}
}

func TestClusterNeedsBrokers(t *testing.T) {
	r := runE2E(t, 30*time.Second, "serve", "--cluster", "--api", "http://127.0.0.1:1", "--write-key", "k",
		"--addr", "127.0.0.1:0")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "--cluster needs --kafka-brokers") {
		t.Errorf("stderr does not say what is missing:\n%s", r.stderr)
	}
}
