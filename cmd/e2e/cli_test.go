package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badConfig, []byte(`{"cases": {"track": {"period": "soon"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dupConfig := filepath.Join(dir, "dup.json")
	if err := os.WriteFile(dupConfig, []byte(`{"cases": {"track": {"period": "5s"}, "track": {"period": "6s"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown flag", []string{"gate", "--no-such-flag"}, "no-such-flag"},
		{"bad regexp", []string{"gate", "--run", "(track"}, "invalid --run regexp"},
		{"bad fault spec", []string{"gate", "--faults", "drop=2"}, "invalid --faults"},
		{"unknown fault", []string{"gate", "--faults", "explode=1"}, "invalid --faults"},
		{"unknown signature scheme", []string{"gate", "--signature-scheme", "v0"}, "invalid --signature-scheme"}, // issue 14
		{"bad count", []string{"gate", "--count", "0"}, "--count"},
		{"bad timeout", []string{"gate", "--timeout", "-1s"}, "--timeout"},
		{"json twice", []string{"gate", "--json", "--json-file", filepath.Join(dir, "x.json")}, "--json"},
		{"unknown case override", []string{"gate", "--case-period", "trak=1s"}, `unknown case "trak"`},
		{"bad case period", []string{"list", "--case-period", "track"}, "name=duration"},
		{"bad config file", []string{"list", "--config", badConfig}, "not a duration"},
		{"missing config file", []string{"list", "--config", filepath.Join(dir, "none.json")}, "config file"},
		{"nothing selected", []string{"gate", "--run", "^nothing$"}, "no case selected"},
		{"bad log level", []string{"serve", "--log-level", "loud"}, "log level"},
		{"bad log format", []string{"serve", "--log-format", "xml"}, "log format"},
		{"api without write key", []string{"gate", "--api", "http://127.0.0.1:1"}, "--write-key"},
		{"faults with api", []string{"gate", "--api", "http://127.0.0.1:1", "--write-key", "k", "--faults", "drop=1"}, "embedded"},
		{"bad addr", []string{"serve", "--addr", "nohostport"}, "--addr"},
		{"bad cdn url", []string{"gate", "--cdn-url", "ftp://cdn.example"}, "invalid --cdn-url"},
		{"bad statsd", []string{"serve", "--statsd", "no-port"}, "--statsd"},
		{"unknown command", []string{"launch"}, "unknown command"},
		// Refused at start, in every command (issue: hardening).
		{"period below the floor", []string{"serve", "--case-period", "track=1ns"}, "below the floor of 100ms"},
		{"period below the floor (gate)", []string{"gate", "--case-period", "track=1ms"}, "below the floor"},
		{"period below the floor (list)", []string{"list", "--case-period", "track=1ns"}, "below the floor"},
		{"duplicate case period", []string{"list", "--case-period", "track=5s,track=6s"}, "track given twice"},
		{"duplicate case period flags", []string{"serve", "--case-period", "track=5s", "--case-period", "track=6s"}, "track given twice"},
		{"duplicate case in the config file", []string{"list", "--config", dupConfig}, `key "track" given twice`},
		{"enabled and disabled", []string{"list", "--enable", "track", "--disable", "track"}, "both enabled and disabled"},
		{"api with a query", []string{"list", "--api", "http://127.0.0.1:1/?api_key=SECRETQ", "--write-key", "k"}, "a query is not allowed"},
		{"api with a fragment", []string{"gate", "--api", "http://127.0.0.1:1/#frag", "--write-key", "k"}, "fragment"},
		{"api with user info", []string{"serve", "--api", "http://u:SECRETP@127.0.0.1:1", "--write-key", "k"}, "user info is not allowed"},
		{"api with a bad port", []string{"load", "--api", "http://u:SECRETP@host:notaport", "--write-key", "k"}, "invalid --api"},
		{"api not http", []string{"list", "--api", "ftp://host/", "--write-key", "k"}, "http"},
		{"stray argument", []string{"gate", "track"}, "unexpected argument"},
		// issue 17: the tap and trace links.
		{"tap without brokers", []string{"gate", "--api", "http://127.0.0.1:1", "--write-key", "k", "--tap-topics", "events"}, "--tap-topics needs --kafka-brokers"},
		{"tap topic twice", []string{"list", "--tap-topics", "events,events"}, "invalid --tap-topics"},
		{"tap topic empty", []string{"list", "--tap-topics", "events,,dlq"}, "invalid --tap-topics"},
		{"tap topic not a topic name", []string{"gate", "--tap-topics", "events,dead letters"}, `"dead letters" is given twice or is not a Kafka topic name`},
		{"trace url not http", []string{"gate", "--trace-url", "javascript:alert(1)//{trace_id}"}, "invalid --trace-url"},
		{"trace url without the id", []string{"serve", "--trace-url", "https://tracing.example/"}, "has no {trace_id}"},
		{"trace url with user info", []string{"list", "--trace-url", "https://u:SECRETP@tracing.example/{trace_id}"}, "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runE2E(t, 30*time.Second, tt.args...)
			if r.code != exitUsage {
				t.Fatalf("exit code = %d, want 2\nstderr:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr does not mention %q:\n%s", tt.wantErr, r.stderr)
			}
			if !strings.Contains(r.stderr, "--help") {
				t.Errorf("stderr does not point at --help:\n%s", r.stderr)
			}
			for _, secret := range []string{"SECRETQ", "SECRETP"} {
				if strings.Contains(r.stderr+r.stdout, secret) {
					t.Errorf("a URL credential reached the output:\n%s", r.stderr)
				}
			}
		})
	}
}

func TestHelpDocumentsEveryFlagAndExits0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := runE2E(t, 10*time.Second, args...)
		if r.code != exitOK {
			t.Fatalf("e2e %v: exit code %d, want 0; stderr:\n%s", args, r.code, r.stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "e2e "+c.name) {
				t.Errorf("e2e %v: help does not mention command %s", args, c.name)
			}
		}
	}
	for _, c := range commands() {
		r := runE2E(t, 10*time.Second, c.name, "--help")
		if r.code != exitOK {
			t.Fatalf("e2e %s --help: exit code %d, want 0", c.name, r.code)
		}
		o := &options{}
		fs := newFlagSetForTest(c, o)
		for _, name := range fs {
			env := "ORBITAL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			if !strings.Contains(r.stdout, "--"+name) || !strings.Contains(r.stdout, "$"+env) {
				t.Errorf("e2e %s --help does not document --%s and $%s:\n%s", c.name, name, env, r.stdout)
			}
		}
	}
}

