package check_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// cliHelp is what a binary's --help says it accepts: flag names (without dashes) and, for
// e2e, the ORBITAL_* environment variables that set them.
type cliHelp struct {
	flags map[string]bool
	env   map[string]bool
}

var (
	clisOnce sync.Once
	clis     map[string]cliHelp // "e2e serve", "e2e gate", "pipeline"
	clisErr  string
)

// helpOf builds e2e and the example pipeline from the root module and reads the flags and
// environment variables their --help lists.
func helpOf(t *testing.T) map[string]cliHelp {
	t.Helper()
	clisOnce.Do(func() {
		dir := t.TempDir()
		bins := map[string]string{"e2e": "./cmd/e2e", "pipeline": "./examples/cmd/pipeline"}
		for name, pkg := range bins {
			build := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
			build.Dir = repoRoot
			if out, err := build.CombinedOutput(); err != nil {
				clisErr = "go build " + pkg + ": " + err.Error() + "\n" + string(out)
				return
			}
		}
		e2eFlag := regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)\b(?:.*?\$(ORBITAL_[A-Z0-9_]+))?`)
		goFlag := regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)\b`)
		clis = map[string]cliHelp{}
		for key, args := range map[string][]string{
			"e2e serve": {"e2e", "serve", "--help"},
			"e2e gate":  {"e2e", "gate", "--help"},
			"e2e load":  {"e2e", "load", "--help"},
			"pipeline":  {"pipeline", "--help"},
		} {
			out, _ := exec.Command(filepath.Join(dir, args[0]), args[1:]...).CombinedOutput() // --help may exit non-zero
			c := cliHelp{flags: map[string]bool{}, env: map[string]bool{}}
			re := e2eFlag
			if args[0] == "pipeline" {
				re = goFlag
			}
			for _, m := range re.FindAllStringSubmatch(string(out), -1) {
				c.flags[m[1]] = true
				if len(m) > 2 && m[2] != "" {
					c.env[m[2]] = true
				}
			}
			if len(c.flags) < 5 {
				clisErr = strings.Join(args, " ") + " lists only " + strings.Join(keys(c.flags), ",") + ":\n" + string(out)
				return
			}
			clis[key] = c
		}
	})
	if clisErr != "" {
		t.Fatal(clisErr)
	}
	return clis
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// badArgs returns the flags in args that c does not accept.
func badArgs(c cliHelp, args []string) []string {
	var bad []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue // a subcommand or the value of the previous flag
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !c.flags[name] {
			bad = append(bad, a)
		}
	}
	return bad
}

// badEnv returns the ORBITAL_* names that c does not read.
func badEnv(c cliHelp, names []string) []string {
	var bad []string
	for _, n := range names {
		if strings.HasPrefix(n, "ORBITAL_") && !c.env[n] {
			bad = append(bad, n)
		}
	}
	return bad
}

func checkArgs(t *testing.T, where string, c cliHelp, args []string) {
	t.Helper()
	for _, a := range badArgs(c, args) {
		t.Errorf("%s: flag %q is not in --help", where, a)
	}
}

func checkEnv(t *testing.T, where string, c cliHelp, names []string) {
	t.Helper()
	for _, n := range badEnv(c, names) {
		t.Errorf("%s: environment variable %s is not in --help", where, n)
	}
}

// e2eCLI returns the e2e subcommand args start with (serve by default, as the image's CMD).
func e2eCLI(t *testing.T, where string, args []string) (cliHelp, []string) {
	t.Helper()
	sub := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	c, ok := helpOf(t)["e2e "+sub]
	if !ok {
		t.Fatalf("%s: unknown e2e subcommand %q", where, sub)
	}
	return c, args
}

