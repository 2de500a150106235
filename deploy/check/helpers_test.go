package check_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/orbital-e2e/orbital/deploy/check"
)

// Paths of the files under test, relative to this package's directory (deploy/check).
const (
	deployDir     = ".."
	repoRoot      = "../.."
	rulesFile     = "../prometheus/rules.yaml"
	rulesTestFile = "../prometheus/rules_test.yaml"
	dashboardFile = "../grafana/dashboard.json"
	metricsDoc    = "../../docs/metrics.md"
	runbookFile   = "../../docs/runbook.md"
)

// synthesized are series that Prometheus itself creates for every target, so they are
// allowed in rules and dashboards although no exporter serves them.
var synthesized = []string{"up"}

func loadRules(t *testing.T) *check.Rules {
	t.Helper()
	r, err := check.LoadRules(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loadDashboard(t *testing.T) *check.Dashboard {
	t.Helper()
	f, err := os.Open(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := check.ParseDashboard(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// usedExprs returns every PromQL expression of the rules and the dashboard, and the
// recording rules' names (which the other expressions may use).
func usedExprs(t *testing.T) ([]check.Expr, map[string]bool) {
	t.Helper()
	r := loadRules(t)
	exprs := append(r.Exprs, loadDashboard(t).Exprs()...)
	if len(exprs) < 30 {
		t.Fatalf("found only %d expressions in the rules and the dashboard", len(exprs))
	}
	return exprs, r.Recorded
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
