package check_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAlertingEndToEnd is the proof that paging works on the real thing: real Prometheus
// (v0.307.3) and Alertmanager (v0.28.1), built from this module's tool dependencies, load the
// unmodified prometheus/rules.yaml and scrape real `e2e serve` instances (the embedded
// default, only the track case, short periods through --config overrides), each as its own
// env:
//
//	healthy   no faults                             -> no alert, ever (not even pending)
//	broken    --faults drop=1 from the start        -> the four success burn-rate alerts
//	slow      --faults delay=11s (SLO: 10 s)        -> the four latency burn-rate alerts
//	switched  healthy, then PUT /api/faults drop=1  -> the four success burn-rate alerts
//	killed    SIGKILLed once scraped                -> OrbitalServiceDown
//
// and OrbitalDeadMansSwitch always. Prometheus evaluates every 1 s (a config-level global
// evaluation_interval: the rule groups set none) and scrapes every 1 s; its Alertmanager
// routes everything to a webhook receiver in this test with group_wait 1s. The test asserts,
// through Prometheus's HTTP API and the receiver, that each alert fires for the instance it
// exists for within its bound (alertBounds, the figures docs/runbook.md states), that nothing
// fires or goes pending for healthy, that OrbitalCaseNotRunning never goes pending at all
// (broken's timeout is longer than three of its periods, which made the old rule flap), and
// that every dashboard query returns data. It logs the time from fault to page per alert.
func TestAlertingEndToEnd(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	e2e := filepath.Join(dir, "e2e")
	goBuild(t, repoRoot, e2e, "./cmd/e2e")
	prom := goTool(t, "prometheus")
	am := goTool(t, "alertmanager")
	t.Logf("built e2e, prometheus and alertmanager in %s", time.Since(start).Round(time.Second))

	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}

	// The receiver records when each alert (by alertname and env) first arrived firing.
	recv := newAlertReceiver()
	recvSrv := httptest.NewServer(recv)
	t.Cleanup(recvSrv.Close)

	// Alertmanager, routing everything to the receiver at once.
	amAddr := freeAddr(t)
	amConfig := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, amConfig, fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, env, case]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %s/alerts
        send_resolved: true
