package tests_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	stats "github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
)

// TestSuitesPass runs every suite once, concurrently, against a healthy
// pipeline: each passes and each that gets a delivery records its latency as
// orbital_delivery_latency_seconds{case}.
func TestSuitesPass(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.harness()
	metrics := &statstest.Handler{}
	results := runCases(t, h, 30*time.Second, stats.NewEngine("orbital", metrics),
		"track", "batch", "analytics-go", "kafka", "browser", "dedupe", "reject")

	chrome := chromeOnPath()
	for _, tc := range []struct {
		name      string
		delivered bool // records delivery.latency
	}{
		{"track", true},
		{"batch", true},
		{"analytics-go", true},
		{"kafka", true},
		{"browser", true},
		{"dedupe", true},
		{"reject", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := results[tc.name]
			if tc.name == "browser" && !chrome && !h.RequireChrome {
				// No Chrome here and not required: the suite must say so
				// and skip, not fail.
				if r.Outcome != orbital.Skip || !strings.Contains(r.Output, "no Chrome binary") {
					t.Fatalf("browser without Chrome: got %s, want a skip naming the missing binary", describe(r))
				}
				t.Skip("no Chromium on PATH: the browser suite skipped as it should (CI sets ORBITAL_REQUIRE_CHROME=1)")
			}
			if r.Outcome != orbital.Pass {
				t.Fatalf("got %s, want pass", describe(r))
			}
			lat, ok := r.Measures["delivery.latency"]
			if ok != tc.delivered || (ok && lat <= 0) {
				t.Errorf("Measures = %v, want delivery.latency recorded: %v", r.Measures, tc.delivered)
			}
			if tc.delivered && !observed(metrics, "orbital.delivery.latency_seconds", tc.name) {
				t.Errorf("no orbital.delivery.latency_seconds{case=%s} observed", tc.name)
			}
		})
	}
}

func chromeOnPath() bool {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if _, err := exec.LookPath(n); err == nil {
			return true
		}
	}
	return false
}

// observed reports whether a histogram measure named name was observed
// with the tag case=caseName.
func observed(h *statstest.Handler, name, caseName string) bool {
	for _, m := range h.Measures() {
		for _, f := range m.Fields {
			if m.Name+"."+f.Name != name || f.Type() != stats.Histogram {
				continue
			}
			for _, tag := range m.Tags {
				if tag.Name == "case" && tag.Value == caseName {
					return true
				}
			}
		}
	}
	return false
}

// TestFaultsAreCaught injects each fault of the example pipeline and checks
// that the suites fail, naming the messageId and what was wrong.
func TestFaultsAreCaught(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.harness()
	for _, tc := range []struct {
		faults, suite string
		timeout       time.Duration
		want          []string // in Result.Error; "" in wants a pass
	}{
		{faults: "", suite: "track", want: nil},
		{faults: "", suite: "dedupe", want: nil},
		{faults: "drop=1", suite: "track", timeout: 2 * time.Second, want: []string{"not delivered within"}},
		{faults: "drop=1", suite: "batch", timeout: 2 * time.Second, want: []string{"20 of 20 batch events not delivered within"}},
		{faults: "drop=1", suite: "analytics-go", timeout: 5 * time.Second, want: []string{"8 of 8 analytics-go events not delivered within"}},
		{faults: "drop=1", suite: "kafka", timeout: 2 * time.Second, want: []string{"not delivered within"}},
		{faults: "dup=1", suite: "track", want: []string{"delivered twice"}},
		{faults: "dup=1", suite: "dedupe", want: []string{"delivered twice"}},
		{faults: "dup=1", suite: "batch", want: []string{"delivered twice"}},
		{faults: "corrupt=1", suite: "track", want: []string{`field event differs: got "orbital track (corrupted)" want "orbital track"`}},
		{faults: "corrupt=1", suite: "kafka", want: []string{`field event differs: got "orbital kafka (corrupted)" want "orbital kafka"`}},
		{faults: "dest5xx=1", suite: "track", timeout: 2 * time.Second, want: []string{"not delivered within"}},
		{faults: "delay=3s", suite: "track", timeout: time.Second, want: []string{"not delivered within"}},
	} {
		name := tc.suite + "/" + tc.faults
		if tc.faults == "" {
			name = tc.suite + "/none"
		}
		t.Run(name, func(t *testing.T) {
			s.setFaults(t, tc.faults)
			t.Cleanup(func() { s.setFaults(t, "") })
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			r := runCases(t, h, timeout, nil, tc.suite)[tc.suite]
			if tc.want == nil {
				if r.Outcome != orbital.Pass {
					t.Fatalf("without faults: got %s, want pass", describe(r))
				}
				return
			}
			if r.Outcome != orbital.Fail {
				t.Fatalf("with %s: got %s, want fail", tc.faults, describe(r))
			}
			// A lost event is the pipeline's failure, said as such: the suite gives up waiting
			// before the run's own deadline, so the run is no timeout.
			if r.TimedOut {
				t.Errorf("with %s: the run timed out (%s); want a failure that says what was not delivered", tc.faults, r.Error)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Error, w) {
					t.Errorf("Error = %q, want it to contain %q", r.Error, w)
				}
			}
			if !strings.Contains(r.Error, r.TraceID) {
				t.Errorf("Error = %q, want it to name the messageId (trace id %s)", r.Error, r.TraceID)
			}
			if !strings.Contains(r.Output, "failed run: messageIds "+r.TraceID) {
				t.Errorf("Output does not log the messageIds of the failed run:\n%s", r.Output)
			}
		})
	}
}

