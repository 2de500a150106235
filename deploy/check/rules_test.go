package check_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// sloWindows are the SRE workbook's windows for multi-window, multi-burn-rate alerts.
var sloWindows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d"}

func TestRecordingRules(t *testing.T) {
	r := loadRules(t)
	for _, w := range sloWindows {
		for _, name := range []string{
			"env_case:orbital_runs:success_ratio_rate" + w,
			"env_case:orbital_delivery_latency:good_ratio_rate" + w,
		} {
			if !r.Recorded[name] {
				t.Errorf("recording rule %s is missing", name)
			}
		}
	}
	for _, q := range []string{"p50", "p95", "p99"} {
		if name := "env_case:orbital_delivery_latency_seconds:" + q + "_rate5m"; !r.Recorded[name] {
			t.Errorf("recording rule %s is missing", name)
		}
	}
	for _, e := range r.Exprs {
		if strings.Contains(e.Source, "success_ratio") && !strings.Contains(e.Query, `outcome=~"pass|fail"`) {
			t.Errorf("%s: the success ratio must exclude skipped runs (pass / (pass+fail)): %s", e.Source, e.Query)
		}
	}
}

func TestBurnRateAlerts(t *testing.T) {
	r := loadRules(t)
	alerts := map[string]string{}
	severity := map[string]string{}
	for _, a := range r.Alerts {
		alerts[a.Name] = a.Expr
		severity[a.Name] = a.Labels["severity"]
	}
	burns := []struct {
		long, short, factor, severity string
	}{
		{"1h", "5m", "14.4", "page"},
		{"6h", "30m", "6", "page"},
		{"1d", "2h", "3", "ticket"},
		{"3d", "6h", "1", "ticket"},
	}
	slos := []struct {
		alert, ratio, budget string
	}{
		{"OrbitalCaseSuccessBudgetBurn", "env_case:orbital_runs:success_ratio_rate", "0.001"},
		{"OrbitalDeliveryLatencyBudgetBurn", "env_case:orbital_delivery_latency:good_ratio_rate", "0.01"},
	}
	for _, slo := range slos {
		for _, b := range burns {
			name := slo.alert + b.long
			expr, ok := alerts[name]
			if !ok {
				t.Errorf("alert %s is missing", name)
				continue
			}
			for _, w := range []string{b.long, b.short} {
				want := fmt.Sprintf("(1 - %s%s) > (%s * %s)", slo.ratio, w, b.factor, slo.budget)
				if !strings.Contains(expr, want) {
					t.Errorf("alert %s: expression lacks %q:\n%s", name, want, expr)
				}
			}
			if severity[name] != b.severity {
				t.Errorf("alert %s: severity %q, want %q", name, severity[name], b.severity)
			}
		}
	}
	for _, name := range []string{"OrbitalCaseNotRunning", "OrbitalServiceDown"} {
		if _, ok := alerts[name]; !ok {
			t.Errorf("alert %s is missing", name)
		}
	}
	if e := alerts["OrbitalCaseNotRunning"]; !strings.Contains(e, "> 2 * max by (env, case) (orbital_case_period_seconds + orbital_case_timeout_seconds)") {
		t.Errorf("OrbitalCaseNotRunning must compare the time since the last run with the case's own bound (period + timeout): %s", e)
	}
	if e, ok := alerts["OrbitalDeadMansSwitch"]; !ok || strings.TrimSpace(e) != "vector(1)" || severity["OrbitalDeadMansSwitch"] != "heartbeat" {
		t.Errorf("OrbitalDeadMansSwitch must always fire (vector(1)) with severity heartbeat: %q", e)
	}
	// Prometheus 3 stores le="10" as le="10.0": a rule matching le="10" exactly never fires.
	for _, ex := range r.Exprs {
		if strings.Contains(ex.Query, `le="`) {
			t.Errorf("%s matches le exactly; Prometheus 3 normalises it (use le=~\"10(\\\\.0)?\"): %s", ex.Source, ex.Query)
		}
	}
	if e := alerts["OrbitalServiceDown"]; !strings.Contains(e, `up{job="orbital-e2e"} == 0`) || !strings.Contains(e, `absent(up{job="orbital-e2e"})`) {
		t.Errorf("OrbitalServiceDown must catch a failing and a missing target: %s", e)
	}
}

// TestAlertsDocumented checks each alert's labels and annotations, and that its runbook_url
// points at a heading of docs/runbook.md that explains it.
func TestAlertsDocumented(t *testing.T) {
	anchors := markdownAnchors(readFile(t, runbookFile))
	const prefix = "https://github.com/orbital-e2e/orbital/blob/main/docs/runbook.md#"
	for _, a := range loadRules(t).Alerts {
		t.Run(a.Name, func(t *testing.T) {
			if s := a.Labels["severity"]; s != "page" && s != "ticket" && (s != "heartbeat" || a.Name != "OrbitalDeadMansSwitch") {
				t.Errorf("severity = %q, want page or ticket (heartbeat only for the dead man's switch)", s)
			}
			for _, k := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(a.Annotations[k]) == "" {
					t.Errorf("annotation %s is missing", k)
				}
			}
			url := a.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, prefix)
			if !ok {
				t.Fatalf("runbook_url %q does not start with %q", url, prefix)
			}
			if anchor != strings.ToLower(a.Name) {
				t.Errorf("runbook_url anchor %q, want %q", anchor, strings.ToLower(a.Name))
			}
			if !anchors[anchor] {
				t.Errorf("docs/runbook.md has no heading with anchor #%s", anchor)
			}
			if a.For > 0 && time.Duration(a.For) > 10*time.Minute {
				t.Errorf("for: %s delays the alert too long", a.For)
			}
		})
	}
}

var anchorDrop = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)

// markdownAnchors returns the GitHub anchors of the headings of a markdown document.
func markdownAnchors(md []byte) map[string]bool {
	anchors := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(md))
	inCode := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(anchorDrop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")
		anchors[slug] = true
	}
	return anchors
}

// TestRuleTestsCoverEveryAlert checks that rules_test.yaml shows every alert of rules.yaml
// both firing (a non-empty exp_alerts) and not firing (an empty one), and tests no alert
// that does not exist; promtool (make -C deploy promtool) then proves each expectation.
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	var file struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Name           string `json:"name"`
			AlertRuleTests []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, rulesTestFile), &file); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(file.RuleFiles, "rules.yaml") {
		t.Errorf("rules_test.yaml tests %q, want rules.yaml", file.RuleFiles)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range file.Tests {
		for _, at := range tc.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname]++
			} else {
				quiet[at.Alertname]++
			}
		}
	}
	known := map[string]bool{}
	for _, a := range loadRules(t).Alerts {
		known[a.Name] = true
		if fires[a.Name] == 0 {
			t.Errorf("alert %s: no test shows it firing", a.Name)
		}
		if quiet[a.Name] == 0 && a.Name != "OrbitalDeadMansSwitch" { // it always fires
			t.Errorf("alert %s: no test shows it not firing", a.Name)
		}
	}
	for name := range fires {
		if !known[name] {
			t.Errorf("rules_test.yaml expects alert %s, which rules.yaml does not define", name)
		}
	}
	for name := range quiet {
		if !known[name] {
			t.Errorf("rules_test.yaml expects alert %s, which rules.yaml does not define", name)
		}
	}
}