`, recvSrv.URL))
	amProc := startProc(t, "alertmanager", am,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	waitReady(t, amProc, "http://"+amAddr+"/-/ready")

	// The e2e instances. Short periods and timeouts through the case overrides; broken's
	// timeout (5 s) is longer than three of its periods (1 s).
	const token = "alerting-test-admin-token"
	type instance struct {
		env, faults, config string
		addr                string
		proc                *proc
		faultAt             time.Time // when its fault began (start, PUT or kill)
	}
	instances := []*instance{
		{env: "healthy", config: `{"cases": {"track": {"period": "2s", "timeout": "20s"}}}`},
		{env: "broken", faults: "drop=1", config: `{"cases": {"track": {"period": "1s", "timeout": "5s"}}}`},
		{env: "slow", faults: "delay=11s", config: `{"cases": {"track": {"period": "2s", "timeout": "20s"}}}`},
		{env: "switched", config: `{"cases": {"track": {"period": "2s", "timeout": "5s"}}}`},
		{env: "killed", config: `{"cases": {"track": {"period": "2s", "timeout": "20s"}}}`},
	}
	byEnv := map[string]*instance{}
	var targets []string
	for _, in := range instances {
		byEnv[in.env] = in
		in.addr = freeAddr(t)
		cfg := filepath.Join(dir, in.env+".json")
		writeFile(t, cfg, in.config)
		args := []string{"serve", "--addr", in.addr, "--run", "^track$", "--config", cfg,
			"--admin-token", token, "--log-level", "warn", "--drain", "1s"}
		if in.faults != "" {
			args = append(args, "--faults", in.faults)
		}
		in.proc = startProc(t, "e2e "+in.env, e2e, args...)
		in.faultAt = time.Now()
		targets = append(targets, fmt.Sprintf(`      - targets: [%q]
        labels:
          env: %s`, in.addr, in.env))
	}

	// Prometheus: the real rules file, 1 s scrapes and evaluations.
	promAddr := freeAddr(t)
	promConfig := filepath.Join(dir, "prometheus.yml")
	writeFile(t, promConfig, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: orbital-e2e
    honor_timestamps: false
    static_configs:
%s
`, rules, amAddr, strings.Join(targets, "\n")))
	promProc := startProc(t, "prometheus", prom,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr,
		"--log.level=warn",
	)
	promStart := time.Now()
	api := &promAPI{base: "http://" + promAddr, client: &http.Client{Timeout: 10 * time.Second}}
	waitReady(t, promProc, api.base+"/-/ready")

	// Every alert the test expects, by alertname and env ("" for the dead man's switch).
	type key struct{ alert, env string }
	var want []key
	for _, w := range []string{"1h", "6h", "1d", "3d"} {
		want = append(want,
			key{"OrbitalCaseSuccessBudgetBurn" + w, "broken"},
			key{"OrbitalCaseSuccessBudgetBurn" + w, "switched"},
			key{"OrbitalDeliveryLatencyBudgetBurn" + w, "slow"})
	}
	want = append(want, key{"OrbitalServiceDown", "killed"}, key{"OrbitalDeadMansSwitch", ""})

	firedAt := map[key]time.Time{} // first seen firing in Prometheus
	killed, switched := false, false
	deadline := time.Now().Add(alertingDeadline)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, in := range instances {
			if in.env != "killed" || !killed {
				if err := in.proc.exitErr(); err != nil {
					t.Fatalf("e2e %s exited: %v\n%s", in.env, err, tail(in.proc.logs.String()))
				}
			}
		}
		if err := promProc.exitErr(); err != nil {
			t.Fatalf("prometheus exited: %v\n%s", err, tail(promProc.logs.String()))
		}
		// killed dies once Prometheus has scraped it.
		if !killed {
			if v, ok := api.scalar(t, `up{env="killed"}`); ok && v == 1 {
				byEnv["killed"].proc.kill()
				byEnv["killed"].faultAt = time.Now()
				killed = true
				t.Logf("killed e2e killed at +%s", time.Since(promStart).Round(time.Second))
			}
		}
		// switched breaks at run time once it has passed a few runs.
		if !switched {
			if v, ok := api.scalar(t, `sum(orbital_runs_total{env="switched",outcome="pass"})`); ok && v >= 3 {
				in := byEnv["switched"]
				body := putFaults(t, "http://"+in.addr, token, "drop=1")
				in.faultAt = time.Now()
				switched = true
				t.Logf("PUT /api/faults drop=1 on switched after %v passes: %s", v, strings.TrimSpace(body))
			}
		}
		for _, a := range api.alerts(t) {
			k := key{a.Labels["alertname"], a.Labels["env"]}
			if k.env == "healthy" {
				t.Fatalf("alert %s is %s for the healthy instance: %v", k.alert, a.State, a.Labels)
			}
			if k.alert == "OrbitalCaseNotRunning" {
				t.Fatalf("OrbitalCaseNotRunning is %s for %s: cases whose runs end within period + timeout must not even go pending", a.State, k.env)
			}
			if a.State == "firing" {
				if _, ok := firedAt[k]; !ok {
					firedAt[k] = time.Now()
				}
			}
		}
		done := killed && switched
		for _, k := range want {
			if _, ok := recv.firstFiring(k.alert, k.env); !ok {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for _, k := range want {
				if _, ok := recv.firstFiring(k.alert, k.env); !ok {
					missing = append(missing, k.alert+"{env="+k.env+"}")
				}
			}
			t.Fatalf("after %s these alerts never reached the receiver: %s\nfiring in Prometheus: %v\nreceived: %v",
				alertingDeadline, strings.Join(missing, ", "), firedAt, recv.summary())
		}
		<-tick.C
	}

	// Time from fault to page, per alert, against the bound the runbook states.
	var table strings.Builder
	table.WriteString("| alert | instance (fault) | fault -> firing in Prometheus | fault -> receiver | bound |\n|---|---|---|---|---|\n")
	for _, k := range want {
		got, _ := recv.firstFiring(k.alert, k.env)
		from, what := promStart, "Prometheus started"
		if in := byEnv[k.env]; in != nil {
			from = in.faultAt
			what = map[string]string{"broken": "drop=1 from start", "slow": "delay=11s from start",
				"switched": "PUT drop=1", "killed": "SIGKILL"}[k.env]
		}
		toPage := got.Sub(from)
		bound := alertBounds[strings.TrimRight(k.alert, "0123456789hd")]
		if k.alert == "OrbitalServiceDown" || k.alert == "OrbitalDeadMansSwitch" {
			bound = alertBounds[k.alert]
		}
		fmt.Fprintf(&table, "| %s | %s (%s) | %s | %s | %s |\n", k.alert, orDash(k.env), what,
			firedAt[k].Sub(from).Round(100*time.Millisecond), toPage.Round(100*time.Millisecond), bound)
		if bound == 0 || toPage > bound {
			t.Errorf("%s for %s: %s from fault to page, over the runbook's bound %s", k.alert, orDash(k.env), toPage.Round(time.Second), bound)
		}
	}
	t.Logf("time from fault to page (1 s scrape and evaluation, group_wait 1s):\n%s", table.String())
	if len(recv.forEnv("healthy")) > 0 {
		t.Errorf("the receiver got alerts for the healthy instance: %v", recv.forEnv("healthy"))
	}

	// The series in the shape Prometheus 3 stores them: le normalised to "10.0".
	if _, ok := api.scalar(t, `sum(orbital_delivery_latency_seconds_bucket{env="healthy",le="10.0"})`); !ok {
		t.Errorf(`Prometheus has no orbital_delivery_latency_seconds_bucket{le="10.0"} for healthy`)
	}
	// Issue 17: the per-hop histogram, as Prometheus stored it (it shares its stats/v4 field
	// name with the delivery latency: both must survive as histograms).
	if _, ok := api.scalar(t, `sum(orbital_hop_latency_seconds_bucket{env="healthy",hop="delivery",le="10.0"})`); !ok {
		t.Errorf(`Prometheus has no orbital_hop_latency_seconds_bucket{hop="delivery",le="10.0"} for healthy`)
	}
	// Never for healthy, and "case not running" never even pending, over the whole test.
	for _, q := range []string{`ALERTS{env="healthy"}`, `ALERTS{alertname="OrbitalCaseNotRunning"}`} {
		if n := len(api.query(t, "count_over_time("+q+"[1h])")); n != 0 {
			t.Errorf("%s was pending or firing during the test (%d series)", q, n)
		}
	}
	// A case that never passed shows 0 %, not "no data".
	if v, ok := api.scalar(t, `env_case:orbital_runs:success_ratio_rate1h{env="broken",case="track"}`); !ok || v != 0 {
		t.Errorf("pass ratio of the never-passing case = %v (present %v), want 0", v, ok)
	}

	// Every dashboard query returns data against this Prometheus, with the environments of the
	// comparison row set to healthy and switched.
	for _, p := range loadDashboard(t).AllPanels() {
		for _, tg := range p.Targets {
			q := dashboardQuery(tg.Expr, map[string]string{"env": ".+", "env_a": "healthy", "env_b": "switched", "case": ".+"})
			if res := api.query(t, q); len(res) == 0 {
				t.Errorf("dashboard panel %q target %s returns no data:\n%s", p.Title, tg.RefID, q)
			}
		}
	}
}

