package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/tests"
)

// TestGateRealClients (orbital#18): e2e gate on the embedded default passes the suites that
// send through Segment's own clients — analytics-go, and the real analytics.js in Chromium,
// served by e2e itself — and --faults drop=1 fails them with the usual reason.
func TestGateRealClients(t *testing.T) {
	t.Parallel()
	lib, err := tests.FindAnalyticsJS("")
	if err != nil && os.Getenv("ORBITAL_REQUIRE_CLIENTS") == "1" {
		t.Fatalf("ORBITAL_REQUIRE_CLIENTS=1: %v", err)
	}
	args := []string{"gate", "--run", "^(analytics-go|browser)$", "--log-level", "warn"}
	if os.Getenv("ORBITAL_REQUIRE_CHROME") == "1" {
		args = append(args, "--require-chrome")
	}
	for _, tc := range []struct {
		name   string
		extra  []string
		code   int
		wants  []string
		last   string
		reject string
	}{
		{
			name: "healthy", extra: []string{"--timeout", "60s"}, code: exitOK,
			wants: []string{"--- PASS: analytics-go", "sending through github.com/segmentio/analytics-go/v3 " + tests.AnalyticsGoVersion},
		},
		{
			name: "drop=1", extra: []string{"--timeout", "25s", "--faults", "drop=1"}, code: exitFail,
			wants: []string{"--- FAIL: analytics-go", "8 of 8 analytics-go events not delivered within"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runE2E(t, 2*time.Minute, append(append([]string(nil), args...), tc.extra...)...)
			wants := tc.wants
			if err == nil {
				browser := []string{"sending through analytics.js " + lib.Version + " (npm " + tests.AnalyticsJSPackage + " " + lib.Version + ", served from http://127.0.0.1:"}
				if tc.code == exitOK {
					browser = append(browser, "--- PASS: browser")
				} else {
					browser = append(browser, "--- FAIL: browser", "3 of 3 analytics.js "+lib.Version+" events not delivered within")
				}
				wants = append(wants, browser...)
			}
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range wants {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}
