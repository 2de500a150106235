package check_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kinds maps apiVersion/kind to a constructor of its Go type; an object of any other kind
// fails the test.
var kinds = map[string]func() any{
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// built is an overlay's output, every object decoded strictly into its Kubernetes type.
type built struct {
	namespace   string
	deployment  *appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	jobs        []*batchv1.Job
	pdb         *policyv1.PodDisruptionBudget
	netpol      *networkingv1.NetworkPolicy
	monitor     *monitoringv1.ServiceMonitor
	namespaces  int
	objectCount int
}

func buildOverlay(t *testing.T, overlay string) *built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployDir, "k8s", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	b := &built{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range resMap.Resources() {
		gvk := r.GetGvk()
		key := gvk.Version + "/" + gvk.Kind
		if gvk.Group != "" {
			key = gvk.Group + "/" + key
		}
		ctor, ok := kinds[key]
		if !ok {
			t.Errorf("%s: unexpected object %s %s", overlay, key, r.GetName())
			continue
		}
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj := ctor()
		if err := yaml.UnmarshalStrict(y, obj); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v\n%s", overlay, key, r.GetName(), err, y)
			continue
		}
		b.objectCount++
		if gvk.Kind != "Namespace" && r.GetNamespace() != b.expectNamespace(overlay) {
			t.Errorf("%s: %s %s is in namespace %q", overlay, key, r.GetName(), r.GetNamespace())
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			b.namespaces++
			b.namespace = o.Name
		case *appsv1.Deployment:
			b.deployment = o
		case *corev1.Service:
			b.services[o.Name] = o
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets[o.Name] = o
		case *batchv1.Job:
			b.jobs = append(b.jobs, o)
		case *policyv1.PodDisruptionBudget:
			b.pdb = o
		case *networkingv1.NetworkPolicy:
			b.netpol = o
		case *monitoringv1.ServiceMonitor:
			b.monitor = o
		}
	}
	if b.deployment == nil || b.pdb == nil || b.netpol == nil || b.monitor == nil || len(b.services) == 0 {
		t.Fatalf("%s: missing objects: deployment=%v pdb=%v networkpolicy=%v servicemonitor=%v services=%d",
			overlay, b.deployment != nil, b.pdb != nil, b.netpol != nil, b.monitor != nil, len(b.services))
	}
	return b
}

func (b *built) expectNamespace(overlay string) string { return "orbital-" + overlay }

func TestKustomizeOverlays(t *testing.T) {
	for _, overlay := range []string{"staging", "production"} {
		t.Run(overlay, func(t *testing.T) {
			b := buildOverlay(t, overlay)
			if b.namespaces != 1 || b.namespace != "orbital-"+overlay {
				t.Errorf("want exactly the namespace orbital-%s, got %d (%q)", overlay, b.namespaces, b.namespace)
			}
			checkPodSpec(t, b, &b.deployment.Spec.Template.Spec, "deployment")
			checkServing(t, b, overlay)
			checkSecrets(t, b, overlay)
		})
	}
}

func TestProductionCluster(t *testing.T) {
	b := buildOverlay(t, "production")
	d := b.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("production replicas = %v, want 3", d.Spec.Replicas)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "serve") || !slices.Contains(args, "--cluster") {
		t.Errorf("production args = %q, want serve --cluster", args)
	}
	cm := configFor(t, b, &d.Spec.Template.Spec)
	if cm.Data["ORBITAL_KAFKA_BROKERS"] == "" {
		t.Error("cluster mode needs ORBITAL_KAFKA_BROKERS")
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("production replicas should spread over nodes")
	}
	if len(b.jobs) != 1 {
		t.Fatalf("production: want one gate Job, got %d", len(b.jobs))
	}
	job := b.jobs[0]
	spec := &job.Spec.Template.Spec
	gate := spec.Containers[0]
	if len(gate.Args) == 0 || gate.Args[0] != "gate" || !slices.ContainsFunc(gate.Args, func(a string) bool { return strings.HasPrefix(a, "--junit") }) {
		t.Errorf("gate Job args = %q, want `gate ... --junit ...`", gate.Args)
	}
	if spec.RestartPolicy != corev1.RestartPolicyNever || job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 {
		t.Error("the gate Job must run once: restartPolicy Never, backoffLimit 0")
	}
	checkPodSpec(t, b, spec, "gate job")
	// The gate's own Service selects the Job's pods so the pipeline can deliver to it.
	svc := b.services["orbital-e2e-gate"]
	if svc == nil {
		t.Fatal("production: no Service orbital-e2e-gate for the gate's webhook")
	}
	if !selects(svc.Spec.Selector, job.Spec.Template.Labels) || selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service orbital-e2e-gate must select the gate Job's pods only: %v", svc.Spec.Selector)
	}
	if !strings.Contains(envValue(gate, "ORBITAL_WEBHOOK_URL"), "orbital-e2e-gate.") {
		t.Errorf("the gate must advertise its own webhook URL, got %q", envValue(gate, "ORBITAL_WEBHOOK_URL"))
	}
}

