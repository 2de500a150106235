package check_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseGateWorkflow checks the GitHub Actions example: it builds e2e, runs `e2e gate
// --server` on the running staging service with a JUnit report, then `--since` for a green
// window, and uploads the reports even when the gate fails. It runs on a GitHub-hosted
// runner and gives the gate no pipeline to reach: no tunnel, no self-hosted runner.
func TestReleaseGateWorkflow(t *testing.T) {
	var wf struct {
		Name string         `yaml:"name"`
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			RunsOn string            `yaml:"runs-on"`
			Env    map[string]string `yaml:"env"`
			Steps  []struct {
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				If   string            `yaml:"if"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	decodeLoose(t, filepath.Join(deployDir, "ci", "release-gate.yaml"), &wf)
	job, ok := wf.Jobs["gate"]
	if !ok {
		t.Fatalf("no job gate in %v", wf.Jobs)
	}
	if job.RunsOn != "ubuntu-latest" {
		t.Errorf("runs-on %q, want ubuntu-latest (a hosted runner: the service runs the cases)", job.RunsOn)
	}
	if job.Env["ORBITAL_SERVER"] == "" || !strings.Contains(job.Env["ORBITAL_ADMIN_TOKEN"], "secrets.") {
		t.Errorf("env %v: want ORBITAL_SERVER and ORBITAL_ADMIN_TOKEN from a secret", job.Env)
	}
	built, gated, windowed, uploaded := -1, -1, -1, -1
	for i, s := range job.Steps {
		if strings.Contains(s.Run, "--api") || strings.Contains(s.Run, "--webhook-url") {
			t.Errorf("step %q: a remote gate needs no pipeline of its own: %q", s.Name, s.Run)
		}
		switch {
		case strings.Contains(s.Run, "go build -o e2e ./cmd/e2e"):
			built = i
		case strings.Contains(s.Run, "./e2e gate --server") && strings.Contains(s.Run, "--since"):
			windowed = i
		case strings.Contains(s.Run, "./e2e gate --server") && strings.Contains(s.Run, "--junit report.xml"):
			gated = i
		case strings.HasPrefix(s.Uses, "actions/upload-artifact@") && strings.Contains(s.With["path"], "report.xml"):
			uploaded = i
			if !strings.Contains(s.If, "always()") {
				t.Error("the JUnit report must be uploaded when the gate fails too (if: always())")
			}
		}
	}
	if built < 0 || gated < built || windowed < gated || uploaded < windowed {
		t.Errorf("want build, gate --server, gate --since, upload in that order; got steps %d, %d, %d, %d", built, gated, windowed, uploaded)
	}
}
