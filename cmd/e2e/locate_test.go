package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGateLocatesFaults runs `e2e gate` on the embedded default (where the tap is on by
// default) with each fault of the example pipeline and checks that the failure says where
// the event stopped: in the console output, the JUnit failure message and the JSON report's
// final event; and that the run's trail is in its output.
func TestGateLocatesFaults(t *testing.T) {
	for _, tt := range []struct {
		name, faults string
		extra        []string
		timeout      time.Duration
		where        []string // in the failure message
		trail        string   // in the trail line of the run's output
	}{
		{name: "lose", faults: "lose=1", timeout: 4 * time.Second,
			where: []string{"the API answered 200", "but the event never reached Kafka (not seen in events, events-dead-letter, events-processed)"},
			trail: "api 200 in "},
		{name: "drop", faults: "drop=1", timeout: 4 * time.Second,
			where: []string{"accepted by the API (200 in ", "written to events[", "never delivered and not dead-lettered"},
			trail: "kafka events["},
		// The embedded pipeline tries 10 times, backing off 0.1s to 1s: 6.5s before it gives up.
		{name: "dest5xx", faults: "dest5xx=1", timeout: 15 * time.Second,
			where: []string{"written to events[", "never delivered: dead-lettered after 10 attempts (destination answered 503)", "(in events-dead-letter["},
			trail: "dead_letter events-dead-letter["},
		{name: "drop without a tap", faults: "drop=1", extra: []string{"--tap-topics", "none"}, timeout: 4 * time.Second,
			where: []string{"accepted by the API (200 in ", "never delivered; where it stopped is unknown (no Kafka tap: tap the pipeline's topics to locate it)"},
			trail: "api 200 in "},
		{name: "corrupt", faults: "corrupt=1", timeout: 6 * time.Second,
			where: []string{"delivered (attempt 1), but field event differs"},
			trail: "delivery attempt 1 +"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runLocateGate(t, tt.timeout, append([]string{"--faults", tt.faults}, tt.extra...)...)
			if r.code != exitFail {
				t.Fatalf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitFail, r.stdout, r.stderr)
			}
			evs := r.final["track"]
			if len(evs) != 1 || evs[0].Action != "fail" {
				t.Fatalf("json final events of track: %+v, want one fail", evs)
			}
			var junitMsg string
			for _, tc := range r.junit.Suites[0].Testcases {
				if tc.Name == "track" && tc.Failure != nil {
					junitMsg = tc.Failure.Message
				}
			}
			for _, w := range tt.where {
				if !strings.Contains(evs[0].Error, w) {
					t.Errorf("json final event Error = %q, want it to say %q", evs[0].Error, w)
				}
				if !strings.Contains(junitMsg, w) {
					t.Errorf("junit failure message = %q, want it to say %q", junitMsg, w)
				}
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not say %q:\n%s", w, r.stdout)
				}
			}
			trail := lineWith(r.stdout, "trail messageId "+evs[0].TraceID+":")
			if !strings.Contains(trail, tt.trail) {
				t.Errorf("trail line %q, want it to hold %q\nstdout:\n%s", trail, tt.trail, r.stdout)
			}
			var inJSON bool
			for _, ev := range r.events {
				if ev.Output != nil && ev.Test == "track" && strings.Contains(*ev.Output, "trail messageId") {
					inJSON = true
				}
			}
			if !inJSON {
				t.Errorf("the JSON report has no output event with the trail")
			}
		})
	}
}

// runLocateGate is runGateForTest for the track case alone.
func runLocateGate(t *testing.T, timeout time.Duration, extra ...string) gateReport {
	t.Helper()
	return runGateForTest(t, timeout, append([]string{"--run", "^track$"}, extra...)...)
}

// lineWith is the first line of s holding sub, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestGateLocatesFaultsOfARealPipeline runs `e2e gate` against the example pipeline as a
// separate process (as a real pipeline is), on a Kafka-protocol broker in a third process
// (`e2e broker`), with --api, --kafka-brokers and --tap-topics, and checks that each fault
// injected into that pipeline (PUT /admin/faults) is located from what the tap saw.
func TestGateLocatesFaultsOfARealPipeline(t *testing.T) {
	e2eBin, pipeBin := buildBinaries(t)
	brokerAddr, pipeAddr, hookAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	newProc(t, "broker", e2eBin, "broker", "--addr", brokerAddr, "--log-format", "json")
	const writeKey, secret, token = "wk-locate", "secret-locate", "admin-locate"
	newProc(t, "pipeline", pipeBin, "--addr", pipeAddr, "--kafka-brokers", brokerAddr, "--write-key", writeKey,
		"--destination", "http://"+hookAddr+"/webhook", "--destination-secret", secret, "--admin-token", token,
		"--backoff-min", "10ms", "--backoff-max", "50ms", "--max-attempts", "3")
	waitHTTP(t, "http://"+pipeAddr+"/readyz", 30*time.Second)
	for _, tt := range []struct {
		faults string
		topics string
		where  []string
	}{
		// A tap that cannot start (a topic that does not exist) does not stop the gate: the
		// failure says where it stopped is unknown, and why.
		{"drop=1", "events,events-typo", []string{"accepted by the API (200 in ",
			"never delivered; where it stopped is unknown (the Kafka tap had not caught up with events, events-typo: kafkatap: not started"}},
		{"lose=1", "", []string{"the API answered 200", "never reached Kafka (not seen in events, events-dead-letter)"}},
		{"drop=1", "", []string{"accepted by the API (200 in ", "written to events[", "not dead-lettered (lost between Kafka and the webhook"}},
		{"dest5xx=1", "", []string{"written to events[", "dead-lettered after 3 attempts (destination answered 503) (in events-dead-letter["}},
	} {
		topics := tt.topics
		if topics == "" {
			topics = "events,events-dead-letter"
		}
		t.Run(tt.faults+"/"+topics, func(t *testing.T) {
			setPipelineFaults(t, "http://"+pipeAddr, token, tt.faults)
			r := runLocateGate(t, 4*time.Second, "--api", "http://"+pipeAddr, "--write-key", writeKey,
				"--webhook-secret", secret, "--addr", hookAddr, "--webhook-url", "http://"+hookAddr+"/webhook",
				"--kafka-brokers", brokerAddr, "--tap-topics", topics)
			if r.code != exitFail {
				t.Fatalf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, exitFail, r.stdout, r.stderr)
			}
			evs := r.final["track"]
			if len(evs) != 1 {
				t.Fatalf("json final events of track: %+v, want one", evs)
			}
			for _, w := range tt.where {
				if !strings.Contains(evs[0].Error, w) {
					t.Errorf("json final event Error = %q, want it to say %q", evs[0].Error, w)
				}
			}
		})
	}
}

// setPipelineFaults replaces the faults of the example pipeline at base.
func setPipelineFaults(t *testing.T, base, token, spec string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/admin/faults", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT /admin/faults: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT /admin/faults %q: %s", spec, res.Status)
	}
}