// TestDeployFlagsExist checks that every flag and ORBITAL_* variable the deploy files pass to
// e2e or the pipeline is one that binary's --help lists: compose.yaml, the image's ENV, the
// containers of both kustomize overlays (args, env and the ConfigMaps they load) and the CI
// workflow's e2e command line.
func TestDeployFlagsExist(t *testing.T) {
	h := helpOf(t)

	t.Run("compose", func(t *testing.T) {
		var compose struct {
			Services map[string]struct {
				Command     []string          `json:"command"`
				Entrypoint  []string          `json:"entrypoint"`
				Environment map[string]string `json:"environment"`
			} `json:"services"`
		}
		if err := yaml.Unmarshal(readFile(t, filepath.Join(deployDir, "compose.yaml")), &compose); err != nil {
			t.Fatal(err)
		}
		p, ok := compose.Services["pipeline"]
		if !ok || len(p.Command) == 0 {
			t.Fatal("compose.yaml: no pipeline command")
		}
		checkArgs(t, "compose pipeline", h["pipeline"], p.Command)
		e, ok := compose.Services["e2e"]
		if !ok || len(e.Command) == 0 {
			t.Fatal("compose.yaml: no e2e command")
		}
		c, args := e2eCLI(t, "compose e2e", e.Command)
		checkArgs(t, "compose e2e", c, args)
		checkEnv(t, "compose e2e", c, keys(toSet(e.Environment)))
	})

	t.Run("Dockerfile", func(t *testing.T) {
		env := regexp.MustCompile(`\b(ORBITAL_[A-Z0-9_]+)=`).FindAllStringSubmatch(string(readFile(t, filepath.Join(deployDir, "docker", "Dockerfile"))), -1)
		if len(env) == 0 {
			t.Fatal("Dockerfile sets no ORBITAL_* variable")
		}
		var names []string
		for _, m := range env {
			names = append(names, m[1])
		}
		for _, sub := range []string{"e2e serve", "e2e gate"} { // the image runs both
			checkEnv(t, "Dockerfile ("+sub+")", h[sub], names)
		}
	})

	for _, overlay := range []string{"staging", "production"} {
		t.Run("k8s/"+overlay, func(t *testing.T) {
			b := buildOverlay(t, overlay)
			specs := map[string]*corev1.PodSpec{"deployment": &b.deployment.Spec.Template.Spec}
			for _, j := range b.jobs {
				specs["job "+j.Name] = &j.Spec.Template.Spec
			}
			for what, spec := range specs {
				for _, ctr := range spec.Containers {
					where := overlay + " " + what + " " + ctr.Name
					c, args := e2eCLI(t, where, ctr.Args)
					checkArgs(t, where, c, args)
					var names []string
					for _, e := range ctr.Env {
						names = append(names, e.Name)
					}
					for _, from := range ctr.EnvFrom {
						if from.ConfigMapRef == nil {
							continue
						}
						cm := b.configMaps[from.ConfigMapRef.Name]
						if cm == nil {
							t.Errorf("%s: ConfigMap %s not in the overlay", where, from.ConfigMapRef.Name)
							continue
						}
						names = append(names, keys(toSet(cm.Data))...)
					}
					checkEnv(t, where, c, names)
				}
			}
		})
	}

	t.Run("ci", func(t *testing.T) {
		var wf struct {
			Jobs map[string]struct {
				Env   map[string]string `json:"env"`
				Steps []struct {
					Run string `json:"run"`
				} `json:"steps"`
			} `json:"jobs"`
		}
		if err := yaml.Unmarshal(readFile(t, filepath.Join(deployDir, "ci", "release-gate.yaml")), &wf); err != nil {
			t.Fatal(err)
		}
		found := 0
		for name, job := range wf.Jobs {
			for _, step := range job.Steps {
				for _, line := range strings.Split(step.Run, "\n") {
					fields := strings.Fields(line)
					if len(fields) == 0 || fields[0] != "./e2e" {
						continue
					}
					found++
					c, args := e2eCLI(t, "ci "+name, fields[1:])
					checkArgs(t, "ci "+name, c, args)
					checkEnv(t, "ci "+name, c, keys(toSet(job.Env)))
				}
			}
		}
		if found == 0 {
			t.Error("the CI workflow runs no ./e2e command")
		}
	})
}

func toSet(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// TestCheckArgsCatchesUnknownFlags shows the check above is not vacuous: a misspelt flag and
// an unknown variable fail it.
func TestCheckArgsCatchesUnknownFlags(t *testing.T) {
	c := helpOf(t)["e2e serve"]
	tests := []struct {
		args []string
		env  []string
		bad  bool
	}{
		{[]string{"--addr=:8080", "--cluster", "--api", "http://x"}, []string{"ORBITAL_API", "HOME"}, false},
		{[]string{"--clusters"}, nil, true},
		{[]string{"--junit=x.xml"}, nil, true}, // a gate flag, not serve's
		{nil, []string{"ORBITAL_NOPE"}, true},
	}
	for _, tt := range tests {
		bad := append(badArgs(c, tt.args), badEnv(c, tt.env)...)
		if (len(bad) > 0) != tt.bad {
			t.Errorf("args %q env %q: rejected %q, want rejected = %v", tt.args, tt.env, bad, tt.bad)
		}
	}
}
