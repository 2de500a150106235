package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// envName is what the fuzzer may set as an environment variable.
var envName = regexp.MustCompile(`^ORBITAL_[A-Z0-9_]+$`)

// FuzzParseFlags feeds arbitrary command lines and ORBITAL_ environment values to the flag and
// environment parsing of every command: it returns options or an error, never panics, and an
// accepted command line yields options that satisfy the checks validate promises.
func FuzzParseFlags(f *testing.F) {
	for _, seed := range []struct{ cmd, args, env string }{
		{"serve", "--addr 127.0.0.1:0 --run ^track$", ""},
		{"gate", "--faults drop=0.5,delay=200ms --count 3 --timeout 5s", "ORBITAL_RUN=batch"},
		{"load", "--rate 2000 --duration 60s", "ORBITAL_CONCURRENCY=10"},
		{"serve", "--case-period track=10s,batch=1m --disable browser", "ORBITAL_CASE_TIMEOUT=track=5s"},
		{"list", "--api https://u:p@x/?k=v --write-key k", ""},
		{"gate", "--kafka-brokers a:1,b:2 --run (", "ORBITAL_TIMEOUT=-1s"},
		{"serve", "--cluster --cluster-topic x --history 0", "ORBITAL_FAULTS=dup=2"},
	} {
		f.Add(seed.cmd, seed.args, seed.env)
	}
	f.Fuzz(func(t *testing.T, cmdName, argLine, envLine string) {
		cmd := commandByName(cmdName)
		if cmd == nil {
			cmd = commandByName("serve")
		}
		env := map[string]string{}
		for _, kv := range strings.Split(envLine, "\n") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		for k, v := range env {
			if envName.MatchString(k) && !strings.ContainsRune(v, 0) {
				t.Setenv(k, v)
			}
		}
		a := &app{getenv: func(k string) string { return env[k] }}
		o, err := a.parse(cmd, strings.Fields(argLine))
		if err != nil {
			if o != nil && !errors.Is(err, errHelp) {
				t.Fatalf("parse returned options with error %v", err)
			}
			return
		}
		if cmd.name == "version" {
			return
		}
		if o.cfg.Run == nil {
			t.Fatal("accepted options without a compiled --run")
		}
		if o.cfg.Timeout <= 0 {
			t.Fatalf("accepted a non-positive --timeout %v", o.cfg.Timeout)
		}
		if cmd.name == "load" && (o.loadRate <= 0 || o.loadDuration <= 0 || o.loadConcurrency <= 0) {
			t.Fatalf("accepted load options rate %v duration %v concurrency %d", o.loadRate, o.loadDuration, o.loadConcurrency)
		}
	})
}