func TestStagingSingleReplica(t *testing.T) {
	b := buildOverlay(t, "staging")
	if r := b.deployment.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("staging replicas = %v, want 1", r)
	}
	if slices.Contains(b.deployment.Spec.Template.Spec.Containers[0].Args, "--cluster") {
		t.Error("staging runs one replica without cluster mode")
	}
	if len(b.jobs) != 0 {
		t.Error("the gate Job belongs to the production overlay")
	}
}

// checkPodSpec checks the hardening every orbital pod gets.
func checkPodSpec(t *testing.T, b *built, spec *corev1.PodSpec, what string) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as a non-root user", what)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service needs no Kubernetes API token", what)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", what, len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: container must have a read-only root, no privilege escalation and drop ALL capabilities: %+v", what, sc)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("%s: no %s request", what, r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: no memory limit", what)
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/orbital-e2e/orbital:") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("%s: image %q must be the published image at a pinned tag", what, c.Image)
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = true
	}
	if !mounted["/tmp"] || !mounted["/dev/shm"] {
		t.Errorf("%s: Chromium needs writable /tmp and /dev/shm on a read-only root", what)
	}
	configFor(t, b, spec)
}

// configFor returns the generated ConfigMap the pod reads its ORBITAL_* settings from.
func configFor(t *testing.T, b *built, spec *corev1.PodSpec) *corev1.ConfigMap {
	t.Helper()
	c := spec.Containers[0]
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			cm := b.configMaps[ef.ConfigMapRef.Name]
			if cm == nil {
				t.Fatalf("envFrom references ConfigMap %q, which the overlay does not generate (have %v)", ef.ConfigMapRef.Name, slices.Sorted(maps.Keys(b.configMaps)))
			}
			if !strings.HasPrefix(cm.Data["ORBITAL_API"], "http") {
				t.Errorf("ConfigMap %s: ORBITAL_API must point at the pipeline's tracking API, got %q", cm.Name, cm.Data["ORBITAL_API"])
			}
			return cm
		}
	}
	t.Fatal("container reads no ConfigMap")
	return nil
}

func checkServing(t *testing.T, b *built, overlay string) {
	d := b.deployment
	pod := d.Spec.Template
	c := pod.Spec.Containers[0]
	if pod.Labels["env"] != overlay {
		t.Errorf("pod label env = %q, want %q (the ServiceMonitor turns it into the env label)", pod.Labels["env"], overlay)
	}
	if !slices.Contains(b.monitor.Spec.PodTargetLabels, "env") {
		t.Error("ServiceMonitor must copy the pod label env onto the series")
	}
	if !selects(d.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("Deployment selector does not select its own pods")
	}
	// Probes on the named port that serves 8080.
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "http" {
			port = &c.Ports[i]
		}
	}
	if port == nil || port.ContainerPort != 8080 {
		t.Fatalf("container must expose port 8080 named http: %+v", c.Ports)
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("want an HTTP probe on http%s, got %+v", p.path, p.probe)
		}
	}
	// Service, PodDisruptionBudget, ServiceMonitor and NetworkPolicy all find the pods.
	svc := b.services["orbital-e2e"]
	if svc == nil || !selects(svc.Spec.Selector, pod.Labels) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Fatalf("Service orbital-e2e must select the pods on port 8080: %+v", svc)
	}
	if b.pdb.Spec.Selector == nil || !selects(b.pdb.Spec.Selector.MatchLabels, pod.Labels) ||
		(b.pdb.Spec.MaxUnavailable == nil && b.pdb.Spec.MinAvailable == nil) {
		t.Error("PodDisruptionBudget must select the pods and bound disruptions")
	}
	if !selects(b.monitor.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v", b.monitor.Spec.Selector.MatchLabels, svc.Labels)
	}
	for _, ep := range b.monitor.Spec.Endpoints {
		if ep.Port != svc.Spec.Ports[0].Name || ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %s%s, want %s/metrics", ep.Port, ep.Path, svc.Spec.Ports[0].Name)
		}
		// stats/v4 exposes last-change timestamps; the SLO rules need scrape time.
		if ep.HonorTimestamps == nil || *ep.HonorTimestamps {
			t.Error("ServiceMonitor endpoint must set honorTimestamps: false")
		}
	}
	checkNetworkPolicy(t, b.netpol, pod.Labels, overlay)
}

