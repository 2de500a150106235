package check_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(deployDir, "compose.yaml")},
		cli.WithWorkingDirectory(deployDir),
		cli.WithName("orbital"),
		cli.WithEnv(nil), // the file's ${VAR:-default} values, not this machine's environment
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml does not load (schema, interpolation or references): %v", err)
	}
	return p
}

func TestComposeStack(t *testing.T) {
	p := loadCompose(t)
	names := p.ServiceNames()
	slices.Sort(names)
	want := []string{"alertmanager", "e2e", "grafana", "kafka", "pipeline", "prometheus"}
	if !slices.Equal(names, want) {
		t.Fatalf("services = %q, want %q", names, want)
	}
	for name, s := range p.Services {
		if s.Build != nil {
			dockerfile := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
				t.Errorf("%s: build context %s is not the root module: %v", name, s.Build.Context, err)
			}
			if _, err := os.Stat(dockerfile); err != nil {
				t.Errorf("%s: Dockerfile: %v", name, err)
			}
		} else if i := strings.LastIndex(s.Image, ":"); i < 0 || strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %q must be pinned to a version", name, s.Image)
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source: %v", name, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s: mount %s should be read-only", name, v.Target)
			}
		}
	}
}

func TestComposeKafkaKRaft(t *testing.T) {
	p := loadCompose(t)
	k := p.Services["kafka"]
	if !strings.HasPrefix(k.Image, "apache/kafka:") {
		t.Errorf("kafka image %q, want the Apache Kafka image", k.Image)
	}
	env := func(name string) string {
		if v := k.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	if roles := env("KAFKA_PROCESS_ROLES"); !strings.Contains(roles, "broker") || !strings.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES = %q: a single KRaft node is broker and controller", roles)
	}
	if env("KAFKA_CONTROLLER_QUORUM_VOTERS") == "" {
		t.Error("KRaft needs KAFKA_CONTROLLER_QUORUM_VOTERS")
	}
	for name := range p.Services {
		if strings.Contains(name, "zookeeper") {
			t.Errorf("service %s: KRaft mode needs no ZooKeeper", name)
		}
	}
	if env("KAFKA_ZOOKEEPER_CONNECT") != "" {
		t.Error("KAFKA_ZOOKEEPER_CONNECT set: KRaft mode uses no ZooKeeper")
	}
	if k.HealthCheck == nil {
		t.Error("kafka needs a healthcheck so the pipeline starts after it")
	}
}

func TestComposeE2EUsesRealPipeline(t *testing.T) {
	p := loadCompose(t)
	e2e, pipe := p.Services["e2e"], p.Services["pipeline"]
	cmd := []string(e2e.Command)
	for _, want := range []string{"serve", "--api=http://pipeline:8081", "--kafka-brokers=kafka:9092"} {
		if !slices.Contains(cmd, want) {
			t.Errorf("e2e command %q lacks %q (it must test the real pipeline, not the embedded default)", cmd, want)
		}
	}
	if _, ok := e2e.DependsOn["pipeline"]; !ok {
		t.Error("e2e must start after the pipeline")
	}
	if !slices.Contains([]string(pipe.Entrypoint), "pipeline") {
		t.Errorf("pipeline entrypoint %q must run the pipeline binary", pipe.Entrypoint)
	}
	pcmd := []string(pipe.Command)
	for _, want := range []string{"--kafka-brokers=kafka:9092", "--destination=http://e2e:8080/webhook"} {
		if !slices.Contains(pcmd, want) {
			t.Errorf("pipeline command %q lacks %q", pcmd, want)
		}
	}
	// Both sides share the webhook secret and the write key.
	secret := *e2e.Environment["ORBITAL_WEBHOOK_SECRET"]
	if !slices.Contains(pcmd, "--destination-secret="+secret) {
		t.Errorf("pipeline signs with a different secret than e2e verifies (%q)", secret)
	}
	if !slices.Contains(pcmd, "--write-key="+*e2e.Environment["ORBITAL_WRITE_KEY"]) {
		t.Error("pipeline and e2e disagree on the write key")
	}
	if pipe.HealthCheck == nil || !strings.Contains(strings.Join(pipe.HealthCheck.Test, " "), ":8081/healthz") {
		t.Error("the pipeline container must override the image's e2e healthcheck with its own /healthz on :8081")
	}
}