// alertingDeadline bounds the wait for every expected alert; OrbitalServiceDown's for: 3m
// is the longest part.
const alertingDeadline = 6 * time.Minute

// alertBounds is the longest time from fault to page each alert may take in this test's
// set-up (1 s scrape and evaluation, group_wait 1s), as docs/runbook.md states: the success
// alerts need one failed run (the 5 s timeout) to end and be scraped; the latency alerts two
// slow deliveries (the first one creates the histogram) of 11 s each plus the start-up of the
// embedded pipeline; OrbitalServiceDown its for: 3m; the dead man's switch fires at the first
// evaluation, but Prometheus's first notification can go out before it has discovered its
// Alertmanager, and it resends firing alerts only every --rules.alert.resend-delay (1m).
var alertBounds = map[string]time.Duration{
	"OrbitalCaseSuccessBudgetBurn":     45 * time.Second,
	"OrbitalDeliveryLatencyBudgetBurn": 90 * time.Second,
	"OrbitalServiceDown":               3*time.Minute + 30*time.Second,
	"OrbitalDeadMansSwitch":            90 * time.Second,
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dashboardQuery expands a dashboard expression's variables the way Grafana does for the
// given values; interval variables become 1m.
func dashboardQuery(expr string, vars map[string]string) string {
	for _, v := range []string{"$__rate_interval", "$__interval", "$__range"} {
		expr = strings.ReplaceAll(expr, v, "1m")
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	// Longest first: $env_a before $env.
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		expr = strings.ReplaceAll(expr, "${"+n+"}", vars[n])
		expr = strings.ReplaceAll(expr, "$"+n, vars[n])
	}
	return expr
}

func goBuild(t *testing.T, dir, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// goTool returns the path of a tool dependency of this module's go.mod, built (and cached
// as an executable in GOCACHE) by `go tool -n`; `make -C deploy tools` builds them before the
// tests so that a cold build does not count against the test timeout.
func goTool(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("go", "tool", "-n", name)
	cmd.Dir = deployDir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proc is a child process the test owns: stopped (SIGINT, then killed after WaitDelay) and
// waited for at cleanup.
type proc struct {
	cmd    *exec.Cmd
	logs   syncBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		if p.err == nil {
			p.err = fmt.Errorf("%s exited", name)
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// exitErr is nil while the process runs.
func (p *proc) exitErr() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// waitReady polls url until it answers 200, the process exits, or a minute passes.
func waitReady(t *testing.T, p *proc, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if err := p.exitErr(); err != nil {
			t.Fatalf("%s: %v\n%s", url, err, tail(p.logs.String()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after a minute (last error %v)\n%s", url, err, tail(p.logs.String()))
		}
		<-tick.C
	}
}

func putFaults(t *testing.T, base, token, spec string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/api/faults", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT /api/faults: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"spec":"`+spec+`"`) {
		t.Fatalf("PUT /api/faults %q: %s %s", spec, resp.Status, b)
	}
	return string(b)
}

// promAPI queries Prometheus's HTTP API.
type promAPI struct {
	base   string
	client *http.Client
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (a *promAPI) get(t *testing.T, path string, params url.Values, into any) {
	t.Helper()
	resp, err := a.client.Get(a.base + path + "?" + params.Encode())
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if env.Status != "success" {
		t.Fatalf("GET %s %v: %s", path, params, env.Error)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// query runs an instant query and returns its vector.
func (a *promAPI) query(t *testing.T, q string) []promSample {
	t.Helper()
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	a.get(t, "/api/v1/query", url.Values{"query": {q}}, &data)
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return []promSample{{}}
	}
	return data.Result
}

// scalar returns the value of a query's single sample.
func (a *promAPI) scalar(t *testing.T, q string) (float64, bool) {
	t.Helper()
	res := a.query(t, q)
	if len(res) != 1 {
		return 0, false
	}
	s, _ := res[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func (a *promAPI) alerts(t *testing.T) []promAlert {
	t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	a.get(t, "/api/v1/alerts", nil, &data)
	return data.Alerts
}

// alertReceiver is an Alertmanager webhook receiver (payload version 4). It is safe for
// concurrent use.
type alertReceiver struct {
	mu    sync.Mutex
	first map[string]time.Time // alertname + "/" + env -> first firing notification
	seen  map[string][]string  // env -> alertnames received
}

func newAlertReceiver() *alertReceiver {
	return &alertReceiver{first: map[string]time.Time{}, seen: map[string][]string{}}
}

func (r *alertReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	var msg struct {
		Version string `json:"version"`
		Alerts  []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&msg); err != nil || msg.Version != "4" {
		http.Error(w, "not an Alertmanager webhook payload", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range msg.Alerts {
		env := a.Labels["env"]
		r.seen[env] = append(r.seen[env], a.Labels["alertname"]+":"+a.Status)
		k := a.Labels["alertname"] + "/" + env
		if _, ok := r.first[k]; !ok && a.Status == "firing" {
			r.first[k] = now
		}
	}
}

func (r *alertReceiver) firstFiring(alert, env string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.first[alert+"/"+env]
	return at, ok
}

func (r *alertReceiver) forEnv(env string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[env])
}

func (r *alertReceiver) summary() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for k, v := range r.seen {
		out[k] = slices.Compact(slices.Sorted(slices.Values(v)))
	}
	return out
}