// checkNetworkPolicy: ingress only from the pipeline's pods (deliveries to /webhook) and
// Prometheus (scrapes), only on TCP 8080; nothing open to everyone.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, podLabels map[string]string, overlay string) {
	t.Helper()
	sel, err := metav1LabelSelector(np)
	if err != nil || !sel.Matches(labels.Set(podLabels)) {
		t.Errorf("NetworkPolicy does not select the pods: %v", err)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Error("NetworkPolicy must restrict ingress")
	}
	peers := map[string]string{}
	for i, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %d admits every peer", i)
		}
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != 8080 {
			t.Errorf("ingress rule %d must open only port 8080: %+v", i, rule.Ports)
		}
		for _, from := range rule.From {
			if from.PodSelector == nil || len(from.PodSelector.MatchLabels) == 0 || from.NamespaceSelector == nil || from.IPBlock != nil {
				t.Errorf("ingress rule %d: peer must name both namespace and pods: %+v", i, from)
				continue
			}
			if from.PodSelector.MatchLabels["app.kubernetes.io/part-of"] != "" || from.PodSelector.MatchLabels["env"] != "" {
				t.Errorf("ingress rule %d: a kustomize label leaked into the peer selector: %v", i, from.PodSelector.MatchLabels)
			}
			peers[from.PodSelector.MatchLabels["app.kubernetes.io/name"]] = from.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
		}
	}
	want := map[string]string{"pipeline": "pipeline-" + overlay, "prometheus": "monitoring"}
	if !maps.Equal(peers, want) {
		t.Errorf("NetworkPolicy peers (pods -> namespace) = %v, want %v", peers, want)
	}
}

func metav1LabelSelector(np *networkingv1.NetworkPolicy) (labels.Selector, error) {
	if len(np.Spec.PodSelector.MatchExpressions) > 0 {
		return nil, fmt.Errorf("unexpected matchExpressions")
	}
	return labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels), nil
}

// checkSecrets: the three secrets come from a Secret through env, never as literal values;
// only the staging overlay generates an example Secret, with obvious placeholders.
func checkSecrets(t *testing.T, b *built, overlay string) {
	t.Helper()
	c := b.deployment.Spec.Template.Spec.Containers[0]
	refs := map[string]string{}
	for _, e := range c.Env {
		if strings.Contains(strings.ToUpper(e.Name), "KEY") || strings.Contains(strings.ToUpper(e.Name), "SECRET") || strings.Contains(strings.ToUpper(e.Name), "TOKEN") {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s must come from a Secret, not a literal value", e.Name)
				continue
			}
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name
		}
	}
	for _, name := range []string{"ORBITAL_WRITE_KEY", "ORBITAL_WEBHOOK_SECRET", "ORBITAL_ADMIN_TOKEN"} {
		if refs[name] == "" {
			t.Errorf("%s is not set from a Secret", name)
		}
	}
	for _, cm := range b.configMaps {
		for k := range cm.Data {
			if strings.Contains(k, "KEY") || strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") {
				t.Errorf("ConfigMap %s holds %s: secrets belong in the Secret", cm.Name, k)
			}
		}
	}
	switch overlay {
	case "production":
		if len(b.secrets) != 0 {
			t.Errorf("production must not ship Secret values; it expects orbital-e2e-secrets to exist: %v", slices.Sorted(maps.Keys(b.secrets)))
		}
		for name, ref := range refs {
			if ref != "orbital-e2e-secrets" {
				t.Errorf("%s references Secret %q, want orbital-e2e-secrets", name, ref)
			}
		}
	case "staging":
		for name, ref := range refs {
			s := b.secrets[ref]
			if s == nil {
				t.Fatalf("%s references Secret %q, which the overlay does not generate", name, ref)
			}
			for k, v := range s.Data {
				if !strings.HasPrefix(string(v), "CHANGE-ME") {
					t.Errorf("example Secret key %s must be an obvious placeholder", k)
				}
			}
		}
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// selects reports whether a non-empty equality selector matches the labels.
func selects(selector, lbls map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(lbls))
}