func TestHelpNeverShowsSecretsFromEnvironment(t *testing.T) {
	t.Setenv("ORBITAL_WRITE_KEY", "wk-very-secret")
	t.Setenv("ORBITAL_WEBHOOK_SECRET", "whs-very-secret")
	t.Setenv("ORBITAL_ADMIN_TOKEN", "adm-very-secret")
	r := runE2E(t, 10*time.Second, "serve", "--help")
	if strings.Contains(r.stdout+r.stderr, "very-secret") {
		t.Fatalf("help printed a secret:\n%s", r.stdout)
	}
}

func TestListShowsOverridesFromFlagsEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(jsonFile, []byte(`{"cases": {"track": {"period": "45s", "timeout": "20s"}, "reject": {"enabled": false}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	yamlFile := filepath.Join(dir, "cases.yaml")
	if err := os.WriteFile(yamlFile, []byte("cases:\n  batch:\n    period: 5m\n  kafka:\n    enabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		want   []string // regexps, each must match a line
		absent []string // case names that must not be listed
	}{
		{
			name: "defaults",
			args: []string{"list"},
			want: []string{`^track\s+30s\s+2m0s$`, `^batch\s+1m0s\s+2m0s$`, `^kafka\s+30s`, `^browser\s+2m0s`, `^dedupe\s+1m0s`, `^reject\s+1m0s`},
		},
		{
			name:   "flags",
			args:   []string{"list", "--case-period", "track=10s", "--case-period", "batch=2m", "--case-timeout", "dedupe=15s", "--disable", "browser,kafka", "--timeout", "1m"},
			want:   []string{`^track\s+10s\s+1m0s$`, `^batch\s+2m0s\s+1m0s$`, `^dedupe\s+1m0s\s+15s$`},
			absent: []string{"browser", "kafka"},
		},
		{
			name:   "environment",
			env:    map[string]string{"ORBITAL_CASE_PERIOD": "track=7s,batch=8s", "ORBITAL_DISABLE": "browser", "ORBITAL_TIMEOUT": "90s"},
			args:   []string{"list"},
			want:   []string{`^track\s+7s\s+1m30s$`, `^batch\s+8s\s+1m30s$`},
			absent: []string{"browser"},
		},
		{
			name: "flag wins over environment",
			env:  map[string]string{"ORBITAL_CASE_PERIOD": "track=7s"},
			args: []string{"list", "--case-period", "track=9s"},
			want: []string{`^track\s+9s\s`},
		},
		{
			name:   "json file, flag wins over file",
			args:   []string{"list", "--config", jsonFile, "--case-timeout", "track=25s"},
			want:   []string{`^track\s+45s\s+25s$`},
			absent: []string{"reject"},
		},
		{
			name:   "yaml file, enable wins over file",
			args:   []string{"list", "--config", yamlFile, "--enable", "kafka"},
			want:   []string{`^batch\s+5m0s\s`, `^kafka\s+30s`},
			absent: []string{},
		},
		{
			name:   "run selects",
			args:   []string{"list", "--run", "^(track|batch)$"},
			want:   []string{`^track\s`, `^batch\s`},
			absent: []string{"kafka", "dedupe", "reject", "browser"},
		},
		{
			name:   "external pipeline without brokers has no kafka case",
			args:   []string{"list", "--api", "http://pipeline:8081", "--write-key", "k"},
			want:   []string{`^track\s`},
			absent: []string{"kafka"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := runE2E(t, 10*time.Second, tt.args...)
			if r.code != exitOK {
				t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if !regexp.MustCompile(`^CASE\s+PERIOD\s+TIMEOUT$`).MatchString(lines[0]) {
				t.Errorf("header = %q", lines[0])
			}
			for _, w := range tt.want {
				re := regexp.MustCompile(w)
				found := false
				for _, l := range lines {
					found = found || re.MatchString(l)
				}
				if !found {
					t.Errorf("no line matches %s in:\n%s", w, r.stdout)
				}
			}
			for _, a := range tt.absent {
				for _, l := range lines[1:] {
					if strings.Fields(l)[0] == a {
						t.Errorf("case %s listed, want it left out:\n%s", a, r.stdout)
					}
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runE2E(t, 10*time.Second, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "e2e ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("version: code %d, stdout %q", r.code, r.stdout)
	}
}

// newFlagSetForTest returns the names of c's flags.
func newFlagSetForTest(c *command, o *options) []string {
	var names []string
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs, o)
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}
