package check_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/deploy/check"
)

func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatal("the dashboard needs a uid and a title")
	}
	panels := d.AllPanels()
	ids := map[int]bool{}
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d %q: bad gridPos %+v", p.ID, p.Title, g)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
	}
	// Panels must not overlap on the grid.
	for i, a := range panels {
		for _, b := range panels[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}

	// What the dashboard must show: a panel whose title contains the words and whose
	// queries use the metric or recording rule.
	required := []struct {
		title, query string
	}{
		{"Pass ratio per case", "env_case:orbital_runs:success_ratio_rate"},
		{"Run outcomes over time", "orbital_runs_total"},
		{"Run duration", "orbital_run_duration_seconds_bucket"},
		{"Run duration quantiles", "histogram_quantile"},
		{"Delivery latency", "orbital_delivery_latency_seconds_bucket"},
		{"Delivery latency quantiles", "env_case:orbital_delivery_latency_seconds:p99_rate5m"},
		{"Error budget remaining", "/ 0.001"},
		{"Error budget remaining", "/ 0.01"},
		{"Overlap-skipped ticks", "orbital_run_overlap_skipped_total"},
		{"Ticks dropped for lateness", "orbital_run_ticks_skipped_total"},
	}
	for _, r := range required {
		if !hasPanel(panels, r.title, r.query) {
			t.Errorf("no panel titled like %q querying %q", r.title, r.query)
		}
	}
	heatmaps := 0
	for _, p := range panels {
		if p.Type == "heatmap" {
			heatmaps++
		}
	}
	if heatmaps < 2 {
		t.Errorf("want heatmaps for run duration and delivery latency, found %d", heatmaps)
	}
}

func hasPanel(panels []check.Panel, title, query string) bool {
	for _, p := range panels {
		if !strings.Contains(p.Title, title) {
			continue
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, query) {
				return true
			}
		}
	}
	return false
}

func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]check.Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	for _, name := range []string{"datasource", "env", "case"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("templating variable %s is missing", name)
		}
	}
	if q := vars["env"].QueryText(); !strings.Contains(q, "env)") {
		t.Errorf("variable env must list the env label's values: %q", q)
	}
	if q := vars["case"].QueryText(); !strings.Contains(q, "case)") || !strings.Contains(q, "$env") {
		t.Errorf("variable case must list the case label's values for the selected env: %q", q)
	}
	// Every per-case panel outside the comparison row follows both variables.
	for _, p := range d.AllPanels() {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "env") {
				t.Errorf("panel %q target %s ignores the environment: %s", p.Title, tg.RefID, tg.Expr)
			}
			if strings.Contains(tg.Expr, "case") && !strings.Contains(tg.Expr, `case=~"$case"`) {
				t.Errorf("panel %q target %s ignores the case variable: %s", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
}

// TestDashboardComparesEnvironments checks the comparison row: the two environments come
// from the variables env_a and env_b (no hard-coded names: the compose stack's env is
// "local"); each $env_a panel has a $env_b twin beside it on the same grid row, with the same
// query.
func TestDashboardComparesEnvironments(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]check.Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	for _, name := range []string{"env_a", "env_b"} {
		if q := vars[name].QueryText(); !strings.Contains(q, "env)") {
			t.Errorf("variable %s must list the env label's values: %q", name, q)
		}
	}
	panels := d.AllPanels()
	pairs := 0
	for _, s := range panels {
		title, ok := strings.CutSuffix(s.Title, ": $env_a")
		if !ok {
			continue
		}
		for _, p := range panels {
			if p.Title != title+": $env_b" {
				continue
			}
			pairs++
			if p.GridPos.Y != s.GridPos.Y || p.GridPos.X <= s.GridPos.X {
				t.Errorf("%q is not to the right of %q", p.Title, s.Title)
			}
			if len(p.Targets) != len(s.Targets) {
				t.Fatalf("%q and %q have different queries", p.Title, s.Title)
			}
			for i := range p.Targets {
				want := strings.ReplaceAll(s.Targets[i].Expr, `env=~"$env_a"`, `env=~"$env_b"`)
				if !strings.Contains(s.Targets[i].Expr, `env=~"$env_a"`) || p.Targets[i].Expr != want {
					t.Errorf("%q target %d: %s\nis not the $env_b twin of\n%s", p.Title, i, p.Targets[i].Expr, s.Targets[i].Expr)
				}
			}
		}
	}
	if pairs < 3 {
		t.Errorf("found %d $env_a/$env_b panel pairs, want at least 3", pairs)
	}
}

// aggregation matches a PromQL aggregation with its grouping clause, if any.
var aggregation = regexp.MustCompile(`\b(sum|min|max|avg|count|topk|bottomk|quantile)\s*(by\s*\(([^)]*)\))?\s*\(`)

// TestDashboardKeepsEnvironmentsApart: no hard-coded environment names, and no panel
// aggregates across environments (a stat summing staging and production showed -82 % of
// budget); every aggregation keeps env.
func TestDashboardKeepsEnvironmentsApart(t *testing.T) {
	for _, p := range loadDashboard(t).AllPanels() {
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, `env="`) {
				t.Errorf("panel %q hard-codes an environment: %s", p.Title, tg.Expr)
			}
			for _, m := range aggregation.FindAllStringSubmatch(tg.Expr, -1) {
				if !slices.Contains(strings.Fields(strings.ReplaceAll(m[3], ",", " ")), "env") {
					t.Errorf("panel %q aggregates across environments (%s): %s", p.Title, strings.TrimSpace(m[0]), tg.Expr)
				}
			}
		}
	}
}

// TestDashboardIsCanonicalJSON keeps the file diff-friendly: two-space indented JSON.
func TestDashboardIsCanonicalJSON(t *testing.T) {
	raw := readFile(t, dashboardFile)
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), raw) {
		t.Error("dashboard.json is not canonical JSON (2-space indent, keys as saved): reformat it")
	}
}
