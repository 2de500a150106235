package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMain lets the test binary be the child processes of TestSmoke.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(childMain(v, os.Stdout))
	}
	os.Exit(m.Run())
}

// TestSmoke runs the benchmark small (100 cases @ 100 ms for 1 s, one round), so the
// command cannot rot: every variant completes runs and the figures are printed.
func TestSmoke(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-cases", "100", "-period", "100ms", "-duration", "1s", "-rounds", "1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	text := out.String()
	t.Log(text)
	for _, v := range variants {
		m := regexp.MustCompile(`round 1 ` + v + ` +runs +(\d+) `).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no figures for %s in:\n%s", v, text)
			continue
		}
		if m[1] == "0" || len(m[1]) < 3 { // 100 cases at 10/s for 1 s: ~1,000 runs
			t.Errorf("%s completed %s runs, want hundreds", v, m[1])
		}
	}
	for _, want := range []string{"loadavg before: ", "loadavg after: ", "ratio orbital/ticker ", "ratio orbital/original "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// Bad flags exit 2 with a message.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-cases", "0"}, {"-period", "-1s"}, {"-rounds", "x"}, {"-metrics", "statsd"}, {"extra"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("run(%q) = %d, stderr %q; want 2 and a message", args, code, errOut.String())
		}
	}
}