// TestCorruptNamesEveryField checks the full list of differences a
// corrupted delivery produces, and that a wrong secret fails the signature.
func TestDeliveryChecks(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, tc := range []struct {
		name    string
		faults  string
		harness func(*tests.Harness)
		want    []string // lines of Output
	}{
		{
			name:   "corrupt",
			faults: "corrupt=1",
			want: []string{
				`field event differs: got "orbital track (corrupted)" want "orbital track"`,
				`field properties.corrupted unexpected: got true`,
			},
		},
		{
			name:    "wrong secret",
			harness: func(h *tests.Harness) { h.WebhookSecret = []byte("not-the-pipeline-secret") },
			want:    []string{"webhook-signature is not a valid signature of the delivered body"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.setFaults(t, tc.faults)
			t.Cleanup(func() { s.setFaults(t, "") })
			h := s.harness()
			if tc.harness != nil {
				tc.harness(h)
			}
			r := runCases(t, h, 20*time.Second, nil, "track")["track"]
			if r.Outcome != orbital.Fail {
				t.Fatalf("got %s, want fail", describe(r))
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Output, w) {
					t.Errorf("Output lacks %q:\n%s", w, r.Output)
				}
			}
		})
	}
}

// TestBrowserWithoutChrome checks that a missing browser binary skips the
// browser suite with the reason, or fails it when Chrome is required.
func TestBrowserWithoutChrome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		require bool
		want    orbital.Outcome
	}{
		{"optional", false, orbital.Skip},
		{"required", true, orbital.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &tests.Harness{
				APIURL:        "http://127.0.0.1:1",
				WriteKey:      writeKey,
				Waiter:        webhook.NewRouteLogger(webhook.JSONField("messageId")),
				ChromePath:    "/nonexistent/chromium",
				RequireChrome: tc.require,
				Logger:        quiet(),
			}
			r := runCases(t, h, 10*time.Second, nil, "browser")["browser"]
			if r.Outcome != tc.want {
				t.Fatalf("got %s, want %s", describe(r), tc.want)
			}
			if !strings.Contains(r.Output, `ChromePath: no Chrome binary at "/nonexistent/chromium"`) {
				t.Errorf("Output does not give the reason:\n%s", r.Output)
			}
			if tc.require && !strings.Contains(r.Error, "RequireChrome") {
				t.Errorf("Error = %q, want it to say RequireChrome made it a failure", r.Error)
			}
		})
	}
}

// TestCases checks the case list and defaults Register installs.
func TestCases(t *testing.T) {
	t.Parallel()
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	for _, tc := range []struct {
		name string
		h    tests.Harness
		want map[string]time.Duration
	}{
		{
			name: "without brokers",
			h:    tests.Harness{APIURL: "http://api.test", Waiter: rl},
			want: map[string]time.Duration{
				"track": 30 * time.Second, "batch": time.Minute, "analytics-go": time.Minute, "browser": 2 * time.Minute,
				"dedupe": time.Minute, "reject": time.Minute,
			},
		},
		{
			name: "with brokers",
			h:    tests.Harness{APIURL: "http://api.test", Waiter: rl, Brokers: []string{"127.0.0.1:9092"}},
			want: map[string]time.Duration{
				"track": 30 * time.Second, "batch": time.Minute, "analytics-go": time.Minute, "kafka": 30 * time.Second,
				"browser": 2 * time.Minute, "dedupe": time.Minute, "reject": time.Minute,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := orbital.New(orbital.WithLogger(quiet()))
			if err := tests.Register(svc, &tc.h); err != nil {
				t.Fatalf("Register: %v", err)
			}
			got := map[string]time.Duration{}
			for _, c := range svc.Cases() {
				got[c.Name] = c.Period
				if c.Timeout != 0 {
					t.Errorf("case %s: Timeout = %v, want 0 (the service default)", c.Name, c.Timeout)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("cases = %v, want %v", got, tc.want)
			}
			for name, p := range tc.want {
				if got[name] != p {
					t.Errorf("case %s: period %v, want %v", name, got[name], p)
				}
			}
		})
	}
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	for _, tc := range []struct {
		name    string
		h       *tests.Harness
		twice   bool
		wantErr error
	}{
		{"nil harness", nil, false, tests.ErrHarness},
		{"no API URL", &tests.Harness{Waiter: rl}, false, tests.ErrHarness},
		{"API URL without scheme", &tests.Harness{APIURL: "api.test", Waiter: rl}, false, tests.ErrHarness},
		{"no waiter", &tests.Harness{APIURL: "http://api.test"}, false, tests.ErrHarness},
		{"registered twice", &tests.Harness{APIURL: "http://api.test", Waiter: rl}, true, orbital.ErrInvalidCase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := orbital.New(orbital.WithLogger(quiet()))
			err := tests.Register(svc, tc.h)
			if tc.twice {
				if err != nil {
					t.Fatalf("first Register: %v", err)
				}
				err = tests.Register(svc, tc.h)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Register: %v, want an error wrapping %v", err, tc.wantErr)
			}
		})
	}
}

// The kafka suite waits for its event on the pipeline's output topic too (a Kafka return path,
// kafkasource): a pipeline that does not feed the topic fails the run.
func TestKafkaSuiteWaitsOnTheOutputTopic(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	h := s.harness()
	if r := runCases(t, h, 20*time.Second, nil, "kafka")["kafka"]; r.Outcome != orbital.Pass {
		t.Fatalf("with the output topic fed: %s", describe(r))
	}
	h.OutputTopic = "events-nobody-writes"
	r := runCases(t, h, 3*time.Second, nil, "kafka")["kafka"]
	if r.Outcome != orbital.Fail || !strings.Contains(r.Error, "events-nobody-writes") {
		t.Fatalf("with an output topic nobody writes: %s, want a failure naming the topic", describe(r))
	}
}