// TestComposeMonitoring checks that Prometheus scrapes e2e with the rules loaded and sends
// to Alertmanager, and that Grafana provisions the datasource and the dashboard.
func TestComposeMonitoring(t *testing.T) {
	p := loadCompose(t)
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName         string `yaml:"job_name"`
			HonorTimestamps *bool  `yaml:"honor_timestamps"`
			StaticConfigs   []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
		Global map[string]string `yaml:"global"`
	}
	decodeStrict(t, filepath.Join(deployDir, "prometheus", "prometheus.yml"), &prom)
	mounts := map[string]string{}
	for _, v := range p.Services["prometheus"].Volumes {
		mounts[v.Target] = v.Source
	}
	for _, rf := range prom.RuleFiles {
		src, ok := mounts[filepath.Join("/etc/prometheus", rf)]
		if !ok || filepath.Base(src) != "rules.yaml" {
			t.Errorf("rule file %s is not mounted from deploy/prometheus/rules.yaml (mounts %v)", rf, mounts)
		}
	}
	if len(prom.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rules")
	}
	scraped := false
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName == "orbital-e2e" && sc.HonorTimestamps != nil && !*sc.HonorTimestamps && len(sc.StaticConfigs) == 1 && slices.Equal(sc.StaticConfigs[0].Targets, []string{"e2e:8080"}) && sc.StaticConfigs[0].Labels["env"] != "" {
			scraped = true
		}
	}
	if !scraped {
		t.Error("prometheus.yml must scrape e2e:8080 as job orbital-e2e with an env label, ignoring the exposed timestamps")
	}
	if len(prom.Alerting.Alertmanagers) != 1 || !slices.Equal(prom.Alerting.Alertmanagers[0].StaticConfigs[0].Targets, []string{"alertmanager:9093"}) {
		t.Error("prometheus.yml must send alerts to alertmanager:9093")
	}

	var am struct {
		Route struct {
			Receiver string `yaml:"receiver"`
			Routes   []struct {
				Receiver string `yaml:"receiver"`
			} `yaml:"routes"`
		} `yaml:"route"`
		Receivers []struct {
			Name string `yaml:"name"`
		} `yaml:"receivers"`
	}
	decodeLoose(t, filepath.Join(deployDir, "alertmanager", "alertmanager.yml"), &am)
	receivers := map[string]bool{}
	for _, r := range am.Receivers {
		receivers[r.Name] = true
	}
	for _, r := range append([]string{am.Route.Receiver}, func() (out []string) {
		for _, sub := range am.Route.Routes {
			out = append(out, sub.Receiver)
		}
		return out
	}()...) {
		if !receivers[r] {
			t.Errorf("alertmanager.yml routes to undefined receiver %q", r)
		}
	}

	g := p.Services["grafana"]
	gm := map[string]string{}
	for _, v := range g.Volumes {
		gm[v.Target] = v.Source
	}
	if src := gm["/etc/grafana/provisioning"]; filepath.Base(src) != "provisioning" {
		t.Errorf("grafana must mount deploy/grafana/provisioning, mounts %v", gm)
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeLoose(t, filepath.Join(deployDir, "grafana", "provisioning", "dashboards", "orbital.yaml"), &providers)
	if len(providers.Providers) != 1 {
		t.Fatal("want one dashboard provider")
	}
	dashSrc := gm[filepath.Join(providers.Providers[0].Options.Path, "dashboard.json")]
	if abs, _ := filepath.Abs(dashboardFile); dashSrc != abs {
		t.Errorf("the provider's path %s does not hold deploy/grafana/dashboard.json (mounts %v)", providers.Providers[0].Options.Path, gm)
	}
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	decodeLoose(t, filepath.Join(deployDir, "grafana", "provisioning", "datasources", "prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("grafana datasource must be the compose Prometheus: %+v", ds.Datasources)
	}
}

// decodeStrict decodes a YAML file, failing on fields the target does not declare.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// decodeLoose decodes the fields the checks need from a YAML file owned by another tool.
func decodeLoose(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
