package check_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseGateWorkflow checks the GitHub Actions example: it builds e2e, runs `e2e gate`
// against the staging API with a JUnit report, and uploads the report even when the gate
// fails.
func TestReleaseGateWorkflow(t *testing.T) {
	var wf struct {
		Name string         `yaml:"name"`
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Steps []struct {
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
	built, gated, uploaded := -1, -1, -1
	for i, s := range job.Steps {
		switch {
		case strings.Contains(s.Run, "go build -o e2e ./cmd/e2e"):
			built = i
		case strings.Contains(s.Run, "./e2e gate") && strings.Contains(s.Run, `--api "$STAGING_API"`) && strings.Contains(s.Run, "--junit report.xml"):
			gated = i
		case strings.HasPrefix(s.Uses, "actions/upload-artifact@") && s.With["path"] == "report.xml":
			uploaded = i
			if !strings.Contains(s.If, "always()") {
				t.Error("the JUnit report must be uploaded when the gate fails too (if: always())")
			}
		}
	}
	if built < 0 || gated < built || uploaded < gated {
		t.Errorf("want build, gate, upload in that order; got steps %d, %d, %d", built, gated, uploaded)
	}
}
