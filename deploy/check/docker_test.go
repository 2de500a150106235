package check_test

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd, args string
}

func parseDockerfile(t *testing.T, file string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, file)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued line", file)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	file := filepath.Join(deployDir, "docker", "Dockerfile")
	var stages [][]instruction
	for _, in := range parseDockerfile(t, file) {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s before the first FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]
	if !regexp.MustCompile(`^golang:\S+ AS build$`).MatchString(build[0].args) {
		t.Errorf("first stage %q, want a golang builder named build", build[0].args)
	}
	if !regexp.MustCompile(`^debian:\S+-slim AS runtime$`).MatchString(runtime[0].args) {
		t.Errorf("last stage %q, want a Debian slim runtime", runtime[0].args)
	}
	all := func(stage []instruction, cmd string) string {
		var s []string
		for _, in := range stage {
			if in.cmd == cmd {
				s = append(s, in.args)
			}
		}
		return strings.Join(s, "\n")
	}
	// Both binaries, from packages that exist in the root module.
	builds := all(build, "RUN")
	for _, pkg := range []string{"./cmd/e2e", "./examples/cmd/pipeline"} {
		if !strings.Contains(builds, pkg) {
			t.Errorf("the build stage does not build %s", pkg)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(pkg))); err != nil {
			t.Errorf("build target %s: %v", pkg, err)
		}
	}
	if !strings.Contains(all(runtime, "COPY"), "--from=build /out/e2e /out/pipeline") {
		t.Error("the runtime stage must copy both binaries from the build stage")
	}
	installs := all(runtime, "RUN")
	for _, pkg := range []string{"chromium", "fonts-liberation", "wget", "ca-certificates"} {
		if !regexp.MustCompile(`\s` + regexp.QuoteMeta(pkg) + `\s`).MatchString(installs + " ") {
			t.Errorf("runtime image does not install %s", pkg)
		}
	}
	user := all(runtime, "USER")
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("runtime must run as a non-root user, USER = %q", user)
	}
	if hc := all(runtime, "HEALTHCHECK"); !strings.Contains(hc, "http://127.0.0.1:8080/healthz") || !strings.Contains(hc, "wget") {
		t.Errorf("HEALTHCHECK must fetch /healthz with the installed wget: %q", hc)
	}
	if ep := all(runtime, "ENTRYPOINT"); !strings.Contains(ep, `"e2e"`) {
		t.Errorf("ENTRYPOINT %q must run e2e", ep)
	}
	if !strings.Contains(all(runtime, "EXPOSE"), "8080") {
		t.Error("runtime must EXPOSE 8080")
	}
}

// TestDockerignore checks that the build context keeps the root module's sources and drops
// what the image never needs.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, filepath.Join(repoRoot, ".dockerignore"))), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf("exceptions (%s) are not supported by this check", line)
			}
			patterns = append(patterns, strings.Trim(line, "/"))
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			for _, cand := range prefixes(p) {
				if m, _ := path.Match(pat, cand); m {
					return true
				}
				if rest, ok := strings.CutPrefix(pat, "**/"); ok {
					if m, _ := path.Match(rest, path.Base(cand)); m {
						return true
					}
				}
			}
		}
		return false
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd/e2e/main.go", "examples/cmd/pipeline/main.go", "orbital/service.go", "internal/x/x.go", "webhook/webhook.go", "tests/track.go"} {
		if ignored(keep) {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
	for _, drop := range []string{".git/HEAD", "deploy/go.mod", "orbital/orbital.test", "coverage.out", "e2e"} {
		if !ignored(drop) {
			t.Errorf(".dockerignore keeps %s in the build context", drop)
		}
	}
}

// prefixes returns p and each of its parent directories ("a/b/c" → "a", "a/b", "a/b/c").
func prefixes(p string) []string {
	parts := strings.Split(p, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}
