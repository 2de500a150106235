package check_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/jsonpath"
)

const analysisFile = "../k8s/rollouts/analysis-template.yaml"

// analysisTemplate is the part of Argo Rollouts' AnalysisTemplate (argoproj.io/v1alpha1,
// pkg/apis/rollouts/v1alpha1/analysis_types.go) the file uses; decoded strictly, so a
// misspelt field fails.
type analysisTemplate struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Args []struct {
			Name  string  `yaml:"name"`
			Value *string `yaml:"value"`
		} `yaml:"args"`
		Metrics []struct {
			Name                  string `yaml:"name"`
			Interval              string `yaml:"interval"`
			Count                 int    `yaml:"count"`
			FailureLimit          int    `yaml:"failureLimit"`
			ConsecutiveErrorLimit int    `yaml:"consecutiveErrorLimit"`
			SuccessCondition      string `yaml:"successCondition"`
			FailureCondition      string `yaml:"failureCondition"`
			Provider              struct {
				Web *struct {
					URL            string `yaml:"url"`
					TimeoutSeconds int    `yaml:"timeoutSeconds"`
					JSONPath       string `yaml:"jsonPath"`
				} `yaml:"web"`
			} `yaml:"provider"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

var argRef = regexp.MustCompile(`\{\{\s*args\.([a-zA-Z0-9-]+)\s*\}\}`)

// condition is the one shape of condition the template uses: "result <op> <number>".
var condition = regexp.MustCompile(`^result (==|>|>=|<|<=|!=) (-?[0-9.]+)$`)

func loadAnalysis(t *testing.T) analysisTemplate {
	t.Helper()
	var at analysisTemplate
	decodeStrict(t, analysisFile, &at)
	return at
}

// TestAnalysisTemplate checks the Argo Rollouts AnalysisTemplate statically: its kind, its
// arguments (every one referenced is declared with a default), one web metric on orbital's
// history window whose jsonPath parses and whose conditions say "no failed run".
func TestAnalysisTemplate(t *testing.T) {
	at := loadAnalysis(t)
	if at.APIVersion != "argoproj.io/v1alpha1" || at.Kind != "AnalysisTemplate" || at.Metadata.Name == "" {
		t.Fatalf("%s is %s %s %q, want an argoproj.io/v1alpha1 AnalysisTemplate with a name", analysisFile, at.APIVersion, at.Kind, at.Metadata.Name)
	}
	args := map[string]string{}
	for _, a := range at.Spec.Args {
		if a.Value == nil {
			t.Errorf("arg %s has no default value", a.Name)
			continue
		}
		args[a.Name] = *a.Value
	}
	if len(at.Spec.Metrics) != 1 {
		t.Fatalf("want one metric, got %d", len(at.Spec.Metrics))
	}
	m := at.Spec.Metrics[0]
	if d, err := time.ParseDuration(m.Interval); err != nil || d <= 0 {
		t.Errorf("interval %q is not a duration", m.Interval)
	}
	if m.FailureLimit != 0 || m.ConsecutiveErrorLimit < 1 {
		t.Errorf("failureLimit %d, consecutiveErrorLimit %d: want one failed measurement to fail the canary, errors bounded", m.FailureLimit, m.ConsecutiveErrorLimit)
	}
	web := m.Provider.Web
	if web == nil {
		t.Fatal("the metric has no web provider")
	}
	for _, ref := range argRef.FindAllStringSubmatch(web.URL, -1) {
		if _, ok := args[ref[1]]; !ok {
			t.Errorf("url references args.%s, which is not declared", ref[1])
		}
	}
	u, err := url.Parse(substitute(web.URL, args))
	if err != nil || u.Path != "/api/runs" || u.Query().Get("since") != args["since"] {
		t.Errorf("url %q (defaults substituted: %v) is not orbital's GET /api/runs?since=", web.URL, err)
	}
	if _, err := time.ParseDuration(args["since"]); err != nil {
		t.Errorf("default since %q is not a duration: %v", args["since"], err)
	}
	if err := jsonpath.New("metric").Parse(web.JSONPath); err != nil {
		t.Errorf("jsonPath %q: %v", web.JSONPath, err)
	}
	for _, c := range []string{m.SuccessCondition, m.FailureCondition} {
		if !condition.MatchString(c) {
			t.Errorf("condition %q: want the shape \"result <op> <number>\"", c)
		}
	}
	if !holds(t, m.SuccessCondition, 0) || holds(t, m.FailureCondition, 0) || holds(t, m.SuccessCondition, 1) || !holds(t, m.FailureCondition, 1) {
		t.Errorf("conditions %q / %q: want success at 0 failed runs and failure at 1", m.SuccessCondition, m.FailureCondition)
	}
}

// TestAnalysisTemplateLive measures the template the way Argo's web provider does (GET the
// URL, apply jsonPath, evaluate the conditions) against a real `e2e serve` whose pipeline
// drops every event: the dropping case fails the analysis, a case the drop does not affect
// passes it.
func TestAnalysisTemplateLive(t *testing.T) {
	at := loadAnalysis(t)
	m := at.Spec.Metrics[0]
	args := map[string]string{}
	for _, a := range at.Spec.Args {
		args[a.Name] = *a.Value
	}
	bin := filepath.Join(t.TempDir(), "e2e")
	build := exec.Command("go", "build", "-o", bin, "./cmd/e2e")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/e2e: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--run", "^(track|reject)$",
		"--faults", "drop=1", "--timeout", "1s", "--case-period", "track=500ms", "--log-format", "text")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	args["orbital-url"], args["since"] = "http://"+addr, "1m"

	// Wait (bounded) until the dropping case has failed once; then measure both selections.
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(250 * time.Millisecond) // polling an external process's history
	defer tick.Stop()
	for {
		args["run"] = "^track$"
		v, err := measure(substitute(m.Provider.Web.URL, args), m.Provider.Web.JSONPath)
		if err == nil && v > 0 {
			if !holds(t, m.FailureCondition, v) || holds(t, m.SuccessCondition, v) {
				t.Errorf("%v failed runs: failureCondition %q must hold and successCondition %q not", v, m.FailureCondition, m.SuccessCondition)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed track run measured within 90s (last: %v, %v)\n%s", v, err, tail(logs.String()))
		}
		<-tick.C
	}
	args["run"] = "^reject$"
	v, err := measure(substitute(m.Provider.Web.URL, args), m.Provider.Web.JSONPath)
	if err != nil || !holds(t, m.SuccessCondition, v) {
		t.Errorf("reject (not affected by drop): measured %v, %v; want successCondition %q to hold", v, err, m.SuccessCondition)
	}
}

// substitute replaces {{args.name}} with its value, query-escaped as Argo users must.
func substitute(s string, args map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := argRef.FindStringSubmatch(ref)[1]
		if name == "orbital-url" {
			return args[name]
		}
		return url.QueryEscape(args[name])
	})
}

// measure is one measurement of Argo's web provider: GET u, parse the JSON, apply jsonPath.
func measure(u, path string) (float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, err
	}
	jp := jsonpath.New("metric")
	if err := jp.Parse(path); err != nil {
		return 0, err
	}
	res, err := jp.FindResults(doc)
	if err != nil || len(res) != 1 || len(res[0]) != 1 {
		return 0, fmt.Errorf("jsonPath %s on %s: %v (%d results)", path, b, err, len(res))
	}
	v, ok := res[0][0].Interface().(float64)
	if !ok {
		return 0, fmt.Errorf("jsonPath %s: %T, want a number", path, res[0][0].Interface())
	}
	return v, nil
}

// holds evaluates a condition of the shape "result <op> <number>".
func holds(t *testing.T, cond string, result float64) bool {
	t.Helper()
	m := condition.FindStringSubmatch(strings.TrimSpace(cond))
	if m == nil {
		t.Fatalf("condition %q: want \"result <op> <number>\"", cond)
	}
	n, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		t.Fatal(err)
	}
	switch m[1] {
	case "==":
		return result == n
	case "!=":
		return result != n
	case ">":
		return result > n
	case ">=":
		return result >= n
	case "<":
		return result < n
	}
	return result <= n
}
